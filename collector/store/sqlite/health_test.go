package sqlite

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/farmwatch/farmwatch/collector/store"
	fwv1 "github.com/farmwatch/farmwatch/proto/farmwatch/v1"
)

// Pages overwritten in the middle of the file while the store is open
// used to leave /healthz "ok" while every apply failed: it listed the
// hosts, whose pages were whole. The applies that meet the damage now
// fail Health, and it stays failed though other writes succeed: they do
// not mend the page.
func TestDamagedPagesFailHealth(t *testing.T) {
	ctx := context.Background()
	p := filepath.Join(t.TempDir(), "farmwatch.db")
	s, err := Open(ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	const hosts = 200
	fill(t, s, hosts, 20)
	if err := s.Health(ctx); err != nil {
		t.Fatalf("a good store: %v", err)
	}
	damageObservations(t, p)
	if _, err := s.Hosts(ctx); err != nil {
		t.Fatalf("listing hosts (what /healthz did) failed too: %v", err)
	}
	failed := 0
	for i := range hosts {
		a := store.Apply{Full: true, Seen: time.Now(), Upserted: []*fwv1.Observation{benchProc(i, 1, 0)}}
		if _, err := s.ApplyMessage(ctx, benchHostID(i), 2, a); err != nil {
			failed++
		}
	}
	if failed == 0 {
		t.Fatal("no apply met the damage")
	}
	err = s.Health(ctx)
	if err == nil || !strings.Contains(err.Error(), "damaged") {
		t.Fatalf("Health after %d of %d applies failed: %v; want the damage", failed, hosts, err)
	}
	if err := s.PutToken(ctx, store.Token{Hash: make([]byte, 32), Role: store.RoleAdmin, Created: time.Now()}); err != nil {
		t.Fatal(err)
	}
	if err := s.Health(ctx); err == nil {
		t.Fatal("a write that succeeded elsewhere cleared the damage")
	}
	t.Logf("%d of %d applies failed; Health: %v", failed, hosts, err)
}

// damageObservations overwrites every page of the observations table and
// its index in the store at path, as another process (a failing disk, a
// stray write) would while the store is open, and makes the store's
// connections read the file afresh: the WAL is checkpointed into the file
// before, and again after, so that its pages are not read from the WAL
// or the connections' caches.
func damageObservations(t testing.TB, path string) {
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
	if len(pages) == 0 {
		t.Fatal("no observation pages")
	}
	for _, n := range pages {
		scribble(t, path, (n-1)*pageSize, int(pageSize))
	}
	checkpoint()
}

// A failed write fails Health until a write succeeds; a caller's mistake
// (a token stored twice) is no failure of the store.
func TestHealthFollowsWrites(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, filepath.Join(t.TempDir(), "farmwatch.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	h := sha256.Sum256([]byte("t"))
	tok := store.Token{Hash: h[:], Role: store.RoleViewer, Created: time.Now()}
	if err := s.PutToken(ctx, tok); err != nil {
		t.Fatal(err)
	}
	if err := s.PutToken(ctx, tok); err == nil {
		t.Fatal("a token stored twice")
	}
	if err := s.Health(ctx); err != nil {
		t.Fatalf("after a duplicate token: %v", err)
	}
	_, err = s.db.ExecContext(ctx, `INSERT INTO no_such_table VALUES (1)`)
	s.health.wrote(err)
	if err := s.Health(ctx); err == nil || !strings.Contains(err.Error(), "last write failed") {
		t.Fatalf("after a failed write: %v", err)
	}
	if err := s.TouchToken(ctx, store.TokenID(h[:]), time.Now()); err != nil {
		t.Fatal(err)
	}
	if err := s.Health(ctx); err != nil {
		t.Fatalf("after a write succeeded again: %v", err)
	}
}
