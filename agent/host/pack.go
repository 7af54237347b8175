package host

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"golang.org/x/tools/txtar"
)

// Format writes the snapshot in the txtar format, entries sorted.
func (s *Snapshot) Format() ([]byte, error) {
	mb, err := json.MarshalIndent(s.Meta, "", "  ")
	if err != nil {
		return nil, err
	}
	entries := map[string][]byte{}
	for p, b := range s.Files {
		entries["root"+p] = b
	}
	for p, t := range s.Links {
		entries["link"+p] = []byte(t)
	}
	for l, b := range s.Cmds {
		entries["cmd/"+l] = b
	}
	for n, b := range s.APIs {
		entries["api/"+n+".json"] = b
	}
	names := make([]string, 0, len(entries))
	for n := range entries {
		names = append(names, n)
	}
	sort.Strings(names)
	a := &txtar.Archive{Comment: []byte("farmwatch host snapshot; format: SNAPSHOT.md\n")}
	a.Files = append(a.Files, txtar.File{Name: "snapshot.json", Data: append(mb, '\n')})
	for _, n := range names {
		a.Files = append(a.Files, encodeEntry(n, entries[n]))
	}
	return txtar.Format(a), nil
}

// Pack builds a snapshot from an unpacked source directory, for hosts that
// cannot be captured here (recorded outputs of macOS and Windows APIs and
// commands). The directory holds:
//
//	snapshot.json       as in a snapshot
//	root/<path>         files
//	link/<path>         files whose content is a link target
//	cmd/<any>.txt       a first line "$ <command line>", then the output
//	api/<name>.json     OS API results
//
// The result goes through ParseSnapshot, so it obeys every rule a captured
// snapshot does.
func Pack(dir string) (*Snapshot, error) {
	var a txtar.Archive
	meta, err := os.ReadFile(filepath.Join(dir, "snapshot.json"))
	if err != nil {
		return nil, fmt.Errorf("pack %s: %w", dir, err)
	}
	a.Files = append(a.Files, txtar.File{Name: "snapshot.json", Data: meta})
	s := &Snapshot{Files: map[string][]byte{}, Links: map[string]string{}, Cmds: map[string][]byte{}, APIs: map[string][]byte{}}
	m, err := parseMeta(meta)
	if err != nil {
		return nil, fmt.Errorf("pack %s: snapshot.json: %w", dir, err)
	}
	s.Meta = m
	for _, kind := range []string{"root", "link", "cmd", "api"} {
		base := filepath.Join(dir, kind)
		err := filepath.WalkDir(base, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				if os.IsNotExist(err) && p == base {
					return fs.SkipDir
				}
				return err
			}
			if d.IsDir() {
				return nil
			}
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			rel, _ := filepath.Rel(base, p)
			rel = filepath.ToSlash(rel)
			switch kind {
			case "root":
				s.Files["/"+rel] = b
			case "link":
				s.Links["/"+rel] = strings.TrimRight(string(b), "\n")
			case "cmd":
				first, rest, _ := bytes.Cut(b, []byte("\n"))
				line, ok := strings.CutPrefix(string(first), "$ ")
				if !ok {
					return fmt.Errorf("%s: the first line must be \"$ <command line>\"", p)
				}
				s.Cmds[line] = rest
			case "api":
				n, ok := strings.CutSuffix(rel, ".json")
				if !ok {
					return fmt.Errorf("%s: api files are <name>.json", p)
				}
				s.APIs[n] = b
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("pack %s: %w", dir, err)
		}
	}
	out, err := s.Format()
	if err != nil {
		return nil, fmt.Errorf("pack %s: %w", dir, err)
	}
	back, err := ParseSnapshot(out)
	if err != nil {
		return nil, fmt.Errorf("pack %s: %w", dir, err)
	}
	return back, nil
}
