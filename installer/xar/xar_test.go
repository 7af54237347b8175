package xar

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var mtime = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func sample() []*File {
	return []*File{
		{Name: "Distribution", Mode: 0o644, User: "root", Group: "wheel", MTime: mtime, Data: []byte("<installer-gui-script/>\n")},
		{Name: "agent.pkg", Dir: true, Mode: 0o755, User: "root", Group: "wheel", MTime: mtime, Children: []*File{
			{Name: "PackageInfo", Mode: 0o644, MTime: mtime, Data: []byte("<pkg-info/>\n")},
			{Name: "Payload", Mode: 0o644, MTime: mtime, Data: bytes.Repeat([]byte{0, 1, 2}, 5000)},
			{Name: "Empty", Mode: 0o600, MTime: mtime, Data: []byte{}},
		}},
	}
}

func write(t *testing.T) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := Write(&b, sample(), mtime); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestRoundTrip(t *testing.T) {
	a, err := Read(write(t))
	if err != nil {
		t.Fatal(err)
	}
	var paths []string
	a.Walk(func(p string, f *File) { paths = append(paths, p) })
	if strings.Join(paths, " ") != "Distribution agent.pkg agent.pkg/PackageInfo agent.pkg/Payload agent.pkg/Empty" {
		t.Fatalf("paths %v", paths)
	}
	if f := a.Lookup("agent.pkg/Payload"); f == nil || !bytes.Equal(f.Data, sample()[1].Children[1].Data) || f.Mode != 0o644 || !f.MTime.Equal(mtime) {
		t.Fatalf("Payload %+v", f)
	}
	if d := a.Lookup("agent.pkg"); !d.Dir || d.User != "root" || d.Group != "wheel" {
		t.Fatalf("dir %+v", d)
	}
	if !bytes.Contains(a.TOC, []byte(`<checksum style="sha1">`)) {
		t.Fatalf("TOC:\n%s", a.TOC)
	}
}

func TestDamage(t *testing.T) {
	b := write(t)
	// The last byte is Empty's neighbour: Payload's data, the heap's end.
	bad := bytes.Clone(b)
	bad[len(bad)-1] ^= 1
	if _, err := Read(bad); err == nil || !strings.Contains(err.Error(), "checksum") {
		t.Fatalf("damaged data: %v", err)
	}
	bad = bytes.Clone(b)
	bad[headerSize+3] ^= 1
	if _, err := Read(bad); err == nil {
		t.Fatal("damaged TOC read")
	}
	if _, err := Read(b[:20]); err == nil {
		t.Fatal("short archive read")
	}
}

// TestBsdtar has libarchive list and extract what Write wrote.
func TestBsdtar(t *testing.T) {
	if _, err := exec.LookPath("bsdtar"); err != nil {
		t.Skip("bsdtar is not installed (.ci/run installs libarchive-tools): skipped")
	}
	dir := t.TempDir()
	p := filepath.Join(dir, "a.xar")
	os.WriteFile(p, write(t), 0o644)
	out, err := exec.Command("bsdtar", "-tvf", p).CombinedOutput()
	if err != nil {
		t.Fatalf("bsdtar -t: %v\n%s", err, out)
	}
	for _, want := range []string{"Distribution", "agent.pkg/PackageInfo", "agent.pkg/Payload", "15000"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("bsdtar lists no %q:\n%s", want, out)
		}
	}
	x := filepath.Join(dir, "x")
	os.Mkdir(x, 0o755)
	if out, err := exec.Command("bsdtar", "-xf", p, "-C", x).CombinedOutput(); err != nil {
		t.Fatalf("bsdtar -x: %v\n%s", err, out)
	}
	if got, _ := os.ReadFile(filepath.Join(x, "agent.pkg/Payload")); !bytes.Equal(got, sample()[1].Children[1].Data) {
		t.Error("bsdtar extracted another Payload")
	}
}

func FuzzRead(f *testing.F) {
	var b bytes.Buffer
	Write(&b, sample(), mtime)
	f.Add(b.Bytes())
	f.Fuzz(func(t *testing.T, data []byte) { Read(data) })
}
