//go:build windows

package process

import (
	"context"
	"fmt"
	"sort"
	"unsafe"

	"golang.org/x/sys/windows"
)

// liveProcesses reads the process table through gopsutil.
func liveProcesses(ctx context.Context) (any, error) { return psutilProcesses(ctx) }

// maxVersionInfo bounds the version resource read from one executable.
const maxVersionInfo = 1 << 20

// liveExeInfo reads the version resource of each executable
// (GetFileVersionInfo): OriginalFilename, ProductName, CompanyName and
// FileDescription, in the first language of \VarFileInfo\Translation that
// has any of them, else in US English. An executable that cannot be read,
// or has no version resource, is left out.
func liveExeInfo(ctx context.Context, exes map[string]bool) (any, error) {
	paths := make([]string, 0, len(exes))
	for p := range exes {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	out := make(map[string]ExeInfo, len(paths))
	for i, p := range paths {
		if i%32 == 0 && ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if info, ok := readVersionInfo(p); ok {
			out[p] = info
		}
	}
	return out, nil
}

func readVersionInfo(exe string) (ExeInfo, bool) {
	var zero windows.Handle
	size, err := windows.GetFileVersionInfoSize(exe, &zero)
	if err != nil || size == 0 || size > maxVersionInfo {
		return ExeInfo{}, false
	}
	buf := make([]byte, size)
	if err := windows.GetFileVersionInfo(exe, 0, size, unsafe.Pointer(&buf[0])); err != nil {
		return ExeInfo{}, false
	}
	for _, lang := range translations(buf) {
		base := `\StringFileInfo\` + lang + `\`
		info := ExeInfo{
			OriginalFilename: verString(buf, base+"OriginalFilename"),
			ProductName:      verString(buf, base+"ProductName"),
			CompanyName:      verString(buf, base+"CompanyName"),
			FileDescription:  verString(buf, base+"FileDescription"),
		}
		if info != (ExeInfo{}) {
			return info, true
		}
	}
	return ExeInfo{}, false
}

// translations returns the "<language><code page>" keys of the string
// tables, in hex as StringFileInfo names them ("040904b0"): those that
// \VarFileInfo\Translation lists, then the usual US English ones.
func translations(buf []byte) []string {
	var out []string
	var p unsafe.Pointer
	var n uint32
	if err := windows.VerQueryValue(unsafe.Pointer(&buf[0]), `\VarFileInfo\Translation`, unsafe.Pointer(&p), &n); err == nil && p != nil {
		// An array of {WORD language; WORD code page}, as long as the
		// file says, cut to the block.
		pairs := unsafe.Slice((*[2]uint16)(p), verElems(uintptr(unsafe.Pointer(&buf[0])), uintptr(len(buf)), uintptr(p), uintptr(n/4), 4))
		for _, t := range pairs {
			out = append(out, fmt.Sprintf("%04x%04x", t[0], t[1]))
		}
	}
	return append(out, "040904b0", "040904e4", "04090000")
}

// verString returns one string of the version resource, "" when absent.
func verString(buf []byte, sub string) string {
	var p *uint16
	var n uint32 // in UTF-16 units, the terminating NUL included
	if err := windows.VerQueryValue(unsafe.Pointer(&buf[0]), sub, unsafe.Pointer(&p), &n); err != nil || p == nil || n == 0 {
		return ""
	}
	// The length comes from the executable: cut it to the block.
	return windows.UTF16ToString(unsafe.Slice(p, verElems(uintptr(unsafe.Pointer(&buf[0])), uintptr(len(buf)), uintptr(unsafe.Pointer(p)), uintptr(n), 2)))
}
