package host

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"golang.org/x/tools/txtar"
)

// The snapshot format (SNAPSHOT.md) is one txtar archive:
//
//	snapshot.json        {"os":..., "hostname":..., "captured": RFC3339}
//	root/<path>          a file's contents
//	link/<path>          a symbolic link's target
//	cmd/<command line>   a command's standard output
//	api/<name>.json      an OS API call's result, as JSON
//
// Contents that are not plain text lines (NUL bytes, invalid UTF-8, no final
// newline, a line that looks like a txtar marker) are stored base64-encoded,
// and the entry's name then ends in base64Suffix. So are the contents of an
// entry whose name ends in white space (which txtar trims from a name) or
// in base64Suffix itself.
const base64Suffix = " (base64)"

// MaxSnapshotSize bounds a snapshot file that is read.
const MaxSnapshotSize = 512 << 20

type recorder struct {
	mu    sync.Mutex
	files map[string][]byte
}

func (r *recorder) put(name string, b []byte) {
	if r == nil {
		return
	}
	r.mu.Lock()
	r.files[name] = bytes.Clone(b)
	r.mu.Unlock()
}

func (r *recorder) file(p string, b []byte)   { r.put("root"+cleanAbs(p), b) }
func (r *recorder) link(p, target string)     { r.put("link"+cleanAbs(p), []byte(target)) }
func (r *recorder) cmd(line string, b []byte) { r.put("cmd/"+line, b) }
func (r *recorder) api(name string, b []byte) { r.put("api/"+name+".json", b) }

func cleanAbs(p string) string { return path.Clean("/" + strings.TrimPrefix(p, "/")) }

// Record starts recording everything the host is asked for, for
// WriteSnapshot. Only a live host or a --root host can be recorded.
func (h *Host) Record() {
	if h.rec == nil {
		h.rec = &recorder{files: map[string][]byte{}}
	}
}

// WriteSnapshot writes what was recorded since Record as a snapshot.
func (h *Host) WriteSnapshot(w io.Writer) error {
	if h.rec == nil {
		return errors.New("write snapshot: the host was not recording")
	}
	m := h.meta
	m.OS, m.Hostname = h.os, h.hostname
	if m.Captured.IsZero() {
		m.Captured = h.captured
	}
	snap := &Snapshot{Meta: m, Files: map[string][]byte{}, Links: map[string]string{}, Cmds: map[string][]byte{}, APIs: map[string][]byte{}}
	h.rec.mu.Lock()
	for n, b := range h.rec.files {
		kind, rest, _ := strings.Cut(n, "/")
		switch kind {
		case "root":
			snap.Files["/"+rest] = b
		case "link":
			snap.Links["/"+rest] = string(b)
		case "cmd":
			snap.Cmds[rest] = b
		case "api":
			snap.APIs[strings.TrimSuffix(rest, ".json")] = b
		}
	}
	h.rec.mu.Unlock()
	out, err := snap.Format()
	if err != nil {
		return fmt.Errorf("write snapshot: %w", err)
	}
	_, err = w.Write(out)
	return err
}

func encodeEntry(name string, b []byte) txtar.File {
	if plainText(b) && strings.TrimRightFunc(name, unicode.IsSpace) == name && !strings.HasSuffix(name, base64Suffix) {
		return txtar.File{Name: name, Data: b}
	}
	enc := base64.StdEncoding.EncodeToString(b)
	var buf strings.Builder
	for len(enc) > 76 {
		buf.WriteString(enc[:76])
		buf.WriteByte('\n')
		enc = enc[76:]
	}
	buf.WriteString(enc)
	buf.WriteByte('\n')
	return txtar.File{Name: name + base64Suffix, Data: []byte(buf.String())}
}

func plainText(b []byte) bool {
	if len(b) == 0 {
		return true
	}
	if b[len(b)-1] != '\n' || !utf8.Valid(b) || bytes.IndexByte(b, 0) >= 0 || bytes.IndexByte(b, '\r') >= 0 {
		return false
	}
	for _, line := range bytes.Split(b, []byte("\n")) {
		if bytes.HasPrefix(line, []byte("-- ")) && bytes.HasSuffix(line, []byte(" --")) {
			return false
		}
	}
	return true
}

// Snapshot is a parsed snapshot file.
type Snapshot struct {
	Meta  Meta
	Files map[string][]byte // root/ entries by host path
	Links map[string]string // link/ entries by host path
	Cmds  map[string][]byte // cmd/ entries by command line
	APIs  map[string][]byte // api/ entries by name (without .json)
}

// ParseSnapshot parses a snapshot. Every error names the entry at fault.
func ParseSnapshot(data []byte) (*Snapshot, error) {
	s, _, err := parseSnapshot(data)
	return s, err
}

// parseSnapshot parses a snapshot and builds the tree of its files and
// links, in one pass over the entries (tree explains why it is linear).
// The tree is returned with an error too, once started, for its count of
// steps.
func parseSnapshot(data []byte) (*Snapshot, *tree, error) {
	a := txtar.Parse(data)
	if len(a.Files) == 0 || a.Files[0].Name != "snapshot.json" {
		return nil, nil, errors.New("not a farmwatch snapshot: the first entry must be snapshot.json")
	}
	m, err := parseMeta(a.Files[0].Data)
	if err != nil {
		return nil, nil, fmt.Errorf("entry snapshot.json: %w", err)
	}
	s := &Snapshot{Meta: m, Files: map[string][]byte{}, Links: map[string]string{}, Cmds: map[string][]byte{}, APIs: map[string][]byte{}}
	t := newTree()
	seen := map[string]bool{}
	for _, f := range a.Files[1:] {
		name, data := f.Name, f.Data
		if err := checkName(name); err != nil {
			return nil, t, entryErrorf(name, "%w", err)
		}
		if n, ok := strings.CutSuffix(name, base64Suffix); ok {
			b, err := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(string(data)), ""))
			if err != nil {
				return nil, t, entryErrorf(name, "bad base64: %w", err)
			}
			name, data = n, b
		}
		// An entry and its base64 form are the same entry.
		if seen[name] {
			return nil, t, entryErrorf(f.Name, "duplicate")
		}
		seen[name] = true
		kind, rest, _ := strings.Cut(name, "/")
		switch kind {
		case "root", "link":
			p := "/" + rest
			if err := t.add(name, p, kind == "link", data); err != nil {
				return nil, t, err
			}
			if kind == "root" {
				s.Files[p] = data
			} else {
				s.Links[p] = string(data)
			}
		case "cmd":
			if rest == "" {
				return nil, t, entryErrorf(name, "empty command line")
			}
			s.Cmds[rest] = data
		case "api":
			n, ok := strings.CutSuffix(rest, ".json")
			if !ok || !apiName.MatchString(n) {
				return nil, t, entryErrorf(name, "api entries are api/<name>.json")
			}
			if !json.Valid(data) {
				return nil, t, entryErrorf(name, "not valid JSON")
			}
			s.APIs[n] = data
		default:
			return nil, t, entryErrorf(name, "unknown kind %q (want root/, link/, cmd/ or api/)", shorten(kind))
		}
	}
	if err := t.resolveLinks(); err != nil {
		return nil, t, err
	}
	return s, t, nil
}

func parseMeta(b []byte) (Meta, error) {
	var m Meta
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&m); err != nil {
		return m, fmt.Errorf("bad JSON: %w", err)
	}
	switch m.OS {
	case "linux", "darwin", "windows":
	default:
		return m, fmt.Errorf("os %q: want linux, darwin or windows", m.OS)
	}
	if m.Hostname == "" {
		return m, errors.New("hostname is empty")
	}
	if m.Captured.IsZero() {
		m.Captured = time.Unix(0, 0).UTC()
	}
	return m, nil
}

// Open replays the snapshot file: its files and links are held in memory,
// never written to disk, and its commands and API results are served from
// memory. The file must be a regular file of at most MaxSnapshotSize bytes.
func Open(file string) (*Host, error) {
	fail := func(err error) (*Host, error) { return nil, fmt.Errorf("snapshot %s: %w", file, err) }
	// Stat before opening: opening a FIFO would block, and a device could
	// be read without end.
	st, err := os.Stat(file)
	if err != nil {
		return fail(err)
	}
	if !st.Mode().IsRegular() {
		return fail(fmt.Errorf("not a regular file: %s", fileKind(st.Mode())))
	}
	if st.Size() > MaxSnapshotSize {
		return fail(fmt.Errorf("larger than %d bytes", MaxSnapshotSize))
	}
	f, err := os.Open(file)
	if err != nil {
		return fail(err)
	}
	defer f.Close()
	if st, err := f.Stat(); err != nil || !st.Mode().IsRegular() { // replaced since the Stat
		return fail(errors.New("not a regular file"))
	}
	data, err := io.ReadAll(io.LimitReader(f, MaxSnapshotSize+1))
	if err != nil {
		return fail(err)
	}
	if len(data) > MaxSnapshotSize {
		return fail(fmt.Errorf("larger than %d bytes", MaxSnapshotSize))
	}
	s, t, err := parseSnapshot(data)
	if err != nil {
		return fail(err)
	}
	h := s.replay(t)
	h.source = "snapshot:" + file
	return h, nil
}

// fileKind names what a file that is not a regular file is.
func fileKind(m fs.FileMode) string {
	switch {
	case m.IsDir():
		return "a directory"
	case m&fs.ModeDevice != 0:
		return "a device"
	case m&fs.ModeNamedPipe != 0:
		return "a named pipe"
	case m&fs.ModeSocket != 0:
		return "a socket"
	}
	return fmt.Sprintf("mode %s", m.Type())
}

// Host returns a replaying host over the snapshot, after checking its files
// and links as ParseSnapshot does. The snapshot is not written to disk.
func (s *Snapshot) Host() (*Host, error) {
	t, err := buildTree(s.Files, s.Links)
	if err != nil {
		return nil, err
	}
	return s.replay(t), nil
}

func (s *Snapshot) replay(t *tree) *Host {
	cmds, apis := s.Cmds, s.APIs
	if cmds == nil {
		cmds = map[string][]byte{}
	}
	if apis == nil {
		apis = map[string][]byte{}
	}
	h := &Host{tree: t, cmds: cmds, apis: apis, source: "snapshot"}
	h.setMeta(s.Meta)
	return h
}
