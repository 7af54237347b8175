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
// "C:/ProgramData/AnyDesk/system.conf"). The live Host maps them into its
// root. A --root directory and a snapshot are trees of their own: their
// symbolic links are resolved inside them, never on the machine doing the
// scan, and a snapshot is held in memory, never unpacked to disk.
package host

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
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
	root     string   // filesystem root, OS-native path: "/", "" (live Windows) or a --root directory
	dir      *os.Root // a --root directory, opened
	tree     *tree    // a snapshot's files and links
	live     bool     // commands and OS APIs reach the running machine
	source   string

	cmds map[string][]byte // replay: "cmd/..." entries by command line
	apis map[string][]byte // replay: "api/..." entries by name

	rec     *recorder
	cleanup func() error
	run     runFunc

	cacheMu  sync.Mutex
	dirCache map[string]string // resolved directories of a --root directory

	bufs sync.Pool // scratch buffers for reading live files (readLive)

	sharedMu sync.Mutex
	shared   map[string]*sharedValue // readings shared by the sensors (Shared)
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
	r, err := os.OpenRoot(abs)
	if err != nil {
		return nil, fmt.Errorf("root %s: %w", dir, err)
	}
	h := &Host{os: runtime.GOOS, root: abs, dir: r, cleanup: r.Close, source: "root:" + dir}
	// Read as a file of the tree: a link named snapshot.json leads inside it.
	if b, err := h.ReadFile("/snapshot.json"); err == nil {
		m, err := parseMeta(b)
		if err != nil {
			r.Close()
			return nil, fmt.Errorf("root %s: snapshot.json: %w", dir, err)
		}
		h.setMeta(m)
	} else if !errors.Is(err, fs.ErrNotExist) {
		r.Close()
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

// Close releases what the host holds (a --root directory's handle).
func (h *Host) Close() error {
	if h.cleanup == nil {
		return nil
	}
	err := h.cleanup()
	h.cleanup = nil
	return err
}
