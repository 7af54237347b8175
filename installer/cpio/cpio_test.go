package cpio

import (
	"bytes"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

var mtime = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

var sample = []Entry{
	{Name: ".", Mode: fs.ModeDir | 0o755, MTime: mtime},
	{Name: "./usr", Mode: fs.ModeDir | 0o755, MTime: mtime},
	{Name: "./usr/bin", Mode: fs.ModeDir | 0o755, MTime: mtime, GID: 80},
	{Name: "./usr/bin/agent", Mode: 0o755, MTime: mtime, Data: []byte("#!/bin/sh\necho hi\n")},
	{Name: "./usr/bin/link", Mode: fs.ModeSymlink | 0o755, MTime: mtime, Link: "agent"},
	{Name: "./empty", Mode: 0o600, MTime: mtime, UID: 501, GID: 20, Data: []byte{}},
}

func TestRoundTrip(t *testing.T) {
	var b bytes.Buffer
	if err := Write(&b, sample); err != nil {
		t.Fatal(err)
	}
	got, err := Read(&b)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(sample, got); d != "" {
		t.Fatal(d)
	}
}

// TestGNUCpio has GNU cpio list and extract what Write wrote.
func TestGNUCpio(t *testing.T) {
	if _, err := exec.LookPath("cpio"); err != nil {
		t.Skip("cpio is not installed (.ci/run installs it): skipped")
	}
	var b bytes.Buffer
	Write(&b, sample)
	cmd := exec.Command("cpio", "-itv", "--quiet")
	cmd.Stdin = bytes.NewReader(b.Bytes())
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("cpio -it: %v\n%s", err, out)
	}
	for _, want := range []string{"drwxr-xr-x", "-rwxr-xr-x", "./usr/bin/agent", "./usr/bin/link -> agent", "-rw-------   1 501"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("cpio lists no %q:\n%s", want, out)
		}
	}
	dir := t.TempDir()
	cmd = exec.Command("cpio", "-idm", "--quiet", "--no-absolute-filenames")
	cmd.Dir, cmd.Stdin = dir, bytes.NewReader(b.Bytes())
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("cpio -id: %v\n%s", err, out)
	}
	if got, _ := os.ReadFile(filepath.Join(dir, "usr/bin/agent")); string(got) != "#!/bin/sh\necho hi\n" {
		t.Errorf("extracted %q", got)
	}
}

func FuzzRead(f *testing.F) {
	var b bytes.Buffer
	Write(&b, sample)
	f.Add(b.Bytes())
	f.Add([]byte("070707"))
	f.Fuzz(func(t *testing.T, data []byte) {
		Read(bytes.NewReader(data))
	})
}
