// Package statefile writes the small files of the agent's state directory
// (host id, node key, sequence number, rule bundle) so that a crash at any
// moment leaves either the old file or the new one whole: the new content
// goes to NAME.tmp, is synced, and is renamed over NAME.
package statefile

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// Write replaces the file at p with b, atomically, mode 0600.
func Write(p string, b []byte) error {
	tmp := p + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("write %s: %w", p, err)
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", p, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", p, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write %s: %w", p, err)
	}
	if err := os.Rename(tmp, p); err != nil {
		return fmt.Errorf("write %s: %w", p, err)
	}
	return nil
}

// Read reads the state file at p and checks it with valid. A file that is
// missing is not an error (nil, false, nil). A file that valid refuses is
// damaged: it is set aside as p+".bad" (replacing an older one), so that
// the agent can recover by starting that state afresh, and Read reports
// the damage (nil, true, err) with the reason; the caller logs it and
// never stops for it.
func Read(p string, valid func([]byte) error) ([]byte, bool, error) {
	b, err := os.ReadFile(p)
	if errors.Is(err, os.ErrNotExist) {
		return nil, false, nil
	}
	if err == nil {
		if err = valid(b); err == nil {
			return b, false, nil
		}
	}
	if rerr := os.Rename(p, p+".bad"); rerr != nil && !errors.Is(rerr, os.ErrNotExist) {
		return nil, true, fmt.Errorf("state file %s is damaged (%v) and could not be set aside: %w", p, err, rerr)
	}
	return nil, true, fmt.Errorf("state file %s is damaged, set aside as %s.bad: %w", p, filepath.Base(p), err)
}

// Remove removes the state file at p; a file that is not there is not an
// error.
func Remove(p string) error {
	if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("remove %s: %w", p, err)
	}
	return nil
}
