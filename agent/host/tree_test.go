package host

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/tools/txtar"
)

// archive builds a snapshot from entry names and contents, encoding each
// as Format does (a link target has no final newline, so it is base64).
func archive(kv ...string) []byte {
	a := &txtar.Archive{Files: []txtar.File{{Name: "snapshot.json", Data: []byte(`{"os":"linux","hostname":"h"}` + "\n")}}}
	for i := 0; i < len(kv); i += 2 {
		a.Files = append(a.Files, encodeEntry(kv[i], []byte(kv[i+1])))
	}
	return txtar.Format(a)
}

func writeSnapshot(t *testing.T, data []byte) string {
	t.Helper()
	file := filepath.Join(t.TempDir(), "s.txtar")
	if err := os.WriteFile(file, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return file
}

// emptyDir fails the test unless dir holds nothing.
func emptyDir(t *testing.T, dir string) {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		t.Errorf("%s was written in %s", e.Name(), dir)
	}
}

// tempDirs points the temporary directory at a fresh empty one, where an
// unpacker would write, and returns it.
func tempDirs(t *testing.T) string {
	tmp := t.TempDir()
	for _, v := range []string{"TMPDIR", "TMP", "TEMP"} {
		t.Setenv(v, tmp)
	}
	return tmp
}

// Problem: "A link nested under another link planted a symlink outside the
// temporary directory." A replay held its tree on disk and followed /a
// while writing /a/b. Now a snapshot's tree is held in memory and checked
// against itself: an entry under a link is refused, and nothing is written.
func TestNestedLinkPlantsNothingOutside(t *testing.T) {
	outside := t.TempDir()
	tmp := tempDirs(t)
	for _, c := range []struct {
		name  string
		snap  *Snapshot
		entry string
	}{
		{"link under a link", &Snapshot{Links: map[string]string{"/a": outside, "/a/b": "planted"}}, `entry "link/a/b": /a is recorded as a link`},
		{"file under a link", &Snapshot{Links: map[string]string{"/a": outside}, Files: map[string][]byte{"/a/f": []byte("planted\n")}}, `entry "root/a/f": /a is recorded as a link`},
		{"relative link", &Snapshot{Links: map[string]string{"/a": "../../../../../../" + outside, "/a/b": "planted"}}, `entry "link/a/b": /a is recorded as a link`},
		{"deeper", &Snapshot{Links: map[string]string{"/x/a": outside, "/x/a/y/b": "planted"}}, `entry "link/x/a/y/b": /x/a is recorded as a link`},
	} {
		t.Run(c.name, func(t *testing.T) {
			c.snap.Meta = Meta{OS: "linux", Hostname: "h"}
			for range 10 { // the unpacker wrote in map order
				if h, err := c.snap.Host(); err == nil || err.Error() != c.entry {
					if err == nil {
						h.Close()
					}
					t.Fatalf("Host: error %v, want %q", err, c.entry)
				}
			}
			// The same entries as a file, in either order.
			kv := []string{}
			for p, tg := range c.snap.Links {
				kv = append(kv, "link"+p, tg)
			}
			for p, b := range c.snap.Files {
				kv = append(kv, "root"+p, string(b))
			}
			for _, order := range [][]string{kv, reversePairs(kv)} {
				file := writeSnapshot(t, archive(order...))
				_, err := Open(file)
				if err == nil || !strings.Contains(err.Error(), file) || !strings.Contains(err.Error(), c.entry) {
					t.Fatalf("Open: error %v, want the file and %q", err, c.entry)
				}
			}
		})
	}
	emptyDir(t, outside)
	emptyDir(t, tmp)

	// The legitimate paths: a link to a directory of the snapshot is
	// followed inside it; a link to where nothing was recorded leads to
	// nothing, not to the replaying machine's file.
	if err := os.WriteFile(filepath.Join(outside, "f"), []byte("the replaying machine's\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	s := &Snapshot{
		Meta:  Meta{OS: "linux", Hostname: "h"},
		Links: map[string]string{"/a": "/real", "/b": outside, "/c": "real"},
		Files: map[string][]byte{"/real/f": []byte("recorded\n")},
	}
	h, err := s.Host()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"/a/f", "/c/f"} {
		if b, err := h.ReadFile(p); err != nil || string(b) != "recorded\n" {
			t.Errorf("ReadFile(%s) = %q, %v", p, b, err)
		}
	}
	if b, err := h.ReadFile("/b/f"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("ReadFile(/b/f) = %q, %v; want not exist", b, err)
	}
	if tg, err := h.Readlink("/b"); err != nil || tg != outside {
		t.Errorf("Readlink(/b) = %q, %v", tg, err)
	}
	if ents, err := h.ReadDir("/a"); err != nil || len(ents) != 1 || ents[0].Name != "f" {
		t.Errorf("ReadDir(/a) = %v, %v", ents, err)
	}
	h.Close()
	emptyDir(t, tmp)
}

func reversePairs(kv []string) []string {
	out := make([]string, 0, len(kv))
	for i := len(kv) - 2; i >= 0; i -= 2 {
		out = append(out, kv[i], kv[i+1])
	}
	return out
}

// Problem: "An 80,000-level path (160 KB file) took 36 s, because the
// parent-path check is quadratic." Each path is now walked once from the
// root, and paths are bounded: the work, counted in path elements visited,
// is at most the input's size. (BenchmarkParse measures the time.)
func TestDeepPathParseIsLinear(t *testing.T) {
	for _, levels := range []int{MaxPathDepth + 1, 1000, 10000, 80000} {
		data := archive("root"+strings.Repeat("/a", levels), "x\n")
		_, tr, err := parseSnapshot(data)
		if err == nil || !strings.Contains(err.Error(), `entry "root/a/a/a`) ||
			!strings.Contains(err.Error(), "longer than") && !strings.Contains(err.Error(), "deeper than") {
			t.Errorf("%d levels: error %v, want the entry refused as too deep or too long", levels, err)
		}
		if len(err.Error()) > 2*maxNameShown {
			t.Errorf("%d levels: an error of %d bytes", levels, len(err.Error()))
		}
		if tr.steps != 0 {
			t.Errorf("%d levels: %d steps to refuse it", levels, tr.steps)
		}
	}
	// The deepest path that is allowed, and many shallow files beside it.
	kv := []string{"root" + strings.Repeat("/a", MaxPathDepth), "x\n"}
	for i := range 20000 {
		kv = append(kv, fmt.Sprintf("root/d%d/f%d", i%100, i), "x\n")
	}
	data := archive(kv...)
	_, tr, err := parseSnapshot(data)
	if err != nil {
		t.Fatal(err)
	}
	if tr.steps > len(data) {
		t.Errorf("%d steps for %d bytes", tr.steps, len(data))
	}
}

// Links are resolved once each, whatever their number and however their
// targets name other links: a chain as long as MaxLinkHops is allowed, a
// longer one or a loop is refused naming the entry, and targets that name
// the next link twice (which took 2^n lookups) take one step per element.
func TestLinkChains(t *testing.T) {
	chain := func(n int, last string) []string {
		var kv []string
		for i := range n - 1 {
			kv = append(kv, fmt.Sprintf("link/l%05d", i), fmt.Sprintf("/l%05d", i+1))
		}
		return append(kv, fmt.Sprintf("link/l%05d", n-1), last, "root/end", "end\n")
	}
	data := archive(chain(MaxLinkHops, "/end")...)
	s, tr, err := parseSnapshot(data)
	if err != nil {
		t.Fatalf("a chain of %d links: %v", MaxLinkHops, err)
	}
	h := s.replay(tr)
	if b, err := h.ReadFile("/l00000"); err != nil || string(b) != "end\n" {
		t.Errorf("through %d links: %q, %v", MaxLinkHops, b, err)
	}
	for _, c := range []struct {
		name string
		kv   []string
		want string
	}{
		{"one too many", chain(MaxLinkHops+1, "/end"), `entry "link/l00000": too many levels of symbolic links`},
		{"thousands", chain(5000, "/end"), `entry "link/l00000": too many levels of symbolic links`},
		{"loop", []string{"link/a", "/b", "link/b", "a"}, `entry "link/a": too many levels of symbolic links`},
		{"itself", []string{"link/a", "./a"}, `entry "link/a": too many levels`},
		{"loop further on", []string{"link/a", "/b/x", "link/b", "/c", "link/c", "/b"}, `entry "link/a": too many levels`},
		{"long target", []string{"link/a", strings.Repeat("x/", MaxPathLen)}, `entry "link/a": link target longer than 4096 bytes`},
		{"NUL in target", []string{"link/a", "/b\x00/c"}, `entry "link/a": NUL byte in the link target`},
	} {
		t.Run(c.name, func(t *testing.T) {
			data := archive(c.kv...)
			_, tr, err := parseSnapshot(data)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want %q", err, c.want)
			}
			if tr.steps > 2*len(data) {
				t.Errorf("%d steps for %d bytes", tr.steps, len(data))
			}
		})
	}

	// /d/a0 -> a1/a1 -> ... : each target names the next link twice.
	var kv []string
	for i := range MaxLinkHops - 1 {
		kv = append(kv, fmt.Sprintf("link/d/a%d", i), fmt.Sprintf("a%d/a%d", i+1, i+1))
	}
	kv = append(kv, fmt.Sprintf("link/d/a%d", MaxLinkHops-1), ".", "root/d/f", "f\n")
	data = archive(kv...)
	s, tr, err = parseSnapshot(data)
	if err != nil {
		t.Fatal(err)
	}
	if tr.steps > 2*len(data) {
		t.Errorf("%d steps for %d bytes", tr.steps, len(data))
	}
	if b, err := s.replay(tr).ReadFile("/d/a0/a0/f"); err != nil || string(b) != "f\n" {
		t.Errorf("ReadFile = %q, %v", b, err)
	}
}

// Problem 5: hostile snapshots are refused with an error that names the
// snapshot file and the entry, or replayed inside themselves.
func TestHostileSnapshots(t *testing.T) {
	for _, c := range []struct {
		name string
		kv   []string
		want string
	}{
		{"dotdot", []string{"root/../../etc/passwd", "x\n"}, `entry "root/../../etc/passwd": path must be absolute and clean`},
		{"dotdot inside", []string{"root/etc/../../x", "x\n"}, "path must be absolute and clean"},
		{"double slash", []string{"root//etc/passwd", "x\n"}, "path must be absolute and clean"},
		{"the root", []string{"root/", "x\n"}, `entry "root/": path must be absolute and clean`},
		{"NUL in a name", []string{"root/etc/pass\x00wd", "x\n"}, `entry "root/etc/pass\x00wd": control character '\x00' in the name`},
		{"escape in a name", []string{"root/tmp/\x1b[2J", "x\n"}, `entry "root/tmp/\x1b[2J": control character '\x1b' in the name`},
		{"C1 control in a name", []string{"cmd//bin/x \u009b31m", "x\n"}, `control character '\u009b' in the name`},
		{"too deep", []string{"root" + strings.Repeat("/a", MaxPathDepth+1), "x\n"}, "path deeper than 128 elements"},
		{"too long", []string{"root/" + strings.Repeat("a", MaxPathLen), "x\n"}, "path longer than 4096 bytes"},
		{"duplicate", []string{"root/a", "x\n", "root/a", "y\n"}, `entry "root/a": duplicate`},
		{"file and link", []string{"root/a", "x\n", "link/a", "/b"}, `entry "link/a": path recorded twice`},
		{"file under a file, nested first", []string{"root/a/b", "x\n", "root/a", "y\n"}, `entry "root/a/b": /a is recorded as a file`},
		{"link loop", []string{"link/a", "/b", "link/b", "/a"}, `entry "link/a": too many levels of symbolic links`},
	} {
		t.Run(c.name, func(t *testing.T) {
			file := writeSnapshot(t, archive(c.kv...))
			_, err := Open(file)
			if err == nil || !strings.HasPrefix(err.Error(), "snapshot "+file+": ") || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want %q", err, c.want)
			}
		})
	}

	// A link that climbs out stops at the snapshot's root; names that are
	// awkward but harmless (a tab, a backslash, a drive) stay names.
	file := writeSnapshot(t, archive("link/x", "../../..", "root/etc/hostname", "h\n", "root/a\\..\\..\\b", "bs\n", "root/C:/w", "w\n", "root/t\tab", "t\n"))
	h, err := Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	if b, err := h.ReadFile("/x/etc/hostname"); err != nil || string(b) != "h\n" {
		t.Errorf("through a link that climbs out: %q, %v", b, err)
	}
	if b, err := h.ReadFile("/x/etc/passwd"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("read the replaying machine's /etc/passwd: %q, %v", b, err)
	}
	for p, want := range map[string]string{"/a\\..\\..\\b": "bs\n", "/C:/w": "w\n", "/t\tab": "t\n"} {
		if b, err := h.ReadFile(p); err != nil || string(b) != want {
			t.Errorf("ReadFile(%q) = %q, %v", p, b, err)
		}
	}

	// The file itself: too large (sparse, so nothing is written), a
	// directory, a device. None is read.
	big := filepath.Join(t.TempDir(), "big.txtar")
	if err := os.WriteFile(big, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(big, MaxSnapshotSize+1); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	files := map[string]string{big: "larger than 536870912 bytes", dir: "not a regular file: a directory"}
	if runtime.GOOS != "windows" {
		files["/dev/zero"] = "not a regular file: a device"
	}
	for f, want := range files {
		if _, err := Open(f); err == nil || !strings.HasPrefix(err.Error(), "snapshot "+f+": ") || !strings.Contains(err.Error(), want) {
			t.Errorf("Open(%s): %v, want %q", f, err, want)
		}
	}
}

// A replayed tree answers as a filesystem would: not exist, not a
// directory, is a directory, not a link.
func TestReplayErrors(t *testing.T) {
	h, err := (&Snapshot{
		Meta:  Meta{OS: "linux", Hostname: "h"},
		Files: map[string][]byte{"/d/f": []byte("x\n")},
		Links: map[string]string{"/d/l": "/nowhere", "/d/lf": "f/x"},
	}).Host()
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		err  error
		want error
	}{
		{"missing", errOf(h.ReadFile("/d/g")), fs.ErrNotExist},
		{"dangling link", errOf(h.ReadFile("/d/l")), fs.ErrNotExist},
		{"under a dangling link", errOf(h.ReadDir("/d/l/x")), fs.ErrNotExist},
		{"file as a directory", errOf(h.ReadFile("/d/f/x")), syscall.ENOTDIR},
		{"link through a file", errOf(h.ReadFile("/d/lf")), syscall.ENOTDIR},
		{"list a file", errOf(h.ReadDir("/d/f")), syscall.ENOTDIR},
		{"read a directory", errOf(h.ReadFile("/d")), syscall.EISDIR},
		{"readlink a file", errOf(h.Readlink("/d/f")), syscall.EINVAL},
	} {
		if !errors.Is(c.err, c.want) {
			t.Errorf("%s: %v, want %v", c.name, c.err, c.want)
		}
	}
	if _, err := h.ReadFile(""); err == nil {
		t.Error("empty path read")
	}
	if ms, err := h.Glob("/d/[l"); err == nil {
		t.Errorf("bad pattern: %v", ms)
	}
	if ms, err := h.Glob("/*/l*"); err != nil || strings.Join(ms, " ") != "/d/l /d/lf" {
		t.Errorf("Glob = %v, %v", ms, err)
	}
}

func errOf[T any](_ T, err error) error { return err }
