//go:build unix

package main

import (
	"errors"
	"syscall"
)

// openFileLimit is the soft limit on this process's open files (Go raises
// it to the hard limit when it starts) and the hard limit.
func openFileLimit() (soft, hard uint64, err error) {
	var l syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
		return 0, 0, err
	}
	return uint64(l.Cur), uint64(l.Max), nil
}

// outOfFiles says whether an accept failed for want of file descriptors.
func outOfFiles(err error) bool {
	return errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE)
}
