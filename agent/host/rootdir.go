package host

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
)

// A --root directory's links are resolved here inside it, so that a link
// ("/etc/localtime" -> "/usr/share/zoneinfo/...") never leads out to the
// machine the agent runs on.

// disk maps a resolved host path into the --root directory.
func (h *Host) disk(r string) string { return filepath.Join(h.root, filepath.FromSlash(r)) }

// rootResolve resolves a clean host path inside the --root directory: its
// directories, then its last element too when follow is set.
func (h *Host) rootResolve(clean string, follow bool) (string, error) {
	var r string
	var err error
	if follow {
		r, err = h.resolveLast(clean, 0)
	} else {
		r, err = h.resolve(clean)
	}
	if err != nil {
		return "", fmt.Errorf("%s: %w", clean, err)
	}
	return r, nil
}

// resolve follows the symbolic links in the directories of a clean host
// path inside the root. The last element is left alone: Readlink needs the
// link itself, and opening it is resolved by resolveLast.
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

func (h *Host) walk(p string, hops int) (string, error) {
	if p == "/" {
		return "/", nil
	}
	parts := strings.Split(strings.TrimPrefix(p, "/"), "/")
	cur := "/"
	for i := 0; i < len(parts); i++ {
		next := path.Join(cur, parts[i])
		fp := h.disk(next)
		st, err := os.Lstat(fp)
		if err != nil || st.Mode()&fs.ModeSymlink == 0 {
			cur = next
			continue
		}
		if hops++; hops > MaxLinkHops {
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

// resolveLast resolves a clean host path completely inside the root: its
// directories through the cache of resolve, then its last element when that
// is a link.
func (h *Host) resolveLast(clean string, hops int) (string, error) {
	r, err := h.resolve(clean)
	if err != nil {
		return "", err
	}
	fp := h.disk(r)
	st, err := os.Lstat(fp)
	if err != nil || st.Mode()&fs.ModeSymlink == 0 {
		return r, nil // not there (the open reports it) or not a link
	}
	if hops++; hops > MaxLinkHops {
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

func (h *Host) rootOpen(clean string) (*os.File, error) {
	r, err := h.rootResolve(clean, true)
	if err != nil {
		return nil, err
	}
	return os.Open(h.disk(r))
}

func (h *Host) rootLstat(clean string) (fs.FileInfo, error) {
	r, err := h.rootResolve(clean, false)
	if err != nil {
		return nil, err
	}
	return os.Lstat(h.disk(r))
}

func (h *Host) rootReadlink(clean string) (string, error) {
	r, err := h.rootResolve(clean, false)
	if err != nil {
		return "", err
	}
	return os.Readlink(h.disk(r))
}

func (h *Host) rootReadDir(clean string) ([]fs.DirEntry, error) {
	r, err := h.rootResolve(clean, true)
	if err != nil {
		return nil, err
	}
	return os.ReadDir(h.disk(r))
}
