package main

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"io"
	"io/fs"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// initData makes an install with init and returns its data directory.
func initData(t *testing.T) string {
	t.Helper()
	data := filepath.Join(t.TempDir(), "data")
	var out, errOut bytes.Buffer
	if code := run(context.Background(), []string{"init", "--data", data}, &out, &errOut); code != exitOK {
		t.Fatalf("init: %s", errOut.String())
	}
	return data
}

// serveOnce runs serve until it fails, and returns what it said; it must
// fail before serving.
func serveOnce(t *testing.T, data string) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out, errOut bytes.Buffer
	if code := run(ctx, []string{"serve", "--data", data, "--listen", "127.0.0.1:0", "--metrics", ""}, &out, &errOut); code == exitOK {
		t.Fatalf("serve succeeded:\n%s", errOut.String())
	}
	return errOut.String()
}

// A zero-length farmwatch.db used to be served as an empty fleet, every
// token lost. serve refuses it, and a missing one, naming the file, and
// makes no store of its own.
func TestServeRefusesEmptyStore(t *testing.T) {
	data := initData(t)
	db := filepath.Join(data, dbFile)
	if err := os.Truncate(db, 0); err != nil {
		t.Fatal(err)
	}
	os.Remove(db + "-wal")
	os.Remove(db + "-shm")
	if msg := serveOnce(t, data); !strings.Contains(msg, db) || !strings.Contains(msg, "empty (0 bytes)") {
		t.Fatalf("serve on an empty store said:\n%s", msg)
	}
	if fi, err := os.Stat(db); err != nil || fi.Size() != 0 {
		t.Fatalf("the empty store is now %v, %v", fi.Size(), err)
	}
	if err := os.Remove(db); err != nil {
		t.Fatal(err)
	}
	if msg := serveOnce(t, data); !strings.Contains(msg, db) || !strings.Contains(msg, "only init creates one") {
		t.Fatalf("serve without a store said:\n%s", msg)
	}
	if _, err := os.Stat(db); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("serve made a store: %v", err)
	}
}

// A store damaged in the middle is refused at start: quick_check.
func TestServeRefusesDamagedStore(t *testing.T) {
	data := initData(t)
	db := filepath.Join(data, dbFile)
	f, err := os.OpenFile(db, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	// Page 2 onwards of a new store: the tables' roots.
	if _, err := f.WriteAt(bytes.Repeat([]byte("garbage!"), 1024), 4096); err != nil {
		t.Fatal(err)
	}
	f.Close()
	if msg := serveOnce(t, data); !strings.Contains(msg, db) || !strings.Contains(msg, "damaged") {
		t.Fatalf("serve on a damaged store said:\n%s", msg)
	}
}

// healthz is the status and body of /healthz.
func healthz(t *testing.T, maddr string) (int, string) {
	t.Helper()
	resp, err := http.Get("http://" + maddr + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// Pages overwritten in the middle of the store while serving used to
// leave /healthz "ok" (it listed the hosts, whose pages were whole) while
// every apply failed. Now the applies that meet the damage turn /healthz
// to 503, saying why.
func TestDamagedPagesFailHealthz(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binaries")
	}
	f := newFleet(t)
	maddr := freeAddr(t)
	f.serve("--metrics", maddr)
	// A simulated host whose 150 processes all change at every version:
	// each message is applied against the host's observation pages.
	ch := newChurn(t, f.dir, "churn-host", 150)
	ch.write(t, 1)
	cfg := filepath.Join(f.dir, "agent.yaml")
	os.WriteFile(cfg, []byte("max_cpu_percent: 0\n"), 0o600)
	ag := startProc(t, f.agent, f.agentArgs("a1", "--snapshot", ch.file, "--config", cfg)...)
	db := f.db()
	waitUntil(t, "the agent's first state", 30*time.Second, func() bool {
		var n int
		db.QueryRow(`SELECT count(*) FROM observations`).Scan(&n)
		return n > 150
	}, f.srv, ag)
	if code, body := healthz(t, maddr); code != http.StatusOK {
		t.Fatalf("healthz of a good store: %d %s", code, body)
	}
	damageObservations(t, filepath.Join(f.data, dbFile))
	if _, err := f.cli("hosts"); err != nil {
		t.Fatalf("hosts (what /healthz read) after the damage: %v", err)
	}
	var body string
	v := 2
	waitUntil(t, "healthz failing", 60*time.Second, func() bool {
		var code int
		code, body = healthz(t, maddr)
		if code != http.StatusServiceUnavailable {
			ch.write(t, v) // the next version: changes the agent sends
			v++
		}
		return code == http.StatusServiceUnavailable
	}, f.srv, ag)
	if !strings.Contains(body, "damaged") {
		t.Fatalf("healthz said %q; want the damage", body)
	}
	t.Logf("healthz: %s", body)
}

// damageObservations overwrites every page of the observations table and
// its index in the store at path, as a failing disk or a stray write
// would while it is served, and makes the collector's connections read
// the file afresh: the WAL is checkpointed into the file before and after,
// so that the pages are neither in the WAL nor in the collector's caches.
func damageObservations(t *testing.T, path string) {
	t.Helper()
	other, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	checkpoint := func() {
		t.Helper()
		if _, err := other.Exec(`PRAGMA wal_checkpoint(TRUNCATE)`); err != nil {
			t.Fatal(err)
		}
	}
	checkpoint()
	var pageSize int64
	if err := other.QueryRow(`PRAGMA page_size`).Scan(&pageSize); err != nil {
		t.Fatal(err)
	}
	rows, err := other.Query(`SELECT pageno FROM dbstat WHERE name IN ('observations', 'sqlite_autoindex_observations_1')`)
	if err != nil {
		t.Fatal(err)
	}
	var pages []int64
	for rows.Next() {
		var n int64
		if err := rows.Scan(&n); err != nil {
			t.Fatal(err)
		}
		pages = append(pages, n)
	}
	rows.Close()
	fw, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	junk := bytes.Repeat([]byte("\xde\xad\xbe\xef"), int(pageSize)/4)
	for _, n := range pages {
		if _, err := fw.WriteAt(junk, (n-1)*pageSize); err != nil {
			t.Fatal(err)
		}
	}
	fw.Close()
	checkpoint()
	t.Logf("%d pages of observations overwritten", len(pages))
}

// backup while agents write: the copy opens, passes integrity_check, has
// the hosts and is 0600; it never overwrites.
func TestBackupWhileServing(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binaries")
	}
	f := newFleet(t)
	f.serve("--metrics", "")
	startProc(t, f.agent, f.agentArgs("a1")...)
	startProc(t, f.agent, f.agentArgs("a2", "--snapshot", "../testdata/hosts/linux-pikvm-v4plus.txtar")...)
	db := f.db()
	waitUntil(t, "both agents' states", 30*time.Second, func() bool {
		var n int
		db.QueryRow(`SELECT count(DISTINCT host_id) FROM observations`).Scan(&n)
		return n == 2
	}, f.srv)
	out := filepath.Join(f.dir, "backup.db")
	if b, err := exec.Command(f.collector, "backup", "--data", f.data, out).CombinedOutput(); err != nil {
		t.Fatalf("backup: %v\n%s", err, b)
	}
	if fi, err := os.Stat(out); err != nil || (runtime.GOOS != "windows" && fi.Mode().Perm() != 0o600) {
		t.Fatalf("backup is %v, %v; want 0600", fi.Mode(), err)
	}
	copyDB, err := sql.Open("sqlite", "file:"+out+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer copyDB.Close()
	var check string
	if err := copyDB.QueryRow(`PRAGMA integrity_check`).Scan(&check); err != nil || check != "ok" {
		t.Fatalf("integrity_check of the backup: %q, %v", check, err)
	}
	var hosts, tokens int
	copyDB.QueryRow(`SELECT count(*) FROM hosts`).Scan(&hosts)
	copyDB.QueryRow(`SELECT count(*) FROM tokens WHERE name = 'init'`).Scan(&tokens)
	if hosts != 2 || tokens != 1 {
		t.Fatalf("the backup has %d hosts and %d init tokens; want 2 and 1", hosts, tokens)
	}
	if b, err := exec.Command(f.collector, "backup", "--data", f.data, out).CombinedOutput(); err == nil || !strings.Contains(string(b), "exists") {
		t.Fatalf("a second backup onto the first: %v\n%s", err, b)
	}
}

// A data directory left open to others (an older install, a restore, a
// umask) is made private by serve, which says so; the store's -wal and
// -shm files are private as well while it serves.
func TestServeMakesDataPrivate(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("modes do not govern access on Windows")
	}
	data := initData(t)
	open := map[string]os.FileMode{"": 0o755, dbFile: 0o644, "admin.token": 0o644, "enroll-secret": 0o640}
	for name, mode := range open {
		if err := os.Chmod(filepath.Join(data, name), mode); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	log := &syncBuffer{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		run(ctx, []string{"serve", "--data", data, "--listen", freeAddr(t), "--metrics", ""}, log, log)
	}()
	defer func() { cancel(); <-done }()
	waitUntil(t, "serve running", 10*time.Second, func() bool { return strings.Contains(log.String(), "collector serving") })
	want := map[string]os.FileMode{"": 0o700, dbFile: 0o600, dbFile + "-wal": 0o600, dbFile + "-shm": 0o600,
		"admin.token": 0o600, "enroll-secret": 0o600, "ca.key": 0o600, "server.key": 0o600}
	for name, mode := range want {
		if fi, err := os.Stat(filepath.Join(data, name)); err != nil || fi.Mode().Perm() != mode {
			t.Errorf("%q: %v, %v; want %v", name, fi.Mode().Perm(), err, mode)
		}
	}
	if n := strings.Count(log.String(), "mode fixed"); n != len(open) {
		t.Errorf("%d warnings, want %d:\n%s", n, len(open), log)
	}
}
