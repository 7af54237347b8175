// Package postgres is the store backend for fleets that outgrow one
// machine: PostgreSQL through pgx, with migrations embedded. Several
// collector replicas may share one database: every write that must happen
// once (a message applied, an enrolment decided, a token revoked) is one
// transaction that locks the row it decides on, so two replicas cannot
// both win.
//
// It keeps the SQLite store's semantics (storetest runs on both): a
// message is applied and its sequence number recorded in one transaction,
// ApplyMessage returns only after the commit, and times are Unix
// milliseconds, as there. Observations also carry their indexed terms
// (store.Terms) under a GIN index, for FindObservations.
package postgres

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/farmwatch/farmwatch/collector/store"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"google.golang.org/protobuf/proto"
)

//go:embed migrations/*.sql
var migrations embed.FS

// DB is a store.Store on PostgreSQL.
type DB struct {
	pool *pgxpool.Pool
}

var (
	_ store.Store             = (*DB)(nil)
	_ store.ObservationFinder = (*DB)(nil)
)

// IsURL says whether s names a PostgreSQL database (postgres:// or
// postgresql://).
func IsURL(s string) bool {
	return strings.HasPrefix(s, "postgres://") || strings.HasPrefix(s, "postgresql://")
}

// Open connects to the database at url (a postgres:// URL; libpq's
// variables such as PGPASSWORD and the passfile apply) and migrates it.
// Without pool_max_conns in url the pool holds up to 4 connections a core,
// at least 16.
func Open(ctx context.Context, url string) (*DB, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err) // pgx leaves the password out of its errors
	}
	if !strings.Contains(url, "pool_max_conns") {
		cfg.MaxConns = int32(max(16, 4*runtime.NumCPU()))
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres %s: %w", Redact(url), err)
	}
	s := &DB{pool: pool}
	if err := s.migrate(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("postgres %s: %w", Redact(url), err)
	}
	return s, nil
}

// Redact is url without its password, for logs.
func Redact(url string) string {
	cfg, err := pgconn.ParseConfig(url)
	if err != nil {
		return "(an unparsable address)"
	}
	return fmt.Sprintf("postgres://%s@%s:%d/%s", cfg.User, cfg.Host, cfg.Port, cfg.Database)
}

// Pool is the connection pool, for the replicas' coordination
// (collector/replica), which shares the database.
func (s *DB) Pool() *pgxpool.Pool { return s.pool }

// migrateLock is the advisory lock migrations run under, so that replicas
// starting at once migrate once.
const migrateLock = 0x66770001

func (s *DB) migrate(ctx context.Context) error {
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock($1)`, migrateLock); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	defer conn.Exec(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock($1)`, migrateLock)
	if _, err := conn.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (name TEXT PRIMARY KEY)`); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	names, err := fs.Glob(migrations, "migrations/*.sql")
	if err != nil {
		return err
	}
	slices.Sort(names)
	for _, n := range names {
		var done bool
		if err := conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM schema_migrations WHERE name = $1)`, n).Scan(&done); err != nil {
			return fmt.Errorf("migrate %s: %w", n, err)
		}
		if done {
			continue
		}
		body, err := migrations.ReadFile(n)
		if err != nil {
			return err
		}
		err = pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, string(body)); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, `INSERT INTO schema_migrations (name) VALUES ($1)`, n)
			return err
		})
		if err != nil {
			return fmt.Errorf("migrate %s: %w", n, err)
		}
	}
	return nil
}

// Close closes the pool.
func (s *DB) Close() error {
	s.pool.Close()
	return nil
}

// Health says whether the database answers: nil, or why not.
func (s *DB) Health(ctx context.Context) error {
	var n int
	if err := s.pool.QueryRow(ctx, `SELECT count(*) FROM schema_migrations`).Scan(&n); err != nil {
		return fmt.Errorf("read: %w", err)
	}
	return nil
}

func ms(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

func fromMS(v int64) time.Time {
	if v == 0 {
		return time.Time{}
	}
	return time.UnixMilli(v).UTC()
}

var marshal = proto.MarshalOptions{Deterministic: true}

// isUnique says whether err is a unique constraint refusing a row.
func isUnique(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "23505"
}
