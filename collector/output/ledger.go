package output

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// Ledger keeps what the outputs last sent. Turn calls fn with the state
// saved (nil when none was: a first start) and saves what fn returns;
// fn sends the events between the two. Two turns never overlap, even on
// two collectors sharing a ledger (collector replicas on PostgreSQL):
// the second sees what the first saved, and so no event goes out twice.
type Ledger interface {
	Turn(ctx context.Context, fn func(prev []byte) ([]byte, error)) error
}

// errNotSaved marks a turn whose events were sent but whose state was
// not saved.
var errNotSaved = errors.New("state not saved")

// fileLedger keeps the state in a file of the collector's data
// directory, and in memory between turns: a state that could not be
// written is still the next turn's (events are not sent again while the
// collector runs; they may be after a restart).
type fileLedger struct {
	path   string
	cur    []byte
	loaded bool
}

func (l *fileLedger) Turn(_ context.Context, fn func(prev []byte) ([]byte, error)) error {
	if !l.loaded {
		b, err := os.ReadFile(l.path)
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("outputs: %w", err)
		}
		l.cur, l.loaded = b, true
	}
	next, err := fn(l.cur)
	if err != nil {
		return err
	}
	l.cur = next
	if err := writeFile(l.path, next); err != nil {
		return fmt.Errorf("%w: %v", errNotSaved, err)
	}
	return nil
}

// writeFile replaces path with b, synced.
func writeFile(path string, b []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	_, err = f.Write(b)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
