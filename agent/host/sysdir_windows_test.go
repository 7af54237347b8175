//go:build windows

package host

import (
	"strings"
	"testing"

	"golang.org/x/sys/windows"
)

func TestSystemPath(t *testing.T) {
	dir, err := windows.GetSystemDirectory()
	if err != nil {
		t.Skip(err)
	}
	if got := systemPath(`C:\Windows\System32\netsh.exe`); !strings.EqualFold(got, strings.TrimRight(dir, `\`)+`\netsh.exe`) {
		t.Errorf("systemPath: %s (system directory %s)", got, dir)
	}
	if got := systemPath(`D:\Tools\x.exe`); got != `D:\Tools\x.exe` {
		t.Errorf("a path outside System32 changed: %s", got)
	}
}
