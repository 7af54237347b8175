package sqlite

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/farmwatch/farmwatch/collector/store"
	fwv1 "github.com/farmwatch/farmwatch/proto/farmwatch/v1"
)

// A backup taken while agents write is one consistent snapshot: it passes
// integrity_check and has every host enrolled before it began.
func TestBackupWhileWriting(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	p := filepath.Join(dir, "farmwatch.db")
	s, err := Open(ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	const hosts = 50
	fill(t, s, hosts, 20)

	// Agents go on writing through the backups.
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var applied atomic.Int64
	var stopOnce sync.Once
	halt := func() { stopOnce.Do(func() { close(stop) }); wg.Wait() }
	defer halt() // before s.Close
	for w := range 4 {
		wg.Go(func() {
			for seq := uint64(2); ; seq++ {
				select {
				case <-stop:
					return
				default:
				}
				i := (w*13 + int(seq)) % hosts
				a := store.Apply{Full: true, Upserted: []*fwv1.Observation{benchProc(i, int(seq), w)}, Seen: time.Now()} // full: the numbers of one host leap
				if ok, err := s.ApplyMessage(ctx, benchHostID(i), seq*4+uint64(w), a); err != nil {
					t.Error(err)
					return
				} else if ok {
					applied.Add(1)
				}
			}
		})
	}
	for i := range 3 {
		out := filepath.Join(dir, "backup"+string(rune('0'+i))+".db")
		if err := Backup(ctx, p, out); err != nil {
			t.Fatal(err)
		}
		if err := integrityCheck(ctx, out); err != nil {
			t.Fatal(err)
		}
		b, err := Open(ctx, out)
		if err != nil {
			t.Fatal(err)
		}
		hs, err := b.Hosts(ctx)
		b.Close()
		if err != nil || len(hs) != hosts {
			t.Fatalf("backup %d: %d hosts, %v; want %d", i, len(hs), err, hosts)
		}
		if fi, err := os.Stat(out); err != nil || (runtime.GOOS != "windows" && fi.Mode().Perm() != 0o600) {
			t.Fatalf("backup %d: %v, %v; want mode 0600", i, fi.Mode(), err)
		}
	}
	halt()
	if applied.Load() == 0 {
		t.Fatal("nothing was written during the backups")
	}
	t.Logf("%d messages applied during 3 backups", applied.Load())
}

// A backup never overwrites, and never copies a store that is not one.
func TestBackupRefusals(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	p := filepath.Join(dir, "farmwatch.db")
	s, err := Open(ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	existing := filepath.Join(dir, "existing.db")
	if err := os.WriteFile(existing, []byte("keep me"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := Backup(ctx, p, existing); !errors.Is(err, fs.ErrExist) || !strings.Contains(err.Error(), existing) {
		t.Fatalf("backup onto an existing file: %v", err)
	}
	if b, _ := os.ReadFile(existing); string(b) != "keep me" {
		t.Fatalf("the existing file was overwritten: %q", b)
	}
	empty := filepath.Join(dir, "empty.db")
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out.db")
	if err := Backup(ctx, empty, out); err == nil || !strings.Contains(err.Error(), "empty") {
		t.Fatalf("backup of an empty file: %v", err)
	}
	if _, err := os.Stat(out); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("a failed backup left %s", out)
	}
	if err := Backup(ctx, p, out); err != nil {
		t.Fatalf("backup of a good store: %v", err)
	}
}
