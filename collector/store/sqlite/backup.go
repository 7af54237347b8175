package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"strings"
)

// Backup copies the store at path to out, which must not exist, while
// the store may be served: SQLite's VACUUM INTO reads one consistent
// snapshot (in WAL mode the collector's writes go on meanwhile) and
// writes a compact copy. The copy is 0600, flushed to disk, and passes
// integrity_check before Backup returns; on any failure out is removed.
// Backup does not migrate the store or change what it holds.
func Backup(ctx context.Context, path, out string) (err error) {
	if err := backup(ctx, path, out); err != nil {
		return fmt.Errorf("backup %s to %s: %w", path, out, err)
	}
	return nil
}

func backup(ctx context.Context, path, out string) (err error) {
	if _, err := checkFile(path, true); err != nil {
		return err
	}
	// Claim out, 0600, before SQLite writes it: VACUUM INTO takes an
	// empty file, and would make a new one with the umask's mode.
	f, err := os.OpenFile(out, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	f.Close()
	defer func() {
		if err != nil {
			for _, p := range []string{out, out + "-wal", out + "-shm", out + "-journal"} {
				os.Remove(p)
			}
		}
	}()
	// Not query_only: it refuses VACUUM INTO's writes to out too.
	src, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(10000)")
	if err != nil {
		return err
	}
	defer src.Close()
	var n int
	if err := src.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name = 'schema_migrations'`).Scan(&n); err != nil {
		return fmt.Errorf("read the schema: %w", err)
	}
	if n == 0 {
		return errors.New("no schema_migrations table: not a farmwatch store, or damaged")
	}
	if _, err := src.ExecContext(ctx, `VACUUM INTO ?`, out); err != nil {
		return fmt.Errorf("copy: %w", err)
	}
	if err := syncFile(out); err != nil {
		return err
	}
	return integrityCheck(ctx, out)
}

// syncFile flushes the file at p to disk.
func syncFile(p string) error {
	f, err := os.OpenFile(p, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("sync %s: %w", p, err)
	}
	return f.Close()
}

// integrityCheck runs SQLite's integrity_check on the database at p: every
// page, and every index against its table.
func integrityCheck(ctx context.Context, p string) error {
	db, err := sql.Open("sqlite", "file:"+p+"?_pragma=query_only(1)")
	if err != nil {
		return err
	}
	defer db.Close()
	rows, err := db.QueryContext(ctx, fmt.Sprintf(`PRAGMA integrity_check(%d)`, maxProblems))
	if err != nil {
		return fmt.Errorf("integrity_check of the copy: %w", err)
	}
	defer rows.Close()
	var problems []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return fmt.Errorf("integrity_check of the copy: %w", err)
		}
		if s != "ok" {
			problems = append(problems, strings.ReplaceAll(strings.TrimSpace(s), "\n", "; "))
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("integrity_check of the copy: %w", err)
	}
	if len(problems) > 0 {
		return fmt.Errorf("integrity_check of the copy: %s", strings.Join(problems, "; "))
	}
	return nil
}
