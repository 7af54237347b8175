package workingset

import (
	"fmt"

	"golang.org/x/sys/windows"
)

// Trimmer empties the process's working set.
type Trimmer struct{}

// New returns the process's Trimmer.
func New() (*Trimmer, error) { return &Trimmer{}, nil }

// Trim empties the process's working set, as EmptyWorkingSet does:
// SetProcessWorkingSetSizeEx with both sizes (SIZE_T)-1. The pages move to
// the standby or modified list and come back by soft fault when used;
// evict changes nothing, as Windows has no call to drop a process's clean
// pages from the standby list.
// Windows does not split the working set by file-backed and private
// pages, so the Result's sizes stay zero.
func (t *Trimmer) Trim(evict bool) (Result, error) {
	const all = ^uintptr(0)
	if err := windows.SetProcessWorkingSetSizeEx(windows.CurrentProcess(), all, all, 0); err != nil {
		return Result{}, fmt.Errorf("working set: SetProcessWorkingSetSizeEx: %w", err)
	}
	return Result{Mappings: 1}, nil
}
