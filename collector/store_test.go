package main

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
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
