package host

import (
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
)

// A --root directory is read through an os.Root, after its links are
// resolved here inside it: an absolute target starts at the directory, and
// ".." stops there, so a link ("/etc/localtime" -> "/usr/share/zoneinfo/...")
// never leads out to the machine the agent runs on. The os.Root refuses
// what would still lead out, should the tree change under the scan.
//
// As Linux does, one lookup follows at most MaxLinkHops links in all, so
// that links whose targets name other links many times over cannot make it
// take longer than that.

// rel is a resolved host path as a name inside the os.Root.
func rel(p string) string {
	if p == "/" {
		return "."
	}
	return filepath.FromSlash(strings.TrimPrefix(p, "/"))
}

// rootResolve resolves a clean host path inside the --root directory: its
// directories, then its last element too when follow is set.
func (h *Host) rootResolve(clean string, follow bool) (string, error) {
	if len(clean) > MaxPathLen {
		return "", &fs.PathError{Op: "resolve", Path: clean, Err: syscall.ENAMETOOLONG}
	}
	hops := 0
	r, err := h.rootParent(clean, &hops)
	for err == nil && follow {
		st, lerr := h.dir.Lstat(rel(r))
		if lerr != nil || st.Mode()&fs.ModeSymlink == 0 {
			break // not there (the open reports it) or not a link
		}
		var t string
		if t, err = h.rootFollow(r, &hops); err == nil {
			r, err = h.rootParent(t, &hops)
		}
	}
	if err != nil {
		return "", fmt.Errorf("%s: %w", clean, err)
	}
	return r, nil
}

// rootParent resolves the directories of a clean host path, and keeps
// its last element as it is: Readlink needs the link itself.
func (h *Host) rootParent(clean string, hops *int) (string, error) {
	dir, last := path.Split(clean)
	dir = path.Clean(dir)
	h.cacheMu.Lock()
	d, ok := h.dirCache[dir]
	h.cacheMu.Unlock()
	if !ok {
		var err error
		if d, err = h.rootWalk(dir, hops); err != nil {
			return "", err
		}
		// A scan is one pass: a resolved directory stays resolved.
		h.cacheMu.Lock()
		if h.dirCache == nil {
			h.dirCache = map[string]string{}
		}
		h.dirCache[dir] = d
		h.cacheMu.Unlock()
	}
	return path.Join(d, last), nil
}

// rootFollow reads the link at the resolved path r and returns its target
// as a clean host path, counting one hop.
func (h *Host) rootFollow(r string, hops *int) (string, error) {
	if *hops++; *hops > MaxLinkHops {
		return "", errLinkLoop
	}
	t, err := h.dir.Readlink(rel(r))
	if err != nil {
		return "", err
	}
	if len(t) > MaxPathLen {
		return "", syscall.ENAMETOOLONG
	}
	if !path.IsAbs(t) {
		t = path.Join(path.Dir(r), t)
	}
	return path.Clean(t), nil
}

// rootWalk resolves every element of a clean host path. An element that is
// not there is kept as it is: opening the path reports it.
func (h *Host) rootWalk(p string, hops *int) (string, error) {
	if p == "/" {
		return "/", nil
	}
	cur := "/"
	for part := range strings.SplitSeq(p[1:], "/") {
		next := path.Join(cur, part)
		st, err := h.dir.Lstat(rel(next))
		if err != nil || st.Mode()&fs.ModeSymlink == 0 {
			cur = next
			continue
		}
		t, err := h.rootFollow(next, hops)
		if err != nil {
			return "", err
		}
		if cur, err = h.rootWalk(t, hops); err != nil {
			return "", err
		}
	}
	return cur, nil
}

func (h *Host) rootOpen(clean string) (*os.File, error) {
	r, err := h.rootResolve(clean, true)
	if err != nil {
		return nil, err
	}
	return h.dir.Open(rel(r))
}

func (h *Host) rootLstat(clean string) (fs.FileInfo, error) {
	r, err := h.rootResolve(clean, false)
	if err != nil {
		return nil, err
	}
	return h.dir.Lstat(rel(r))
}

func (h *Host) rootReadlink(clean string) (string, error) {
	r, err := h.rootResolve(clean, false)
	if err != nil {
		return "", err
	}
	return h.dir.Readlink(rel(r))
}

func (h *Host) rootReadDir(clean string) ([]fs.DirEntry, error) {
	f, err := h.rootOpen(clean)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	des, err := f.ReadDir(-1)
	slices.SortFunc(des, func(a, b fs.DirEntry) int { return strings.Compare(a.Name(), b.Name()) })
	return des, err
}
