package sqlite

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// health is what the store's writes have met, for Health: the last write
// that succeeded, the last that failed, and the first sign of damage.
//
// Only failures of the database itself count (an error from SQLite other
// than a constraint refused): an unknown host, a cancelled call or a
// duplicate token are the caller's. A failure counts until a later write
// succeeds (a full disk, a lock held too long), except damage (SQLite
// finding a page malformed, or the file not a database), which counts
// until the collector restarts: a write that succeeds elsewhere in the
// file does not mend the page, and serve's quick_check at start will
// find it.
type health struct {
	mu       sync.Mutex
	okAt     time.Time
	failAt   time.Time
	failErr  error
	damageAt time.Time
	damage   error
}

// isStoreFailure says whether err is the database's failure rather than
// the caller's.
func isStoreFailure(err error) bool {
	var se *sqlite.Error
	return errors.As(err, &se) && se.Code()&0xff != sqlite3.SQLITE_CONSTRAINT
}

// wrote records the result of a write.
func (h *health) wrote(err error) {
	now := time.Now()
	h.mu.Lock()
	defer h.mu.Unlock()
	switch {
	case err == nil:
		h.okAt = now
	case isStoreFailure(err):
		h.failAt, h.failErr = now, err
		if isDamage(err) && h.damage == nil {
			h.damageAt, h.damage = now, err
		}
	}
}

// read records the result of a read: only damage counts.
func (h *health) read(err error) {
	if err != nil && isDamage(err) {
		h.wrote(err)
	}
}

// Health says whether the store works: nil, or why not. It fails when
// SQLite has found the file damaged since Open, when the last write failed
// and none has succeeded since, or when a cheap read fails. It does not
// read the whole file (quick_check takes seconds on a large store, and
// serve runs it at start): damage in pages that nothing has read since is
// found only when something reads them.
func (s *DB) Health(ctx context.Context) error {
	h := &s.health
	h.mu.Lock()
	damage, damageAt := h.damage, h.damageAt
	fail, failAt, okAt := h.failErr, h.failAt, h.okAt
	h.mu.Unlock()
	if damage != nil {
		return fmt.Errorf("the database is damaged (SQLite found it at %s): %w; restore it from a backup", damageAt.UTC().Format(time.RFC3339), damage)
	}
	if fail != nil && failAt.After(okAt) {
		return fmt.Errorf("the last write failed at %s and none has succeeded since: %w", failAt.UTC().Format(time.RFC3339), fail)
	}
	var n int
	if err := s.rd.QueryRowContext(ctx, `SELECT count(*) FROM schema_migrations`).Scan(&n); err != nil {
		h.read(err)
		return fmt.Errorf("read: %w", err)
	}
	return nil
}
