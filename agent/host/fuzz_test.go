package host

import (
	"bytes"
	"encoding/json"
	"fmt"
	"path"
	"strings"
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
