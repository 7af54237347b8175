//go:build !linux && !windows

package workingset

// Trimmer is never made here: macOS has no call for a process to give
// back its clean pages; the kernel's pager takes them under memory
// pressure.
type Trimmer struct{}

// New returns ErrUnsupported.
func New() (*Trimmer, error) { return nil, ErrUnsupported }

// Trim returns ErrUnsupported.
func (t *Trimmer) Trim(evict bool) (Result, error) { return Result{}, ErrUnsupported }
