package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/farmwatch/farmwatch/internal/pgtest"
	"github.com/jackc/pgx/v5"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// replicaProc is one `serve --store postgres://` of a fleet.
type replicaProc struct {
	addr string
	p    *proc
}

// pgFleet is an install whose store was migrated to a fresh PostgreSQL
// database, served by replicas.
type pgFleet struct {
	*fleet
	dsn string
	db  *pgx.Conn
}

func newPGFleet(t *testing.T) *pgFleet {
	t.Helper()
	f := &pgFleet{fleet: newFleet(t), dsn: pgtest.DSN(t)}
	// The admin token made by init moves with the store.
	if out, err := exec.Command(f.collector, "migrate", "--from", f.data, "--to", f.dsn).CombinedOutput(); err != nil {
		t.Fatalf("migrate: %v\n%s", err, out)
	}
	db, err := pgx.Connect(context.Background(), f.dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close(context.Background()) })
	f.db = db
	return f
}

func (f *pgFleet) replica(addr string, extra ...string) *replicaProc {
	return &replicaProc{addr: addr, p: startProc(f.t, f.collector, append([]string{"serve", "--data", f.data, "--listen", addr, "--metrics", "", "--store", f.dsn}, extra...)...)}
}

func (r *replicaProc) kill() {
	r.p.cmd.Process.Kill()
	r.p.cmd.Wait()
}

// cliAt runs a client command against the replica at addr.
func (f *pgFleet) cliAt(addr string, args ...string) ([]byte, error) {
	cmd := exec.Command(f.collector, append(args, "--collector", addr, "--token-file", filepath.Join(f.data, "admin.token"), "--format", "json")...)
	cmd.Env = f.env
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return out, fmt.Errorf("%v: %s", err, stderr.String())
	}
	return out, nil
}

func (f *pgFleet) lastSeq(hostname string) uint64 {
	var n int64
	f.db.QueryRow(context.Background(), `SELECT last_seq FROM hosts WHERE hostname = $1`, hostname).Scan(&n)
	return uint64(n)
}

// holder is the listen address of the replica that holds hostname's stream.
func (f *pgFleet) holder(hostname string) string {
	var addr string
	f.db.QueryRow(context.Background(), `SELECT r.addr FROM sessions s JOIN replicas r ON r.id = s.replica_id JOIN hosts h ON h.id = s.host_id
WHERE h.hostname = $1`, hostname).Scan(&addr)
	return addr
}

// TestReplicas: two collector replicas on one PostgreSQL, a real agent
// given both addresses. The replica that does not hold the agent's stream
// lists it online and gets a live scan of it (through LISTEN/NOTIFY). The
// replica that holds it is killed (-9) while it ingests the agent's
// backlog; the agent fails over to the other, and the history has every
// change exactly once.
func TestReplicas(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binaries")
	}
	f := newPGFleet(t)
	addrs := map[string]string{"a": freeAddr(t), "b": freeAddr(t)}
	reps := map[string]*replicaProc{"a": f.replica(addrs["a"]), "b": f.replica(addrs["b"])}
	other := func(addr string) string {
		if addr == addrs["a"] {
			return addrs["b"]
		}
		return addrs["a"]
	}
	byAddr := func(addr string) *replicaProc {
		for _, r := range reps {
			if r.addr == addr {
				return r
			}
		}
		t.Fatalf("no replica at %q", addr)
		return nil
	}
	logs := func() []*proc { return []*proc{reps["a"].p, reps["b"].p} }

	state := filepath.Join(f.dir, "agent")
	ch := newChurn(t, f.dir, "churn-host", 150)
	ch.write(t, 1)
	cfg := filepath.Join(f.dir, "agent.yaml")
	if err := os.WriteFile(cfg, []byte("max_cpu_percent: 0\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	agentArgs := []string{"run", "--collector", addrs["a"] + "," + addrs["b"], "--ca", filepath.Join(f.data, "ca.crt"),
		"--enroll-secret-file", filepath.Join(f.data, "enroll-secret"), "--state", state, "--interval", "1s", "--snapshot", ch.file, "--config", cfg}
	ag := startProc(t, f.agent, agentArgs...)
	caughtUp := func() bool {
		s := agentSeq(t, state)
		return s > 0 && f.lastSeq("churn-host") == s
	}
	waitUntil(t, "the first state", 30*time.Second, caughtUp, append(logs(), ag)...)
	var held string
	waitUntil(t, "a replica holding the stream", 10*time.Second, func() bool { held = f.holder("churn-host"); return held != "" }, append(logs(), ag)...)
	t.Logf("the agent is on %s", held)

	// The other replica lists it online, and scans it live.
	type hostRow struct {
		Hostname string `json:"hostname"`
		Online   bool   `json:"online"`
	}
	waitUntil(t, "the host online at the other replica", 10*time.Second, func() bool {
		out, err := f.cliAt(other(held), "hosts")
		var hs []hostRow
		return err == nil && json.Unmarshal(out, &hs) == nil && len(hs) == 1 && hs[0].Online
	}, logs()...)
	start := time.Now()
	out, err := f.cliAt(other(held), "scan", "churn-host")
	if err != nil || !strings.Contains(string(out), ch.name(1, 0)) {
		t.Fatalf("scan through the other replica: %v\n%s", err, out)
	}
	t.Logf("live scan asked of the other replica: %s", time.Since(start))

	hold := func(v int) { // each version lives until the agent has queued it
		before := agentSeq(t, state)
		ch.write(t, v)
		waitUntil(t, fmt.Sprintf("version %d queued", v), 30*time.Second, func() bool { return agentSeq(t, state) > before }, ag)
		time.Sleep(time.Second)
	}
	hold(2)
	waitUntil(t, "version 2 applied", 30*time.Second, caughtUp, append(logs(), ag)...)

	// Both replicas go; the agent spools versions 3 to 8.
	reps["a"].kill()
	reps["b"].kill()
	for v := 3; v <= 8; v++ {
		hold(v)
	}
	backlogFrom, backlogTo := f.lastSeq("churn-host"), agentSeq(t, state)
	if backlogTo-backlogFrom < 5 {
		t.Fatalf("backlog of %d messages (%d..%d); want one per version", backlogTo-backlogFrom, backlogFrom, backlogTo)
	}
	// The replica that held it comes back alone, and is killed as soon as
	// it has applied part of the backlog.
	first := f.replica(held)
	*byAddr(held) = *first
	waitUntil(t, "ingest of the backlog", 60*time.Second, func() bool { return f.lastSeq("churn-host") > backlogFrom }, first.p, ag)
	first.kill()
	at := f.lastSeq("churn-host")
	if at < backlogTo {
		t.Logf("replica %s killed mid-backlog at #%d of %d..%d", held, at, backlogFrom, backlogTo)
	} else {
		t.Logf("the kill came after the whole backlog was applied (no mid-backlog kill this run)")
	}
	// The agent fails over to the other replica, which applies the rest.
	second := f.replica(other(held))
	*byAddr(other(held)) = *second
	waitUntil(t, "the backlog applied by the other replica", 60*time.Second, caughtUp, second.p, ag)
	if h := f.holder("churn-host"); h != other(held) {
		t.Fatalf("the stream is held by %q, want %q", h, other(held))
	}
	// The first comes back; more changes, with both up.
	*byAddr(held) = *f.replica(held)
	for v := 9; v <= 10; v++ {
		hold(v)
	}
	waitUntil(t, "the last version", 30*time.Second, caughtUp, append(logs(), ag)...)

	out, err = f.cliAt(held, "history", "churn-host", "--kind", "process", "--limit", "100000")
	if err != nil {
		t.Fatal(err)
	}
	var cs []change
	if err := json.Unmarshal(out, &cs); err != nil {
		t.Fatal(err)
	}
	count := map[string]int{}
	keys := map[string]string{}
	for _, c := range cs {
		count[c.Op+" "+c.Key]++
		if name, _, ok := strings.Cut(strings.TrimPrefix(c.What, "process "), " (pid"); ok {
			keys[name] = c.Key
		}
	}
	for v := 1; v <= 10; v++ {
		for i := 0; i < ch.k; i++ {
			k := keys[ch.name(v, i)]
			if k == "" {
				t.Fatalf("version %d process %d never arrived", v, i)
			}
			if n := count["added "+k]; n != 1 {
				t.Errorf("%s added %d times", k, n)
			}
			want := 1
			if v == 10 {
				want = 0
			}
			if n := count["removed "+k]; n != want {
				t.Errorf("%s removed %d times, want %d", k, n, want)
			}
		}
	}
	for k, n := range count {
		if n != 1 {
			t.Errorf("%s: %d times", k, n)
		}
	}
}

// TestMigrate: a fleet served from SQLite is moved to PostgreSQL; served
// from there, it answers every fleet command as it did (hosts, findings,
// history, tokens); a second migrate into the filled database is refused.
func TestMigrate(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binaries")
	}
	f := newFleet(t)
	f.serve("--metrics", "")
	state := filepath.Join(f.dir, "agent")
	ch := newChurn(t, f.dir, "churn-host", 20)
	ch.write(t, 1)
	ag := startProc(t, f.agent, f.agentArgs("agent", "--snapshot", ch.file)...)
	pikvm := startProc(t, f.agent, f.agentArgs("pikvm", "--snapshot", "../testdata/hosts/linux-pikvm-v4plus.txtar")...)
	caughtUp := func() bool {
		out, err := f.cli("hosts")
		var hs []map[string]any
		return err == nil && json.Unmarshal(out, &hs) == nil && len(hs) == 2 && agentSeq(t, state) > 0 && lastSeq(f.db(), "churn-host") == agentSeq(t, state)
	}
	for v := 2; v <= 3; v++ {
		waitUntil(t, "caught up", 30*time.Second, caughtUp, f.srv, ag)
		ch.write(t, v)
		time.Sleep(1500 * time.Millisecond)
	}
	waitUntil(t, "caught up", 30*time.Second, caughtUp, f.srv, ag)
	if _, err := f.cli("token", "create", "--role", "viewer", "--name", "dashboard"); err != nil {
		t.Fatal(err)
	}
	// Stopped, then read: what the fleet commands say from SQLite.
	for _, p := range []*proc{f.srv} {
		p.cmd.Process.Signal(os.Interrupt)
		p.cmd.Wait()
	}
	// Both agents go: one still running would reconnect to the collector
	// that serves each read, online in one and not in the other.
	for _, p := range []*proc{ag, pikvm} {
		p.cmd.Process.Kill()
		p.cmd.Wait()
	}
	commands := [][]string{{"hosts"}, {"host", "churn-host"}, {"findings", "--all"}, {"history", "churn-host", "--limit", "100000"},
		{"history", "linux-pikvm-v4plus"}, {"token", "list", "--all"}}
	read := func(extra ...string) []string {
		t.Helper()
		srv := startProc(t, f.collector, append([]string{"serve", "--data", f.data, "--listen", f.addr, "--metrics", ""}, extra...)...)
		var outs []string
		for _, c := range commands {
			var out []byte
			waitUntil(t, strings.Join(c, " "), 20*time.Second, func() bool {
				var err error
				out, err = f.cli(c...)
				return err == nil
			}, srv)
			// Nothing is online: both are read while the agents are gone,
			// but a token's last use differs.
			outs = append(outs, string(out))
		}
		srv.cmd.Process.Signal(os.Interrupt)
		srv.cmd.Wait()
		return outs
	}
	fromSQLite := read()
	dsn := pgtest.DSN(t)
	out, err := exec.Command(f.collector, "migrate", "--from", f.data, "--to", dsn).CombinedOutput()
	if err != nil {
		t.Fatalf("migrate: %v\n%s", err, out)
	}
	t.Logf("%s", out)
	for _, want := range []string{"hosts                2", "tokens               2", "verified"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("migrate said %s; want %q in it", out, want)
		}
	}
	fromPG := read("--store", dsn)
	for i, c := range commands {
		a, b := fromSQLite[i], fromPG[i]
		if c[0] == "token" || c[0] == "hosts" || c[0] == "host" { // last used, last seen: touched by the reads themselves
			a, b = dropFields(a, "last_used", "last_seen"), dropFields(b, "last_used", "last_seen")
		}
		if a != b {
			t.Errorf("%s differs after the move:\nSQLite:\n%s\nPostgreSQL:\n%s", strings.Join(c, " "), a, b)
		}
	}
	if out, err := exec.Command(f.collector, "migrate", "--from", f.data, "--to", dsn).CombinedOutput(); err == nil || !strings.Contains(string(out), "empty fleet only") {
		t.Fatalf("a second migrate: %v\n%s", err, out)
	}
}

// dropFields removes the lines of JSON output that carry the named keys.
func dropFields(s string, keys ...string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		skip := false
		for _, k := range keys {
			if strings.Contains(l, `"`+k+`"`) {
				skip = true
			}
		}
		if !skip {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
