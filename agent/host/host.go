// Package host is the agent's one door to the machine.
//
// A Host is a filesystem root plus an allow-listed command runner and a
// recorder/replayer of OS API results. Sensors read files, run commands and
// call OS APIs only through a Host, never through a literal "/" or PATH. The
// same sensors therefore run on:
//
//   - the live machine (Live),
//   - a directory that mirrors a host (FromRoot),
//   - a captured snapshot (Open), which a live Host records (Record, WriteSnapshot).
//
// Paths given to a Host are host-absolute and slash-separated ("/proc/1/comm",
// "C:/ProgramData/AnyDesk/system.conf"); the Host maps them into its root.
package host

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"time"
)

// MaxFileSize bounds one file read, so that a sensor pointed at a huge or
// endless file (/proc/kcore, a FIFO) cannot exhaust memory.
const MaxFileSize = 16 << 20

// ErrNotRecorded is returned on a replayed host for a command or API call
// that the snapshot does not hold.
var ErrNotRecorded = errors.New("not recorded in the snapshot")

// ErrNotLive is returned when a command or OS API is asked of a host that is
// not the running machine (a --root directory).
var ErrNotLive = errors.New("not available: the host is not the running machine")

// Host is one machine as the sensors see it.
type Host struct {
	os       string
	hostname string
	captured time.Time
	meta     Meta
	root     string // filesystem root, OS-native path
	live     bool   // commands and OS APIs reach the running machine
	source   string

	cmds map[string][]byte // replay: "cmd/..." entries by command line
	apis map[string][]byte // replay: "api/..." entries by name

	rec     *recorder
	cleanup func() error
	run     runFunc

	cacheMu  sync.Mutex
	dirCache map[string]string // resolved directories of a non-live root
}

// Meta is what snapshot.json says of the captured host, besides its entries.
type Meta struct {
	OS        string    `json:"os"`
	Hostname  string    `json:"hostname"`
	Captured  time.Time `json:"captured"`
	OSVersion string    `json:"os_version,omitempty"`
	Arch      string    `json:"arch,omitempty"`
	Kernel    string    `json:"kernel,omitempty"`
	Agent     string    `json:"agent,omitempty"`
}

// Live returns the running machine.
func Live() (*Host, error) {
	hn, err := os.Hostname()
	if err != nil {
		return nil, fmt.Errorf("read hostname: %w", err)
	}
	root := "/"
	if runtime.GOOS == "windows" {
		root = ""
	}
	return &Host{
		os:       runtime.GOOS,
		hostname: hn,
		captured: time.Now().UTC(),
		root:     root,
		live:     true,
		source:   "live",
		run:      execRun,
		meta:     Meta{OS: runtime.GOOS, Hostname: hn, Arch: runtime.GOARCH},
	}, nil
}

// FromRoot returns a host whose filesystem is the directory dir. Its OS and
// name come from dir/snapshot.json when present; otherwise it is taken to be
// of the running OS, named by dir/etc/hostname. Commands and OS APIs are not
// available on it.
func FromRoot(dir string) (*Host, error) {
	st, err := os.Stat(dir)
	if err != nil {
		return nil, fmt.Errorf("root %s: %w", dir, err)
	}
	if !st.IsDir() {
		return nil, fmt.Errorf("root %s: not a directory", dir)
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("root %s: %w", dir, err)
	}
	h := &Host{os: runtime.GOOS, root: abs, source: "root:" + dir}
	if b, err := os.ReadFile(filepath.Join(abs, "snapshot.json")); err == nil {
		m, err := parseMeta(b)
		if err != nil {
			return nil, fmt.Errorf("root %s: snapshot.json: %w", dir, err)
		}
		h.setMeta(m)
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("root %s: %w", dir, err)
	} else {
		h.hostname = firstLine(h, "/etc/hostname", "/proc/sys/kernel/hostname")
		if h.hostname == "" {
			h.hostname = filepath.Base(abs)
		}
		h.captured = time.Now().UTC()
		h.meta = Meta{OS: h.os, Hostname: h.hostname}
	}
	return h, nil
}

// Rename gives a replayed host another name: several replays of captures
// from one machine (a demo fleet, a test) are then told apart. The live
// host cannot be renamed.
func (h *Host) Rename(name string) error {
	if h.live {
		return fmt.Errorf("rename: the live host keeps its own name")
	}
	if name == "" {
		return fmt.Errorf("rename: empty name")
	}
	h.hostname, h.meta.Hostname = name, name
	return nil
}

func (h *Host) setMeta(m Meta) {
	h.meta = m
	h.os = m.OS
	h.hostname = m.Hostname
	h.captured = m.Captured
}

func firstLine(h *Host, paths ...string) string {
	for _, p := range paths {
		if b, err := h.ReadFile(p); err == nil {
			if s := strings.TrimSpace(strings.SplitN(string(b), "\n", 2)[0]); s != "" {
				return s
			}
		}
	}
	return ""
}

// OS is "linux", "darwin" or "windows".
func (h *Host) OS() string { return h.os }

// Hostname is the host's name.
func (h *Host) Hostname() string { return h.hostname }

// Captured is when a snapshot was taken, or when a live host was opened.
func (h *Host) Captured() time.Time { return h.captured }

// Meta is what is known of the host beside its files.
func (h *Host) Meta() Meta { return h.meta }

// Source says where the host's data comes from: live, root:DIR or snapshot:FILE.
func (h *Host) Source() string { return h.source }

// Live reports whether the host is the running machine.
func (h *Host) Live() bool { return h.live }

// Close releases what the host holds (a replayed snapshot's unpacked tree).
func (h *Host) Close() error {
	if h.cleanup == nil {
		return nil
	}
	err := h.cleanup()
	h.cleanup = nil
	return err
}

// path maps a host-absolute slash path into the root.
func (h *Host) path(p string) (string, error) {
	if p == "" {
		return "", errors.New("empty path")
	}
	clean := path.Clean("/" + strings.TrimPrefix(p, "/"))
	if h.root == "" { // live Windows: the path is the path
		return filepath.FromSlash(strings.TrimPrefix(clean, "/")), nil
	}
	if h.live {
		return filepath.Join(h.root, filepath.FromSlash(clean)), nil
	}
	r, err := h.resolve(clean)
	if err != nil {
		return "", fmt.Errorf("%s: %w", p, err)
	}
	return filepath.Join(h.root, filepath.FromSlash(r)), nil
}

// resolve follows the symbolic links in the directories of a clean host
// path inside the root, so that a link in a --root tree or a snapshot
// ("/etc/localtime" -> "/usr/share/zoneinfo/...") never leads out to the
// machine the agent runs on. The last element is left alone: Readlink needs
// the link itself, and opening it is resolved by the walk of its target
// through resolveFinal.
func (h *Host) resolve(clean string) (string, error) {
	dir, last := path.Split(clean)
	dir = path.Clean(dir)
	h.cacheMu.Lock()
	d, ok := h.dirCache[dir]
	h.cacheMu.Unlock()
	if !ok {
		var err error
		if d, err = h.walk(dir, 0); err != nil {
			return "", err
		}
		// A replayed tree never changes, so a resolved directory stays
		// resolved; a --root tree might, but a scan is one pass.
		h.cacheMu.Lock()
		if h.dirCache == nil {
			h.dirCache = map[string]string{}
		}
		h.dirCache[dir] = d
		h.cacheMu.Unlock()
	}
	return path.Join(d, last), nil
}

const maxLinkHops = 40

func (h *Host) walk(p string, hops int) (string, error) {
	if p == "/" {
		return "/", nil
	}
	parts := strings.Split(strings.TrimPrefix(p, "/"), "/")
	cur := "/"
	for i := 0; i < len(parts); i++ {
		next := path.Join(cur, parts[i])
		fp := filepath.Join(h.root, filepath.FromSlash(next))
		st, err := os.Lstat(fp)
		if err != nil || st.Mode()&fs.ModeSymlink == 0 {
			cur = next
			continue
		}
		if hops++; hops > maxLinkHops {
			return "", errors.New("too many levels of symbolic links")
		}
		t, err := os.Readlink(fp)
		if err != nil {
			return "", err
		}
		if !path.IsAbs(t) {
			t = path.Join(cur, t)
		}
		t, err = h.walk(path.Clean(t), hops)
		if err != nil {
			return "", err
		}
		cur = t
	}
	return cur, nil
}

// readAll reads f up to one byte over MaxFileSize, into a buffer sized from
// its stat as os.ReadFile does: io.ReadAll's doubling makes three times a
// large file (dpkg's status) in garbage at every scan. Files that say
// nothing of their size (/proc) start at 512 bytes.
func readAll(f *os.File) ([]byte, error) {
	size := 512
	if st, err := f.Stat(); err == nil && st.Mode().IsRegular() && st.Size() > 0 && st.Size() < MaxFileSize {
		size = int(st.Size()) + 1 // one more, to see EOF without growing
	}
	b := make([]byte, 0, size)
	r := io.LimitReader(f, MaxFileSize+1)
	for {
		n, err := r.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if err == io.EOF {
			return b, nil
		}
		if err != nil {
			return b, err
		}
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)] // let append grow it
		}
	}
}

// ReadFile reads a file of the host, at most MaxFileSize bytes.
func (h *Host) ReadFile(p string) ([]byte, error) {
	fp, err := h.openPath(p)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(fp)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := readAll(f)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", p, err)
	}
	if len(b) > MaxFileSize {
		return nil, fmt.Errorf("read %s: larger than %d bytes", p, MaxFileSize)
	}
	h.recordFile(p, fp, b)
	return b, nil
}

// recordFile records a file that was read; when the path is a symbolic
// link, the link and the file at its end are recorded, so the snapshot keeps
// both what Readlink and what ReadFile see.
func (h *Host) recordFile(p, fp string, b []byte) {
	if h.rec == nil {
		return
	}
	if st, err := os.Lstat(fp); err == nil && st.Mode()&fs.ModeSymlink != 0 && h.root == "/" {
		t, err1 := os.Readlink(fp)
		end, err2 := filepath.EvalSymlinks(fp)
		if err1 == nil && err2 == nil {
			h.rec.link(p, t)
			h.rec.file(filepath.ToSlash(end), b)
			return
		}
	}
	h.rec.file(p, b)
}

// openPath maps a path to be opened (followed to the end) into the root.
func (h *Host) openPath(p string) (string, error) {
	if h.live || h.root == "" {
		return h.path(p)
	}
	if p == "" {
		return "", errors.New("empty path")
	}
	r, err := h.resolveLast(path.Clean("/"+strings.TrimPrefix(p, "/")), 0)
	if err != nil {
		return "", fmt.Errorf("%s: %w", p, err)
	}
	return filepath.Join(h.root, filepath.FromSlash(r)), nil
}

// resolveLast resolves a clean host path completely inside the root: its
// directories through the cache of resolve, then its last element when that
// is a link.
func (h *Host) resolveLast(clean string, hops int) (string, error) {
	r, err := h.resolve(clean)
	if err != nil {
		return "", err
	}
	fp := filepath.Join(h.root, filepath.FromSlash(r))
	st, err := os.Lstat(fp)
	if err != nil || st.Mode()&fs.ModeSymlink == 0 {
		return r, nil // not there (the open reports it) or not a link
	}
	if hops++; hops > maxLinkHops {
		return "", errors.New("too many levels of symbolic links")
	}
	t, err := os.Readlink(fp)
	if err != nil {
		return "", err
	}
	if !path.IsAbs(t) {
		t = path.Join(path.Dir(r), t)
	}
	return h.resolveLast(path.Clean(t), hops)
}

// Readlink returns the target of a symbolic link of the host, as stored.
func (h *Host) Readlink(p string) (string, error) {
	fp, err := h.path(p)
	if err != nil {
		return "", err
	}
	t, err := os.Readlink(fp)
	if err != nil {
		return "", err
	}
	h.rec.link(p, t)
	return t, nil
}

// Entry is one directory entry.
type Entry struct {
	Name    string
	IsDir   bool
	Symlink bool
}

// ReadDir lists a directory of the host, sorted by name.
func (h *Host) ReadDir(p string) ([]Entry, error) {
	fp, err := h.openPath(p)
	if err != nil {
		return nil, err
	}
	des, err := os.ReadDir(fp)
	if err != nil {
		return nil, err
	}
	out := make([]Entry, 0, len(des))
	for _, d := range des {
		out = append(out, Entry{Name: d.Name(), IsDir: d.IsDir(), Symlink: d.Type()&fs.ModeSymlink != 0})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// Glob returns the host paths matching a slash pattern (path.Match syntax in
// each element), sorted.
func (h *Host) Glob(pattern string) ([]string, error) {
	fp, err := h.path(pattern)
	if err != nil {
		return nil, err
	}
	ms, err := filepath.Glob(fp)
	if err != nil {
		return nil, fmt.Errorf("glob %s: %w", pattern, err)
	}
	out := make([]string, 0, len(ms))
	for _, m := range ms {
		rel := m
		if h.root != "" {
			r, err := filepath.Rel(h.root, m)
			if err != nil {
				continue
			}
			rel = "/" + filepath.ToSlash(r)
		} else {
			rel = filepath.ToSlash(m)
		}
		out = append(out, rel)
	}
	sort.Strings(out)
	return out, nil
}
