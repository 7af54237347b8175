//go:build !windows

package statefile

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

func mkdirPrivate(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("state %s: %w", dir, err)
	}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type()&fs.ModeSymlink != 0 {
			return nil // chmod would follow it out of the directory
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		want := fs.FileMode(0o600)
		if d.IsDir() {
			want = 0o700
		}
		if info.Mode().Perm() != want {
			return os.Chmod(p, want)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("state %s: %w", dir, err)
	}
	return nil
}
