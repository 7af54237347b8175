package spool

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
)

// The state file: the acknowledged position and the dropped count.

const (
	stateName    = "state"
	stateTmpName = "state.tmp"
	stateSize    = 20
)

func (s *Spool) readState() error {
	p := filepath.Join(s.dir, stateName)
	b, err := os.ReadFile(p)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read spool state %s: %w", p, err)
	}
	acked, dropped, ok := parseState(b)
	if !ok {
		s.rec.StateLost = true
		return nil
	}
	s.acked, s.dropped = acked, dropped
	return nil
}

func parseState(b []byte) (acked, dropped uint64, ok bool) {
	if len(b) != stateSize || crc32.Checksum(b[:16], castagnoli) != binary.LittleEndian.Uint32(b[16:]) {
		return 0, 0, false
	}
	return binary.LittleEndian.Uint64(b[0:]), binary.LittleEndian.Uint64(b[8:]), true
}

// writeState persists the acknowledged position and the dropped count
// atomically: temporary file, fsync, rename, directory fsync.
func (s *Spool) writeState() error {
	var b [stateSize]byte
	binary.LittleEndian.PutUint64(b[0:], s.acked)
	binary.LittleEndian.PutUint64(b[8:], s.dropped)
	binary.LittleEndian.PutUint32(b[16:], crc32.Checksum(b[:16], castagnoli))
	p, tmp := filepath.Join(s.dir, stateName), filepath.Join(s.dir, stateTmpName)
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("write spool state %s: %w", p, err)
	}
	if _, err := f.Write(b[:]); err != nil {
		f.Close()
		return fmt.Errorf("write spool state %s: %w", p, err)
	}
	if err := s.sync(f); err != nil {
		f.Close()
		return fmt.Errorf("write spool state %s: %w", p, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write spool state %s: %w", p, err)
	}
	if err := os.Rename(tmp, p); err != nil {
		return fmt.Errorf("write spool state %s: %w", p, err)
	}
	return s.syncDir()
}
