//go:build windows

package statefile

import (
	"fmt"
	"os"

	"golang.org/x/sys/windows"
)

// privateSDDL grants full control to SYSTEM (SY) and the Administrators
// group (BA), inherited by files and subdirectories (OICI); "P" protects
// the DACL from the ACEs that C:\ProgramData would otherwise pass down.
const privateSDDL = "D:P(A;OICI;FA;;;SY)(A;OICI;FA;;;BA)"

func mkdirPrivate(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("state %s: %w", dir, err)
	}
	sd, err := windows.SecurityDescriptorFromString(privateSDDL)
	if err != nil {
		return fmt.Errorf("state %s: %w", dir, err)
	}
	dacl, _, err := sd.DACL()
	if err != nil {
		return fmt.Errorf("state %s: %w", dir, err)
	}
	// SetNamedSecurityInfo also passes the inheritable ACEs down to what
	// the directory already holds.
	err = windows.SetNamedSecurityInfo(dir, windows.SE_FILE_OBJECT,
		windows.DACL_SECURITY_INFORMATION|windows.PROTECTED_DACL_SECURITY_INFORMATION, nil, nil, dacl, nil)
	if err != nil {
		return fmt.Errorf("state %s: set its DACL: %w", dir, err)
	}
	return nil
}
