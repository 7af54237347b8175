//go:build unix

package main

import (
	"fmt"
	"syscall"
)

// raiseFDLimit raises the soft limit on open files to at least need (up to
// the hard limit) and returns it; it fails when the hard limit is lower.
func raiseFDLimit(need uint64) (uint64, error) {
	var l syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
		return 0, err
	}
	if l.Cur >= need {
		return uint64(l.Cur), nil
	}
	if uint64(l.Max) < need {
		return uint64(l.Max), fmt.Errorf("the hard limit on open files is %d (raise it: ulimit -Hn, or LimitNOFILE in systemd)", l.Max)
	}
	l.Cur = l.Max
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
		return 0, fmt.Errorf("raise the limit on open files to %d: %w", l.Max, err)
	}
	return uint64(l.Cur), nil
}
