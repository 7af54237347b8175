package workingset

import (
	"fmt"

	"golang.org/x/sys/windows"
)

// Trimmer empties the process's working set.
type Trimmer struct{}

// New returns the process's Trimmer.
func New() (*Trimmer, error) { return &Trimmer{}, nil }

// Trim, asked to evict, empties the process's working set, as
// EmptyWorkingSet does: SetProcessWorkingSetSizeEx with both sizes
// (SIZE_T)-1. The pages move to the standby or modified list and come back
// by soft fault when used. Windows does not split the working set by
// file-backed and private pages, so the Result's sizes stay zero.
//
// Not asked to evict, it does nothing and says so (Mappings 0): emptying
// the whole working set after every scan would put the heap's dirty pages
// on the modified list each time, for the pager to write to the page file.
// The working set manager trims an idle process under memory pressure.
func (t *Trimmer) Trim(evict bool) (Result, error) {
	if !evict {
		return Result{}, nil
	}
	const all = ^uintptr(0)
	if err := windows.SetProcessWorkingSetSizeEx(windows.CurrentProcess(), all, all, 0); err != nil {
		return Result{}, fmt.Errorf("working set: SetProcessWorkingSetSizeEx: %w", err)
	}
	return Result{Mappings: 1}, nil
}
