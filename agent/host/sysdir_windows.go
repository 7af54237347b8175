//go:build windows

package host

import (
	"strings"

	"golang.org/x/sys/windows"
)

// recordedSystemDir is how the allow-list and snapshots name the system
// directory.
const recordedSystemDir = `C:\Windows\System32\`

// systemPath maps an allow-listed Windows path under C:\Windows\System32 to
// the system directory that GetSystemDirectory names (Windows may be
// installed on another drive or in another directory); other paths are
// returned as they are.
func systemPath(p string) string {
	rest, ok := strings.CutPrefix(p, recordedSystemDir)
	if !ok {
		return p
	}
	dir, err := windows.GetSystemDirectory()
	if err != nil || dir == "" {
		return p
	}
	return strings.TrimRight(dir, `\`) + `\` + rest
}
