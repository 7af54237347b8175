package host

import (
	"os"
	"strings"
	"time"
)

// Stamp is one version of a file of the live machine: its identity, size
// and times. Two equal stamps mean the file was neither replaced nor, as
// far as its size and times say, written in between; dpkg, for one,
// replaces its status file by a rename, which gives a new identity.
type Stamp struct {
	id           fileID
	size         int64
	mtime, ctime time.Time
}

// Stamp returns the stamp of a file of the live machine, for a resident
// sensor that keeps what it parsed from a large file until the file
// changes. ok is false for a snapshot or a --root directory (read whole
// every time, as captured), while the host records (a snapshot must hold
// every file a sensor reads), when the file cannot be stat'd, and for a
// file of a pseudo-filesystem (/proc, /sys, /dev), whose content changes
// with no change of its times, or one that says it is empty.
func (h *Host) Stamp(p string) (s Stamp, ok bool) {
	clean, err := hostPath(p)
	if err != nil || !h.live || h.tree != nil || h.dir != nil || h.rec != nil {
		return Stamp{}, false
	}
	for _, pseudo := range []string{"/proc/", "/sys/", "/dev/"} {
		if strings.HasPrefix(clean, pseudo) {
			return Stamp{}, false
		}
	}
	fi, err := os.Stat(h.livePath(clean))
	if err != nil || !fi.Mode().IsRegular() || fi.Size() == 0 {
		return Stamp{}, false
	}
	id, ctime, ok := identity(fi)
	if !ok {
		return Stamp{}, false
	}
	return Stamp{id: id, size: fi.Size(), mtime: fi.ModTime(), ctime: ctime}, true
}
