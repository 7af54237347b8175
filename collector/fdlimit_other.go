//go:build !unix

package main

import "errors"

// openFileLimit: Windows has no limit on open handles that an agent's
// connection counts against (sockets are bounded by memory).
func openFileLimit() (soft, hard uint64, err error) {
	return 0, 0, errors.ErrUnsupported
}

func outOfFiles(error) bool { return false }
