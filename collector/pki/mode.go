package pki

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
)

// SecretFiles are the files of an install that hold secrets. The
// certificates are public; the store's files are the caller's to name.
func SecretFiles() []string {
	return []string{CAKeyFile, ServerKeyFile, EnrollSecretFile, AdminTokenFile, FleetSaltFile}
}

// ModeChange is a mode SecureDir changed.
type ModeChange struct {
	Path     string
	Was, Now fs.FileMode
}

// SecureDir makes the data directory dir 0700, and each of files in it
// that is a regular file 0600, where their modes let anyone but the owner
// in; a stricter mode (0400) is kept. It returns what it changed, and
// fails, naming the file, when it cannot change a mode that lets others
// in. Files that do not exist are skipped. On Windows modes do not govern
// access (the directory's ACL, set by the installer, does) and SecureDir
// changes nothing.
func SecureDir(dir string, files []string) ([]ModeChange, error) {
	if runtime.GOOS == "windows" {
		return nil, nil
	}
	var changed []ModeChange
	fix := func(p string, fi fs.FileInfo, want fs.FileMode) error {
		if fi.Mode().Perm()&0o077 == 0 {
			return nil
		}
		if err := os.Chmod(p, want); err != nil {
			return fmt.Errorf("%s is mode %v, open to others, and cannot be made %v: %w", p, fi.Mode().Perm(), want, err)
		}
		changed = append(changed, ModeChange{Path: p, Was: fi.Mode().Perm(), Now: want})
		return nil
	}
	fi, err := os.Stat(dir)
	if err != nil {
		return nil, err
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("%s is not a directory", dir)
	}
	if err := fix(dir, fi, 0o700); err != nil {
		return changed, err
	}
	for _, f := range files {
		p := filepath.Join(dir, f)
		fi, err := os.Lstat(p)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return changed, err
		}
		if !fi.Mode().IsRegular() {
			continue // a link is followed by whoever opens it; its target's mode is its owner's affair
		}
		if err := fix(p, fi, 0o600); err != nil {
			return changed, err
		}
	}
	return changed, nil
}
