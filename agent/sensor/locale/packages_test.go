package locale

import (
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/farmwatch/farmwatch/agent/host"
	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/testing/protocmp"
)

// TestPackagesCache: a resident agent reads dpkg's status again only when
// its stamp changes, and gets the same observations as a fresh read; a
// snapshot and a recording always read it.
func TestPackagesCache(t *testing.T) {
	live, err := host.Live()
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := live.Stamp("/proc/self/status"); ok {
		t.Fatal("a /proc file has a stamp: it is not a regular file")
	}
	dir := t.TempDir()
	status := filepath.Join(dir, "status")
	write := func(s string) {
		t.Helper()
		tmp := status + ".new" // as dpkg does: write, then rename over
		if err := os.WriteFile(tmp, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, status); err != nil {
			t.Fatal(err)
		}
	}
	write(dpkgStatus)
	if _, ok := live.Stamp(status); !ok {
		if runtime.GOOS == "windows" {
			t.Skip("no file identity on windows: stamps are for dpkg's status, a Linux file")
		}
		t.Fatalf("no stamp for %s", status)
	}
	c := NewPackages()
	scan := func(h *host.Host) []any {
		t.Helper()
		r := &fileReader{h: h}
		got := c.keyboards(r, status)
		if len(r.errs) > 0 {
			t.Fatal(r.errs)
		}
		fresh := parseDpkgKeyboards([]byte(mustRead(t, status)))
		if d := cmp.Diff(fresh, got, protocmp.Transform()); d != "" {
			t.Fatalf("cached differs from a fresh read (-fresh +cached):\n%s", d)
		}
		out := make([]any, len(got))
		for i, k := range got {
			out[i] = k
		}
		return out
	}
	first := scan(live)
	if len(first) == 0 || c.reads != 1 {
		t.Fatalf("first scan: %d keyboards, %d reads", len(first), c.reads)
	}
	second := scan(live)
	if c.reads != 1 {
		t.Fatalf("unchanged file read again: %d reads", c.reads)
	}
	if first[0] == second[0] {
		t.Fatal("the cache handed out the same message twice: the report owns what it is given")
	}
	// A package installed: the file is replaced.
	write(dpkgStatus + "\nPackage: ibus-hangul\nStatus: install ok installed\nVersion: 1.5.4-2\n")
	if got := scan(live); c.reads != 2 || len(got) != len(first)+1 {
		t.Fatalf("after an install: %d keyboards, %d reads", len(got), c.reads)
	}
	// Written in place, same size: the times say so.
	b := []byte(mustRead(t, status))
	b[strings.Index(string(b), "1.5.4-2")] = '9'
	time.Sleep(10 * time.Millisecond)
	if err := os.WriteFile(status, b, 0o644); err != nil {
		t.Fatal(err)
	}
	if scan(live); c.reads != 3 {
		t.Fatalf("a file written in place was not read again: %d reads", c.reads)
	}
	// A recording must hold the file: no stamp, a read each time.
	rec, err := host.Live()
	if err != nil {
		t.Fatal(err)
	}
	rec.Record()
	scan(rec)
	scan(rec)
	if c.reads != 5 {
		t.Fatalf("while recording: %d reads, want 5", c.reads)
	}
	// A missing file is not cached.
	os.Remove(status)
	r := &fileReader{h: live}
	if got := c.keyboards(r, status); len(got) != 0 || c.valid {
		t.Fatalf("missing file: %d keyboards, valid %v", len(got), c.valid)
	}
}

// TestPackagesSnapshot: a snapshot's host has no stamps; the sensor reads
// the captured file every time, with or without a cache.
func TestPackagesSnapshot(t *testing.T) {
	h := tree(t, "linux", map[string]string{"/var/lib/dpkg/status": dpkgStatus})
	if _, ok := h.Stamp("/var/lib/dpkg/status"); ok {
		t.Fatal("a --root host gave a stamp")
	}
	c := NewPackages()
	for range 2 {
		r := &fileReader{h: h}
		if got := c.keyboards(r, dpkgStatusFile); len(got) == 0 {
			t.Fatalf("%d keyboards", len(got))
		}
	}
	if c.reads != 2 {
		t.Fatalf("%d reads, want 2", c.reads)
	}
}

func mustRead(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
