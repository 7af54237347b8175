package sqlite

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// sqliteMagic begins every SQLite database file.
const sqliteMagic = "SQLite format 3\x00"

// checkFile checks that path is a file that may hold a store, or creates
// it (0600, so that SQLite gives its -wal and -shm files the same mode)
// when it does not exist and existing is false. It says whether it
// created it.
func checkFile(path string, existing bool) (created bool, err error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		if existing {
			return false, fmt.Errorf("no store: %w (only init creates one)", err)
		}
		nf, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return false, err
		}
		return true, nf.Close()
	}
	if err != nil {
		return false, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return false, err
	}
	if !fi.Mode().IsRegular() {
		return false, fmt.Errorf("not a regular file (%s)", fi.Mode().Type())
	}
	if fi.Size() == 0 {
		return false, errors.New("the file is empty (0 bytes): it holds no store, and serving it would start an empty fleet " +
			"without its hosts and tokens; restore it from a backup, or move it away and run init")
	}
	head := make([]byte, len(sqliteMagic))
	if _, err := io.ReadFull(f, head); err != nil || !bytes.Equal(head, []byte(sqliteMagic)) {
		return false, errors.New("not an SQLite database (its first bytes are not \"SQLite format 3\"): damaged, or not a farmwatch store")
	}
	return false, nil
}

// checkSchema refuses an SQLite database that is not a farmwatch store
// (no schema_migrations table) and, when full, one that fails quick_check.
func (s *DB) checkSchema(ctx context.Context, full bool) error {
	var n int
	if err := s.db.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name = 'schema_migrations'`).Scan(&n); err != nil {
		return fmt.Errorf("read the schema: %w", err)
	}
	if n == 0 {
		return errors.New("no schema_migrations table: not a farmwatch store, or damaged")
	}
	if full {
		return quickCheck(ctx, s.db)
	}
	return nil
}

// maxProblems bounds the problems an integrity check reports.
const maxProblems = 5

// quickCheck runs SQLite's quick_check: the structure of every page, but
// not that indexes match their tables (integrity_check does that too, in
// about twice the time).
func quickCheck(ctx context.Context, db interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}) error {
	rows, err := db.QueryContext(ctx, fmt.Sprintf(`PRAGMA quick_check(%d)`, maxProblems))
	if err != nil {
		return quickCheckFailed(err)
	}
	defer rows.Close()
	var problems []string
	for rows.Next() {
		var p string
		if err := rows.Scan(&p); err != nil {
			return quickCheckFailed(err)
		}
		if p != "ok" {
			problems = append(problems, strings.ReplaceAll(strings.TrimSpace(p), "\n", "; "))
		}
	}
	if err := rows.Err(); err != nil {
		return quickCheckFailed(err)
	}
	if len(problems) > 0 {
		return fmt.Errorf("quick_check found the database damaged: %s", strings.Join(problems, "; "))
	}
	return nil
}

// quickCheckFailed is quick_check failing to run: on a file too damaged
// to read, it says so.
func quickCheckFailed(err error) error {
	if isDamage(err) {
		return fmt.Errorf("quick_check found the database damaged: %w", err)
	}
	return fmt.Errorf("quick_check: %w", err)
}

// isDamage says whether err is SQLite finding the file damaged.
func isDamage(err error) bool {
	var se *sqlite.Error
	if !errors.As(err, &se) {
		return false
	}
	switch se.Code() & 0xff {
	case sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB:
		return true
	}
	return false
}
