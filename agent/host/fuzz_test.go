package host

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/tools/txtar"
)

// snapshotProblems returns how ParseSnapshot's result for data (s, or
// err) breaks what SNAPSHOT.md promises of a reader:
//
//   - an error names the entry at fault (or says the input is not a
//     snapshot at all);
//   - every entry of the archive is kept, none silently replaced;
//   - what is kept obeys the format's rules: a known OS and a host name,
//     absolute clean paths recorded once, none under a recorded file or
//     link, non-empty command lines, api names as documented and JSON
//     contents, and no more content than the input held;
//   - Format writes it back as a snapshot that parses to the same thing,
//     and formats to the same bytes again.
func snapshotProblems(data []byte, s *Snapshot, err error) []string {
	var bad []string
	if err != nil {
		if msg := err.Error(); !strings.HasPrefix(msg, "not a farmwatch snapshot") && !strings.HasPrefix(msg, "entry ") {
			bad = append(bad, fmt.Sprintf("error %q does not name the entry at fault", msg))
		}
		return bad
	}
	if n, want := len(s.Files)+len(s.Links)+len(s.Cmds)+len(s.APIs), len(txtar.Parse(data).Files)-1; n != want {
		bad = append(bad, fmt.Sprintf("%d entries kept of %d", n, want))
	}
	switch s.Meta.OS {
	case "linux", "darwin", "windows":
	default:
		bad = append(bad, fmt.Sprintf("os %q accepted", s.Meta.OS))
	}
	if s.Meta.Hostname == "" {
		bad = append(bad, "empty hostname accepted")
	}
	content := 0
	recorded := map[string]string{}
	for p, b := range s.Files {
		recorded[p] = "file"
		content += len(b)
	}
	for p, t := range s.Links {
		if _, ok := recorded[p]; ok {
			bad = append(bad, fmt.Sprintf("%s recorded as a file and a link", p))
		}
		recorded[p] = "link"
		content += len(t)
	}
	for p := range recorded {
		if p == "/" || path.Clean(p) != p || !strings.HasPrefix(p, "/") || strings.Contains(p, "\x00") {
			bad = append(bad, fmt.Sprintf("path %q accepted", p))
		}
		for q := path.Dir(p); q != "/" && q != "."; q = path.Dir(q) {
			if kind, ok := recorded[q]; ok {
				bad = append(bad, fmt.Sprintf("%s accepted under %s, recorded as a %s", p, q, kind))
			}
		}
	}
	for l, b := range s.Cmds {
		if l == "" {
			bad = append(bad, "empty command line accepted")
		}
		content += len(b)
	}
	for n, b := range s.APIs {
		if !apiName.MatchString(n) || !json.Valid(b) {
			bad = append(bad, fmt.Sprintf("api entry %q accepted", n))
		}
		content += len(b)
	}
	if content > len(data) {
		bad = append(bad, fmt.Sprintf("%d bytes of content from %d bytes of input", content, len(data)))
	}
	out, err := s.Format()
	if err != nil {
		return append(bad, fmt.Sprintf("format: %v", err))
	}
	back, err := ParseSnapshot(out)
	if err != nil {
		return append(bad, fmt.Sprintf("formatted snapshot does not parse: %v\n%s", err, out))
	}
	if diff := cmp.Diff(s, back, cmp.Comparer(bytes.Equal)); diff != "" {
		bad = append(bad, "round trip changed the snapshot (-parsed +formatted and parsed again):\n"+diff)
	}
	if again, err := back.Format(); err != nil || !bytes.Equal(again, out) {
		bad = append(bad, fmt.Sprintf("formatting twice differs (%v):\n%s\n---\n%s", err, out, again))
	}
	return bad
}

const fuzzMeta = "-- snapshot.json --\n{\"os\":\"linux\",\"hostname\":\"h\"}\n"

func FuzzParseSnapshot(f *testing.F) {
	f.Add([]byte(fuzzMeta + "-- root/proc/1/comm --\ninit\n-- link/proc/1/exe --\n/sbin/init\n-- cmd//bin/x y --\nout\n-- api/processes.json --\n[]\n"))
	f.Add([]byte("-- snapshot.json --\n{\"os\":\"windows\",\"hostname\":\"w\",\"captured\":\"2026-11-28T10:00:00+09:00\",\"arch\":\"arm64\"}\n-- root/a (base64) --\nAAEC\n-- root/C:/b --\n-- x --\n"))
	f.Add([]byte("-- snapshot.json --\n{}\n"))
	f.Add([]byte(fuzzMeta + "-- root/a --\nx\n-- link/a/b --\n/c\n"))
	f.Add([]byte(fuzzMeta + "-- link/a --\n/etc\n-- link/a/b --\n/c\n"))
	f.Add([]byte(fuzzMeta + "-- cmd/x --\nx\n-- cmd/x (base64) --\neQo=\n"))
	f.Add([]byte(fuzzMeta + "-- api/x.json --\n1\n-- api/x.json (base64) --\nMgo=\n"))
	f.Add([]byte(fuzzMeta + "-- cmd/0  (base64) --\n-- root/b (base64) (base64) --\neQo=\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := ParseSnapshot(data)
		for _, b := range snapshotProblems(data, s, err) {
			t.Error(b)
		}
	})
}

// TestSnapshotPropertiesCatchFaults shows that each property
// FuzzParseSnapshot checks fails on a result that breaks it, so that the
// fuzzer cannot pass by checking nothing.
func TestSnapshotPropertiesCatchFaults(t *testing.T) {
	data := []byte(fuzzMeta + "-- root/etc/x --\nx\n-- link/bin --\n/usr/bin\n-- cmd//bin/ls --\nout\n-- api/processes.json --\n[]\n")
	parse := func() *Snapshot {
		s, err := ParseSnapshot(data)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	if bad := snapshotProblems(data, parse(), nil); len(bad) > 0 {
		t.Fatalf("a sound snapshot breaks the properties: %v", bad)
	}
	for _, c := range []struct {
		name   string
		tamper func(s *Snapshot) error
	}{
		{"an error that names no entry", func(*Snapshot) error { return fmt.Errorf("bad JSON") }},
		{"an entry lost", func(s *Snapshot) error { delete(s.Cmds, "/bin/ls"); return nil }},
		{"unknown os", func(s *Snapshot) error { s.Meta.OS = "beos"; return nil }},
		{"no hostname", func(s *Snapshot) error { s.Meta.Hostname = ""; return nil }},
		{"relative path", func(s *Snapshot) error { s.Files["etc/y"] = nil; delete(s.Files, "/etc/x"); return nil }},
		{"unclean path", func(s *Snapshot) error {
			s.Files["/etc/../x"] = s.Files["/etc/x"]
			delete(s.Files, "/etc/x")
			return nil
		}},
		{"file and link", func(s *Snapshot) error { s.Links["/etc/x"] = "/y"; delete(s.Links, "/bin"); return nil }},
		{"file under a link", func(s *Snapshot) error { s.Files["/bin/sh"] = s.Files["/etc/x"]; delete(s.Files, "/etc/x"); return nil }},
		{"empty command line", func(s *Snapshot) error { s.Cmds[""] = s.Cmds["/bin/ls"]; delete(s.Cmds, "/bin/ls"); return nil }},
		{"api not JSON", func(s *Snapshot) error { s.APIs["processes"] = []byte("[{"); return nil }},
		{"bad api name", func(s *Snapshot) error {
			s.APIs["Pro cesses"] = s.APIs["processes"]
			delete(s.APIs, "processes")
			return nil
		}},
		{"more content than input", func(s *Snapshot) error { s.Files["/etc/x"] = make([]byte, len(data)); return nil }},
		{"round trip loses a field", func(s *Snapshot) error { s.Meta.Captured = time.Time{}; return nil }},
		{"round trip changes an entry", func(s *Snapshot) error {
			s.Cmds["/bin/ls\nx"] = s.Cmds["/bin/ls"]
			delete(s.Cmds, "/bin/ls")
			return nil
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := parse()
			err := c.tamper(s)
			if bad := snapshotProblems(data, s, err); len(bad) == 0 {
				t.Error("snapshotProblems found nothing wrong")
			}
		})
	}
}

// replayProblems returns how a replay of data breaks what SNAPSHOT.md
// promises. open replays it (Open, or Snapshot.Host on its entries taken
// as they are) and returns what it replayed, or its error; sentinel is the
// directory that holds the snapshot file and the temporary directory.
//
//   - A refusal names an entry of the archive (its name, shortened when
//     long), or says the input is not a snapshot.
//   - The tree stays inside its root: every recorded file reads back as
//     recorded, every link reads back as recorded and resolves to the root
//     or to a path of the tree (a file read through it is a recorded
//     file), and listing the tree from / shows the recorded paths and their
//     directories, nothing else.
//   - Nothing is written: after the replay and its Close, the sentinel
//     directory holds what it held before.
//   - The work is bounded: building the tree visits at most two path
//     elements per byte of input.
func replayProblems(data []byte, sentinel string, open func() (*Snapshot, *tree, *Host, error)) []string {
	var bad []string
	before, err := listAll(sentinel)
	if err != nil {
		return []string{err.Error()}
	}
	s, tr, h, err := open()
	if tr != nil && tr.steps > 2*len(data) {
		bad = append(bad, fmt.Sprintf("%d path elements visited for %d bytes of input", tr.steps, len(data)))
	}
	if err != nil {
		if p := namesEntry(data, err); p != "" {
			bad = append(bad, p)
		}
	} else {
		bad = append(bad, treeProblems(s, tr, h)...)
		if err := h.Close(); err != nil {
			bad = append(bad, fmt.Sprintf("close: %v", err))
		}
	}
	after, err := listAll(sentinel)
	if err != nil {
		return append(bad, err.Error())
	}
	if !slices.Equal(before, after) {
		bad = append(bad, fmt.Sprintf("the replay wrote beside the snapshot or in the temporary directory: %q, then %q", before, after))
	}
	return bad
}

// namesEntry returns what is wrong with err as a refusal of data: it must
// say that data is not a snapshot, or name an entry of it.
func namesEntry(data []byte, err error) string {
	msg := err.Error()
	if i := strings.Index(msg, ": "); strings.HasPrefix(msg, "snapshot ") && i >= 0 {
		msg = msg[i+2:] // Open's "snapshot FILE: "
	}
	if strings.HasPrefix(msg, "not a farmwatch snapshot") || strings.HasPrefix(msg, "entry snapshot.json: ") {
		return ""
	}
	q, qerr := strconv.QuotedPrefix(strings.TrimPrefix(msg, "entry "))
	if !strings.HasPrefix(msg, "entry ") || qerr != nil {
		return fmt.Sprintf("error %q does not name the entry at fault", err)
	}
	name, _ := strconv.Unquote(q)
	short, cut := strings.CutSuffix(name, "...")
	cut = cut && len(short) == maxNameShown
	for _, f := range txtar.Parse(data).Files {
		for _, n := range []string{f.Name, strings.TrimSuffix(f.Name, base64Suffix)} {
			if n == name || cut && strings.HasPrefix(n, short) {
				return ""
			}
		}
	}
	return fmt.Sprintf("error %q names no entry of the snapshot", err)
}

func treeProblems(s *Snapshot, tr *tree, h *Host) []string {
	var bad []string
	// Every path that may appear, with what is there: the recorded paths
	// and their directories.
	want := map[string]string{}
	for p := range s.Files {
		want[p] = "file"
	}
	for p := range s.Links {
		want[p] = "link"
	}
	for p := range want {
		for q := path.Dir(p); q != "/" && q != "."; q = path.Dir(q) {
			if _, ok := want[q]; !ok {
				want[q] = "directory"
			}
		}
	}
	for p, b := range s.Files {
		if got, err := h.ReadFile(p); len(b) <= MaxFileSize && (err != nil || !bytes.Equal(got, b)) {
			bad = append(bad, fmt.Sprintf("ReadFile(%q) = %q, %v; recorded %q", p, got, err, b))
		}
	}
	for p, target := range s.Links {
		if got, err := h.Readlink(p); err != nil || got != target {
			bad = append(bad, fmt.Sprintf("Readlink(%q) = %q, %v; recorded %q", p, got, err, target))
		}
		n, err := tr.lookup(p, true)
		if err != nil {
			if !errors.Is(err, fs.ErrNotExist) && !errors.Is(err, syscall.ENOTDIR) {
				bad = append(bad, fmt.Sprintf("link %q: %v", p, err))
			}
			continue
		}
		if back, err := tr.lookup(n.path, false); err != nil || back != n || (n.path != "/" && want[n.path] == "") {
			bad = append(bad, fmt.Sprintf("link %q resolves to %q, not a path of the tree", p, n.path))
		}
		if got, err := h.ReadFile(p); err == nil && !bytes.Equal(got, s.Files[n.path]) {
			bad = append(bad, fmt.Sprintf("ReadFile(%q) through the link = %q, not the recorded %q", p, got, n.path))
		}
	}
	listed := map[string]string{}
	var list func(dir string)
	list = func(dir string) {
		ents, err := h.ReadDir(dir)
		if err != nil {
			bad = append(bad, fmt.Sprintf("ReadDir(%q): %v", dir, err))
			return
		}
		for _, e := range ents {
			p := path.Join(dir, e.Name)
			switch {
			case e.IsDir:
				listed[p] = "directory"
				list(p)
			case e.Symlink:
				listed[p] = "link"
			default:
				listed[p] = "file"
			}
		}
	}
	list("/")
	if diff := cmp.Diff(want, listed); diff != "" {
		bad = append(bad, "the tree listed is not the tree recorded (-recorded +listed):\n"+diff)
	}
	return bad
}

// listAll lists every path under dir.
func listAll(dir string) ([]string, error) {
	var out []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		out = append(out, p)
		return err
	})
	return out, err
}

// rawSnapshot takes the root/ and link/ entries of data as they are, with
// none of ParseSnapshot's checks, for Snapshot.Host to check.
func rawSnapshot(data []byte) *Snapshot {
	s := &Snapshot{Meta: Meta{OS: "linux", Hostname: "h"}, Files: map[string][]byte{}, Links: map[string]string{}}
	for _, f := range txtar.Parse(data).Files {
		name, b := f.Name, f.Data
		if n, ok := strings.CutSuffix(name, base64Suffix); ok {
			d, err := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(string(b)), ""))
			if err != nil {
				continue
			}
			name, b = n, d
		}
		if rest, ok := strings.CutPrefix(name, "root/"); ok {
			s.Files["/"+rest] = b
		} else if rest, ok := strings.CutPrefix(name, "link/"); ok {
			s.Links["/"+rest] = string(b)
		}
	}
	return s
}

// replaySeeds are the attacks, each as a snapshot.
func replaySeeds() [][]byte {
	chain := func(n int) []string {
		var kv []string
		for i := range n {
			kv = append(kv, fmt.Sprintf("link/l%d", i), fmt.Sprintf("/l%d", i+1))
		}
		return kv
	}
	double := []string{"root/d/f", "f\n"}
	for i := range 12 {
		double = append(double, fmt.Sprintf("link/d/a%d", i), fmt.Sprintf("a%d/a%d", i+1, i+1))
	}
	seeds := [][]byte{
		archive("link/a", "/tmp", "link/a/b", "planted"),
		archive("link/a", "..", "link/a/b", "planted"), // lands beside an unpacked tree
		archive("link/a", "../..", "link/a/b/c", "planted"),
		archive("link/a", "/tmp", "root/a/f", "planted\n"),
		archive("root/a/f", "planted\n", "link/a", "/tmp"),
		archive("link/a", "/real", "root/real/f", "x\n", "link/b", "../../../..", "link/c", "real/f"),
		archive("root"+strings.Repeat("/a", 1000), "x\n"),
		archive("root"+strings.Repeat("/a", MaxPathDepth), "x\n", "link/up", strings.Repeat("../", 200)+"a"),
		archive(chain(MaxLinkHops + 1)...),
		archive(chain(MaxLinkHops - 1)...),
		archive(double...),
		archive("link/a", "/b", "link/b", "/a"),
		archive("root/../../etc/passwd", "x\n"),
		archive("link/x", strings.Repeat("y", MaxPathLen+1)),
		archive("root/a\x00b", "x\n", "root/\x1b[2J", "x\n"),
		archive("root/a\\..\\..\\b", "x\n", "root/C:/w", "w\n"),
		archive("root/a", "x\n", "root/a", "y\n"),
	}
	if b, err := os.ReadFile("../../testdata/hosts/linux-clean.txtar"); err == nil {
		seeds = append(seeds, b)
	}
	return seeds
}

// FuzzReplay checks replayProblems on any input, replayed both by Open and
// by Snapshot.Host over its entries taken as they are.
func FuzzReplay(f *testing.F) {
	for _, s := range replaySeeds() {
		f.Add(s)
	}
	sentinel := f.TempDir()
	tmp := filepath.Join(sentinel, "tmp")
	if err := os.Mkdir(tmp, 0o700); err != nil {
		f.Fatal(err)
	}
	for _, v := range []string{"TMPDIR", "TMP", "TEMP"} {
		f.Setenv(v, tmp)
	}
	file := filepath.Join(sentinel, "snapshot.txtar")
	f.Fuzz(func(t *testing.T, data []byte) {
		if err := os.WriteFile(file, data, 0o600); err != nil {
			t.Fatal(err)
		}
		open := func() (*Snapshot, *tree, *Host, error) {
			h, err := Open(file)
			s, tr, perr := parseSnapshot(data)
			switch {
			case err == nil && perr == nil:
				return s, h.tree, h, nil
			case err == nil || perr == nil || !strings.HasSuffix(err.Error(), ": "+perr.Error()):
				if h != nil {
					h.Close()
				}
				return nil, tr, nil, fmt.Errorf("Open: %v; ParseSnapshot: %v", err, perr)
			}
			return nil, tr, nil, err
		}
		for _, b := range replayProblems(data, sentinel, open) {
			t.Error("Open: " + b)
		}
		raw := rawSnapshot(data)
		host := func() (*Snapshot, *tree, *Host, error) {
			h, err := raw.Host()
			if err != nil {
				tr, _ := buildTree(raw.Files, raw.Links) // for its count of steps
				return nil, tr, nil, err
			}
			return raw, h.tree, h, nil
		}
		for _, b := range replayProblems(data, sentinel, host) {
			t.Error("Snapshot.Host: " + b)
		}
	})
}

// TestReplayPropertiesCatchFaults shows that each property FuzzReplay
// checks fails on a replay that breaks it.
func TestReplayPropertiesCatchFaults(t *testing.T) {
	sentinel := t.TempDir()
	data := archive("root/etc/x", "x\n", "link/l", "/etc/x", "link/d", "etc", "link/n", "/nowhere")
	good := func() (*Snapshot, *tree, *Host, error) {
		s, tr, err := parseSnapshot(data)
		if err != nil {
			t.Fatal(err)
		}
		return s, tr, s.replay(tr), nil
	}
	if bad := replayProblems(data, sentinel, good); len(bad) > 0 {
		t.Fatalf("a sound replay breaks the properties: %v", bad)
	}
	for _, c := range []struct {
		name, want string
		tamper     func(s *Snapshot, tr *tree, h *Host) error
	}{
		{"an error that names no entry", "does not name the entry", func(*Snapshot, *tree, *Host) error { return errors.New("boom") }},
		{"an error that names another entry", "names no entry of the snapshot", func(*Snapshot, *tree, *Host) error { return errors.New(`entry "root/etc/y": boom`) }},
		{"a link resolved outside the tree", "not a path of the tree", func(_ *Snapshot, tr *tree, _ *Host) error {
			l, _ := tr.lookup("/l", false)
			l.to = &node{kind: fileNode, path: "/etc/x", data: []byte("the machine's\n")}
			return nil
		}},
		{"a link resolved to a path not recorded", "not a path of the tree", func(_ *Snapshot, tr *tree, _ *Host) error {
			l, _ := tr.lookup("/d", false)
			l.to = &node{kind: dirNode, path: "/proc", children: map[string]*node{}}
			return nil
		}},
		{"a file read back wrong", "ReadFile(\"/etc/x\")", func(_ *Snapshot, tr *tree, _ *Host) error {
			n, _ := tr.lookup("/etc/x", false)
			n.data = []byte("y\n")
			return nil
		}},
		{"a path listed that was not recorded", "the tree listed is not the tree recorded", func(_ *Snapshot, tr *tree, _ *Host) error {
			tr.root.children["passwd"] = &node{kind: fileNode, path: "/passwd"}
			return nil
		}},
		{"a file written beside the snapshot", "the replay wrote", func(*Snapshot, *tree, *Host) error {
			return os.WriteFile(filepath.Join(sentinel, "planted"), nil, 0o600)
		}},
		{"too much work", "path elements visited", func(_ *Snapshot, tr *tree, _ *Host) error { tr.steps = 2*len(data) + 1; return nil }},
	} {
		t.Run(c.name, func(t *testing.T) {
			bad := replayProblems(data, sentinel, func() (*Snapshot, *tree, *Host, error) {
				s, tr, h, _ := good()
				if err := c.tamper(s, tr, h); err != nil {
					return nil, tr, nil, err
				}
				return s, tr, h, nil
			})
			if !strings.Contains(strings.Join(bad, "\n"), c.want) {
				t.Errorf("replayProblems found %q, want %q", bad, c.want)
			}
			os.Remove(filepath.Join(sentinel, "planted"))
		})
	}
}
