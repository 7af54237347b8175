//go:build !windows

package statefile

import (
	"os"
	"path/filepath"
	"testing"
)

func TestMkdirPrivate(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	if err := MkdirPrivate(dir); err != nil {
		t.Fatal(err)
	}
	// An existing, too open directory is tightened, with what it holds.
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "spool"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"node.key", "spool/000001.seg"} {
		if err := os.WriteFile(filepath.Join(dir, f), []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	outside := filepath.Join(t.TempDir(), "outside")
	if err := os.WriteFile(outside, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(dir, "link")); err != nil {
		t.Fatal(err)
	}
	if err := MkdirPrivate(dir); err != nil {
		t.Fatal(err)
	}
	for p, want := range map[string]os.FileMode{"": 0o700, "spool": 0o700, "node.key": 0o600, "spool/000001.seg": 0o600} {
		fi, err := os.Stat(filepath.Join(dir, p))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != want {
			t.Errorf("%s: mode %v, want %v", p, fi.Mode().Perm(), want)
		}
	}
	if fi, _ := os.Stat(outside); fi.Mode().Perm() != 0o644 {
		t.Errorf("a symlink was followed out of the directory: %v", fi.Mode())
	}
}
