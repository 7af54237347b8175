//go:build !linux && !windows

package workingset

// Trim does nothing here: macOS has no call for a process to give back its
// clean pages; the kernel's pager takes them under memory pressure.
func Trim() (Result, error) { return Result{}, ErrUnsupported }
