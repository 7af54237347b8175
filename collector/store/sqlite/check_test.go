package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/farmwatch/farmwatch/collector/store"
)

// fill gives s hosts hosts of obs process observations each, applied from
// a few goroutines at once so that group commit keeps it quick.
func fill(t testing.TB, s *DB, hosts, obs int) {
	t.Helper()
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make(chan error, hosts)
	work := make(chan int)
	for range 16 {
		wg.Go(func() {
			for i := range work {
				id := benchHostID(i)
				if err := s.PutHost(ctx, store.Host{ID: id, Hostname: id, OS: "linux", NodeKeyHash: []byte(id)}); err != nil {
					errs <- err
					continue
				}
				a := store.Apply{Full: true, Seen: time.Now()}
				for j := range obs {
					a.Upserted = append(a.Upserted, benchProc(i, 0, j))
				}
				if _, err := s.ApplyMessage(ctx, id, 1, a); err != nil {
					errs <- err
				}
			}
		})
	}
	for i := range hosts {
		work <- i
	}
	close(work)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

// scribble writes n bytes of garbage at off in the file at path, as a
// failing disk or a stray write would.
func scribble(t testing.TB, path string, off int64, n int) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	const pattern = "\xde\xad\xbe\xef garbage "
	junk := []byte(strings.Repeat(pattern, n/len(pattern)+1))[:n]
	if _, err := f.WriteAt(junk, off); err != nil {
		t.Fatal(err)
	}
}

func fileSize(t testing.TB, path string) int64 {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}

// A zero-length farmwatch.db used to start as an empty fleet: every host
// and token lost, and no admin token could be made again. Both Open and
// OpenExisting refuse it, naming the file, and leave it as it was.
func TestZeroLengthStoreRefused(t *testing.T) {
	ctx := context.Background()
	p := filepath.Join(t.TempDir(), "farmwatch.db")
	if err := os.WriteFile(p, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for name, open := range map[string]func(context.Context, string) (*DB, error){"Open": Open, "OpenExisting": OpenExisting} {
		s, err := open(ctx, p)
		if err == nil {
			s.Close()
			t.Fatalf("%s of an empty file succeeded", name)
		}
		if !strings.Contains(err.Error(), p) || !strings.Contains(err.Error(), "empty (0 bytes)") {
			t.Errorf("%s: %v; want the file named and said to be empty", name, err)
		}
		if fileSize(t, p) != 0 {
			t.Fatalf("%s wrote into the empty file", name)
		}
	}
	// What still works: a store that is not there is made by Open, 0600,
	// and refused by OpenExisting, which makes nothing.
	fresh := filepath.Join(t.TempDir(), "farmwatch.db")
	if _, err := OpenExisting(ctx, fresh); !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), fresh) {
		t.Fatalf("OpenExisting of no file: %v", err)
	}
	if _, err := os.Stat(fresh); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("OpenExisting made %s", fresh)
	}
	s, err := Open(ctx, fresh)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	if fi, err := os.Stat(fresh); err != nil || (runtime.GOOS != "windows" && fi.Mode().Perm() != 0o600) {
		t.Fatalf("made %v, %v; want mode 0600", fi.Mode(), err)
	}
	s, err = OpenExisting(ctx, fresh)
	if err != nil {
		t.Fatalf("OpenExisting of a good store: %v", err)
	}
	s.Close()
}

// A file that is not SQLite, and an SQLite database that is not a
// farmwatch store, are refused rather than taken over.
func TestForeignFileRefused(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	text := filepath.Join(dir, "text.db")
	if err := os.WriteFile(text, []byte("hosts:\n  - alpha\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	other := filepath.Join(dir, "other.db")
	db, err := sql.Open("sqlite", "file:"+other)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`CREATE TABLE notes (body TEXT)`); err != nil {
		t.Fatal(err)
	}
	db.Close()
	for p, want := range map[string]string{text: "not an SQLite database", other: "no schema_migrations table", dir: "not a regular file"} {
		if s, err := Open(ctx, p); err == nil {
			s.Close()
			t.Errorf("Open %s succeeded", p)
		} else if !strings.Contains(err.Error(), p) || !strings.Contains(err.Error(), want) {
			t.Errorf("Open %s: %v; want %q", p, err, want)
		}
	}
}

// A store whose pages were overwritten in the middle opens with Open (it
// reads only the schema) but not with OpenExisting, which serve uses: its
// quick_check reads every page.
func TestDamagedStoreRefused(t *testing.T) {
	ctx := context.Background()
	p := filepath.Join(t.TempDir(), "farmwatch.db")
	s, err := Open(ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	fill(t, s, 100, 20)
	s.Close()
	if s, err = OpenExisting(ctx, p); err != nil {
		t.Fatalf("the store before the damage: %v", err)
	}
	s.Close()
	scribble(t, p, fileSize(t, p)/2/4096*4096+100, 3000)
	s, err = OpenExisting(ctx, p)
	if err == nil {
		s.Close()
		t.Fatal("OpenExisting of a damaged store succeeded")
	}
	if !strings.Contains(err.Error(), p) || !strings.Contains(err.Error(), "quick_check") {
		t.Fatalf("OpenExisting: %v; want the file named and quick_check's finding", err)
	}
	t.Log(err)
}
