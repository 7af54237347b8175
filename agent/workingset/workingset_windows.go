package workingset

import (
	"fmt"

	"golang.org/x/sys/windows"
)

// Trim empties the process's working set, as EmptyWorkingSet does:
// SetProcessWorkingSetSizeEx with both sizes (SIZE_T)-1. The pages move to
// the standby or modified list and come back by soft fault when used.
// Windows does not split the working set by file-backed and private
// pages, so the Result's sizes stay zero.
func Trim() (Result, error) {
	const all = ^uintptr(0)
	if err := windows.SetProcessWorkingSetSizeEx(windows.CurrentProcess(), all, all, 0); err != nil {
		return Result{}, fmt.Errorf("working set: SetProcessWorkingSetSizeEx: %w", err)
	}
	return Result{Mappings: 1}, nil
}
