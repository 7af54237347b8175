//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package host

import (
	"os"
	"syscall"
	"time"
)

// fileID is a file's device and inode.
type fileID struct{ dev, ino uint64 }

// identity is a file's device, inode and change time.
func identity(fi os.FileInfo) (fileID, time.Time, bool) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return fileID{}, time.Time{}, false
	}
	return fileID{dev: uint64(st.Dev), ino: uint64(st.Ino)}, statCtime(st), true
}
