// Package statefile writes the small files of the agent's state directory
// (host id, node key, sequence number, rule bundle) so that a crash at any
// moment leaves either the old file or the new one whole: the new content
// goes to NAME.tmp, is synced, and is renamed over NAME.
package statefile

import (
	"fmt"
	"os"
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
