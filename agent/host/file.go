package host

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
)

// The file methods of a Host. Each takes a host path and serves it from
// one of three places:
//
//   - the live machine: the path under its root, as the OS resolves it;
//   - a --root directory (rootdir.go): its links are resolved inside it;
//   - a snapshot's tree (tree.go), in memory.

// hostPath cleans a host path given to a Host.
func hostPath(p string) (string, error) {
	if p == "" {
		return "", errors.New("empty path")
	}
	return cleanAbs(p), nil
}

// livePath maps a clean host path onto the live machine.
func (h *Host) livePath(clean string) string {
	if h.root == "" { // live Windows: the path is the path
		return filepath.FromSlash(strings.TrimPrefix(clean, "/"))
	}
	return filepath.Join(h.root, filepath.FromSlash(clean))
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

// maxPooledBuf is the largest scratch buffer readLive keeps for reuse.
const maxPooledBuf = 64 << 10

// readLive reads a file of the live machine into a scratch buffer of the
// host's (sensors read at the same time, so each read takes one of its
// own), and returns a copy of the exact size.
func (h *Host) readLive(path string) ([]byte, error) {
	bp, _ := h.bufs.Get().(*[]byte)
	if bp == nil {
		bp = new([]byte)
		*bp = make([]byte, 16<<10)
	}
	b, buf, err := liveRead(path, *bp)
	// Only small buffers are kept: a resident agent's idle heap would
	// otherwise hold one as large as the largest file read (dpkg's status,
	// 0.6 MB here) from one scan to the next.
	if cap(buf) <= maxPooledBuf {
		*bp = buf
		h.bufs.Put(bp)
	}
	return b, err
}

// ReadFile reads a file of the host, at most MaxFileSize bytes.
func (h *Host) ReadFile(p string) ([]byte, error) {
	clean, err := hostPath(p)
	if err != nil {
		return nil, err
	}
	var b []byte
	if h.tree != nil {
		n, err := h.tree.lookup(clean, true)
		switch {
		case err != nil:
			return nil, &fs.PathError{Op: "open", Path: p, Err: err}
		case n.kind == dirNode:
			return nil, fmt.Errorf("read %s: %w", p, syscall.EISDIR)
		}
		b = n.data
		if len(b) <= MaxFileSize {
			b = bytes.Clone(b) // the caller may write to it
		}
	} else {
		if h.dir != nil {
			f, err := h.rootOpen(clean)
			if err != nil {
				return nil, err
			}
			defer f.Close()
			if b, err = readAll(f); err != nil {
				return nil, fmt.Errorf("read %s: %w", p, err)
			}
		} else if b, err = h.readLive(h.livePath(clean)); err != nil {
			return nil, err
		}
	}
	if len(b) > MaxFileSize {
		return nil, fmt.Errorf("read %s: larger than %d bytes", p, MaxFileSize)
	}
	h.recordFile(p, clean, b)
	return b, nil
}

// recordFile records a file that was read; when the path is a symbolic
// link of the live machine, the link and the file at its end are recorded,
// so the snapshot keeps both what Readlink and what ReadFile see.
func (h *Host) recordFile(p, clean string, b []byte) {
	if h.rec == nil {
		return
	}
	if h.live && h.root == "/" {
		fp := h.livePath(clean)
		if st, err := os.Lstat(fp); err == nil && st.Mode()&fs.ModeSymlink != 0 {
			t, err1 := os.Readlink(fp)
			end, err2 := filepath.EvalSymlinks(fp)
			if err1 == nil && err2 == nil {
				h.rec.link(p, t)
				h.rec.file(filepath.ToSlash(end), b)
				return
			}
		}
	}
	h.rec.file(p, b)
}

// Readlink returns the target of a symbolic link of the host, as stored.
func (h *Host) Readlink(p string) (string, error) {
	clean, err := hostPath(p)
	if err != nil {
		return "", err
	}
	var t string
	switch {
	case h.tree != nil:
		n, err := h.tree.lookup(clean, false)
		if err != nil {
			return "", &fs.PathError{Op: "readlink", Path: p, Err: err}
		}
		if n.kind != linkNode {
			return "", &fs.PathError{Op: "readlink", Path: p, Err: syscall.EINVAL}
		}
		t = n.target
	case h.dir != nil:
		if t, err = h.rootReadlink(clean); err != nil {
			return "", err
		}
	default:
		if t, err = os.Readlink(h.livePath(clean)); err != nil {
			return "", err
		}
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
	clean, err := hostPath(p)
	if err != nil {
		return nil, err
	}
	if h.tree != nil {
		n, err := h.tree.lookup(clean, true)
		switch {
		case err != nil:
			return nil, &fs.PathError{Op: "open", Path: p, Err: err}
		case n.kind != dirNode:
			return nil, &fs.PathError{Op: "readdirent", Path: p, Err: syscall.ENOTDIR}
		}
		out := make([]Entry, 0, len(n.children))
		for name, c := range n.children {
			out = append(out, Entry{Name: name, IsDir: c.kind == dirNode, Symlink: c.kind == linkNode})
		}
		slices.SortFunc(out, func(a, b Entry) int { return strings.Compare(a.Name, b.Name) })
		return out, nil
	}
	var des []fs.DirEntry
	if h.dir != nil {
		des, err = h.rootReadDir(clean)
	} else {
		des, err = os.ReadDir(h.livePath(clean))
	}
	if err != nil {
		return nil, err
	}
	out := make([]Entry, 0, len(des))
	for _, d := range des {
		out = append(out, Entry{Name: d.Name(), IsDir: d.IsDir(), Symlink: d.Type()&fs.ModeSymlink != 0})
	}
	slices.SortFunc(out, func(a, b Entry) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

// resolveDir resolves a directory of the host, following its links inside
// the tree, for Glob. Only a --root directory or a snapshot is asked.
func (h *Host) resolveDir(clean string) (string, bool) {
	if h.tree != nil {
		n, err := h.tree.lookup(clean, true)
		if err != nil || n.kind != dirNode {
			return "", false
		}
		return n.path, true
	}
	r, err := h.rootResolve(clean, true)
	return r, err == nil
}

// exists reports whether a path of the host is there, a link to nothing
// included (as Lstat sees it). Only a --root directory or a snapshot is
// asked.
func (h *Host) exists(clean string) bool {
	if h.tree != nil {
		_, err := h.tree.lookup(clean, false)
		return err == nil
	}
	_, err := h.rootLstat(clean)
	return err == nil
}
