//go:build linux || darwin

package host

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestStamp: a file's stamp stays while it is untouched and changes when
// it is replaced or written; pseudo-files, directories, missing files,
// --root and recording hosts have none.
func TestStamp(t *testing.T) {
	h, err := Live()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	f := filepath.Join(dir, "status")
	if err := os.WriteFile(f, []byte("Package: a\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	s1, ok := h.Stamp(f)
	if !ok {
		t.Fatalf("no stamp for %s", f)
	}
	if s2, _ := h.Stamp(f); s2 != s1 {
		t.Fatal("an untouched file's stamp changed")
	}
	time.Sleep(10 * time.Millisecond)
	if err := os.WriteFile(f, []byte("Package: b\n"), 0o644); err != nil { // same size, in place
		t.Fatal(err)
	}
	s3, _ := h.Stamp(f)
	if s3 == s1 {
		t.Fatal("a file written in place kept its stamp")
	}
	tmp := f + ".new"
	os.WriteFile(tmp, []byte("Package: b\n"), 0o644)
	os.Chtimes(tmp, time.Time{}, time.Now().Add(-time.Hour))
	os.Rename(tmp, f)
	if s4, _ := h.Stamp(f); s4 == s3 {
		t.Fatal("a file replaced by a rename kept its stamp")
	}
	empty := filepath.Join(dir, "empty")
	os.WriteFile(empty, nil, 0o644)
	for _, p := range []string{"/proc/self/status", "/dev/null", dir, filepath.Join(dir, "missing"), empty, "relative"} {
		if _, ok := h.Stamp(p); ok {
			t.Errorf("%s has a stamp", p)
		}
	}
	root, err := FromRoot(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	if _, ok := root.Stamp("/status"); ok {
		t.Error("a --root host gave a stamp")
	}
	h.Record()
	if _, ok := h.Stamp(f); ok {
		t.Error("a recording host gave a stamp: the snapshot would miss the file")
	}
}
