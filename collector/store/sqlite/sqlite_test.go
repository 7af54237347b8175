package sqlite

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"path/filepath"
	"reflect"
	"runtime"
	"testing"
	"time"

	"github.com/farmwatch/farmwatch/collector/store"
	"github.com/farmwatch/farmwatch/collector/store/storetest"
)

func TestStoreMemory(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		s, err := Open(context.Background(), ":memory:")
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}

func TestStoreFile(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		s, err := Open(context.Background(), filepath.Join(t.TempDir(), "farmwatch.db"))
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}

// Reopening a file runs no migration twice and keeps the data.
func TestReopen(t *testing.T) {
	ctx := context.Background()
	p := filepath.Join(t.TempDir(), "farmwatch.db")
	s, err := Open(ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.PutHost(ctx, store.Host{ID: "h1", Hostname: "a", OS: "linux", NodeKeyHash: []byte("k")}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s, err = Open(ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if h, err := s.Host(ctx, "h1"); err != nil || h.Hostname != "a" {
		t.Fatalf("after reopen: %+v, %v", h, err)
	}
}

// Every statement field is prepared at Open: a field added without its SQL
// would be nil, and fail only when its path first runs.
func TestStmtsPrepared(t *testing.T) {
	s, err := Open(context.Background(), ":memory:")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for _, set := range []any{s.st, s.rs} {
		v := reflect.ValueOf(set)
		for i := range v.NumField() {
			if v.Field(i).IsNil() {
				t.Errorf("%s.%s is not prepared", v.Type().Name(), v.Type().Field(i).Name)
			}
		}
	}
	if want := reflect.TypeFor[applyStmts]().NumField() + reflect.TypeFor[readStmts]().NumField(); len(s.stmts) != want {
		t.Errorf("%d statements kept for Close, want %d", len(s.stmts), want)
	}
}

// An Open that fails leaves no goroutine behind: the writer starts only once
// the database is open, migrated and prepared.
func TestOpenFailsClean(t *testing.T) {
	before := runtime.NumGoroutine()
	for range 20 {
		if s, err := Open(context.Background(), t.TempDir()); err == nil { // a directory is no database
			s.Close()
			t.Fatal("Open of a directory succeeded")
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before+5 {
		if time.Now().After(deadline) {
			t.Fatalf("%d goroutines after 20 failed Opens, %d before", runtime.NumGoroutine(), before)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// A store made before tokens had ids keeps its tokens: each gets the id
// of its hash, no name, no expiry.
func TestMigrateTokens(t *testing.T) {
	ctx := context.Background()
	p := filepath.Join(t.TempDir(), "farmwatch.db")
	db, err := sql.Open("sqlite", "file:"+p)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`CREATE TABLE schema_migrations (name TEXT PRIMARY KEY)`); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"migrations/001_init.sql", "migrations/002_history.sql"} {
		body, err := migrations.ReadFile(n)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := db.Exec(string(body)); err != nil {
			t.Fatalf("%s: %v", n, err)
		}
		if _, err := db.Exec(`INSERT INTO schema_migrations VALUES (?)`, n); err != nil {
			t.Fatal(err)
		}
	}
	hash := sha256.Sum256([]byte("fwt_old"))
	if _, err := db.Exec(`INSERT INTO tokens (hash, role, created) VALUES (?, 'admin', 1000)`, hash[:]); err != nil {
		t.Fatal(err)
	}
	db.Close()
	s, err := Open(ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	tk, err := s.TokenByHash(ctx, hash[:])
	if err != nil {
		t.Fatal(err)
	}
	want := store.Token{ID: store.TokenID(hash[:]), Hash: hash[:], Role: store.RoleAdmin, Created: time.UnixMilli(1000).UTC()}
	if !reflect.DeepEqual(tk, want) {
		t.Fatalf("migrated token = %+v, want %+v", tk, want)
	}
}
