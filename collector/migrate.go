package main

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"fmt"
	"hash"
	"io"
	"path/filepath"
	"strings"
	"time"

	"github.com/farmwatch/farmwatch/collector/store"
	"github.com/farmwatch/farmwatch/collector/store/postgres"
	"github.com/farmwatch/farmwatch/collector/store/sqlite"
	fwv1 "github.com/farmwatch/farmwatch/proto/farmwatch/v1"
	"github.com/jackc/pgx/v5"
	"google.golang.org/protobuf/proto"
)

// migrateTable is one table that migrate copies: its columns, in the order
// both stores have them, and the order its rows are compared in.
type migrateTable struct {
	name, cols, order string
}

// The tables, parents first. Keys are compared byte for byte (COLLATE "C"
// in PostgreSQL, SQLite's BINARY).
var migrateTables = []migrateTable{
	{"hosts", "id, hostname, os, info, node_key_hash, enrolled_at, last_seen, egress_ip, last_seq, spool_dropped, agent_version, rules_version, rules_error, refused", "id"},
	{"observations", "host_id, key, kind, body, first_seq", "host_id, key"},
	{"findings", "host_id, id, rule, severity, body, state, first_seen, last_seen", "host_id, id"},
	{"changes", "host_id, seq, at, n, body", "host_id, seq"},
	{"tokens", "id, hash, name, role, created, expires, revoked, last_used", "id"},
	{"pending_enrollments", "host_id, request_id, hostname, peer, requested, approved", "host_id, request_id"},
	{"egress_history", "host_id, ip, first_seen, last_seen", "host_id, ip"},
	{"clusters", "id, state, severity, first_seen, last_seen, body", "id"},
	{"fleet_findings", "host_id, id, rule, severity, body, state, first_seen, last_seen", "host_id, id"},
	{"finding_triage", "seq, host_id, finding_id, state, comment, by_token, at, occurrence", "seq"},
}

// cmdMigrate moves the embedded store of an install to PostgreSQL:
//
//	farmwatch-collector migrate --from DIR --to postgres://...
//
// The collector must be stopped (what it writes after the copy began is
// not copied). The target database must hold no fleet yet. Every table is
// copied in one PostgreSQL transaction from one SQLite snapshot, then read
// back: the row count and a SHA-256 of every row of every table must match
// the source, or nothing is committed.
func cmdMigrate(ctx context.Context, args []string, stdout io.Writer) error {
	fs := newFlags("migrate")
	from := fs.String("from", "", "the install's data directory (its farmwatch.db)")
	to := fs.String("to", "", "the PostgreSQL database, postgres://...")
	if _, err := parse(fs, args); err != nil {
		return err
	}
	if *from == "" || !postgres.IsURL(*to) {
		return usageError{"migrate: --from DIR and --to postgres://... are required"}
	}
	started := time.Now()
	counts, err := migrate(ctx, filepath.Join(*from, dbFile), *to)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	fmt.Fprintf(stdout, "migrated %s to %s in %s, verified row by row:\n", filepath.Join(*from, dbFile), postgres.Redact(*to), time.Since(started).Round(time.Millisecond))
	for _, t := range migrateTables {
		fmt.Fprintf(stdout, "  %-20s %d\n", t.name, counts[t.name])
	}
	fmt.Fprintf(stdout, "serve it with: farmwatch-collector serve --data %s --store URL (the URL given to --to)\n", *from)
	return nil
}

// migrate copies the SQLite store at path to the database at url, and
// returns the rows of each table.
func migrate(ctx context.Context, path, url string) (map[string]int64, error) {
	// Opening it the usual way checks it (quick_check) and brings its
	// schema up to date.
	src, err := sqlite.OpenExisting(ctx, path)
	if err != nil {
		return nil, err
	}
	src.Close()
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro&_pragma=busy_timeout(10000)")
	if err != nil {
		return nil, err
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	stx, err := db.BeginTx(ctx, &sql.TxOptions{ReadOnly: true}) // one snapshot of every table
	if err != nil {
		return nil, err
	}
	defer stx.Rollback()

	dst, err := postgres.Open(ctx, url) // migrates the target's schema
	if err != nil {
		return nil, err
	}
	defer dst.Close()
	counts := map[string]int64{}
	err = pgx.BeginFunc(ctx, dst.Pool(), func(tx pgx.Tx) error {
		for _, t := range migrateTables {
			var n int64
			if err := tx.QueryRow(ctx, `SELECT count(*) FROM `+t.name).Scan(&n); err != nil {
				return err
			}
			if n > 0 {
				return fmt.Errorf("the target already holds %d %s: migrate fills an empty fleet only", n, t.name)
			}
		}
		for _, t := range migrateTables {
			n, err := copyTable(ctx, stx, tx, t)
			if err != nil {
				return fmt.Errorf("copy %s: %w", t.name, err)
			}
			counts[t.name] = n
		}
		// Judgements copied with their numbers: the next one made is
		// numbered after them.
		if _, err := tx.Exec(ctx, `SELECT setval(pg_get_serial_sequence('finding_triage', 'seq'), coalesce(max(seq), 0) + 1, false) FROM finding_triage`); err != nil {
			return fmt.Errorf("copy finding_triage: %w", err)
		}
		// Verify, inside the transaction: a mismatch commits nothing.
		for _, t := range migrateTables {
			sn, sh, err := sumSQLite(ctx, stx, t)
			if err != nil {
				return fmt.Errorf("verify %s: %w", t.name, err)
			}
			pn, ph, err := sumPostgres(ctx, tx, t)
			if err != nil {
				return fmt.Errorf("verify %s: %w", t.name, err)
			}
			if sn != pn || sh != ph {
				return fmt.Errorf("verify %s: %d rows (sha256 %s) in SQLite, %d (sha256 %s) in PostgreSQL", t.name, sn, sh[:12], pn, ph[:12])
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return counts, nil
}

// copyTable copies one table with COPY; observations get their indexed
// terms.
func copyTable(ctx context.Context, src *sql.Tx, dst pgx.Tx, t migrateTable) (int64, error) {
	rows, err := src.QueryContext(ctx, `SELECT `+t.cols+` FROM `+t.name)
	if err != nil {
		return 0, err
	}
	defer rows.Close()
	cols := strings.Split(t.cols, ", ")
	pgCols := cols
	if t.name == "observations" {
		pgCols = append(append([]string(nil), cols...), "terms")
	}
	var scanErr error
	n, err := dst.CopyFrom(ctx, pgx.Identifier{t.name}, pgCols, &sqliteRows{rows: rows, n: len(cols), terms: t.name == "observations", err: &scanErr})
	if scanErr != nil {
		return n, scanErr
	}
	return n, err
}

// sqliteRows feeds COPY from an SQLite query.
type sqliteRows struct {
	rows  *sql.Rows
	n     int
	terms bool // append the observation's terms (its body is column 3)
	vals  []any
	err   *error
}

func (r *sqliteRows) Next() bool { return r.rows.Next() }

func (r *sqliteRows) Values() ([]any, error) {
	vals := make([]any, r.n)
	ptrs := make([]any, r.n)
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	if err := r.rows.Scan(ptrs...); err != nil {
		*r.err = err
		return nil, err
	}
	for i, v := range vals {
		if s, ok := v.([]byte); ok && s == nil && i > 0 {
			vals[i] = []byte{}
		}
	}
	if r.terms {
		o := &fwv1.Observation{}
		body, _ := vals[3].([]byte)
		if err := proto.Unmarshal(body, o); err != nil {
			*r.err = fmt.Errorf("observation %v of %v: %w", vals[1], vals[0], err)
			return nil, *r.err
		}
		terms := store.Terms(o)
		if terms == nil {
			terms = []string{} // NULL is no array
		}
		vals = append(vals, terms)
	}
	return vals, nil
}

func (r *sqliteRows) Err() error { return r.rows.Err() }

// rowHash hashes rows as migrate compares them: each value as text, by
// kind, so that SQLite's and PostgreSQL's types compare equal.
type rowHash struct {
	h hash.Hash
	n int64
}

func (r *rowHash) add(vals []any) {
	for _, v := range vals {
		switch x := v.(type) {
		case nil:
			fmt.Fprint(r.h, "b:|") // NULL and empty bytes: the same to the store
		case []byte:
			fmt.Fprintf(r.h, "b:%x|", x)
		case string:
			fmt.Fprintf(r.h, "s:%q|", x)
		case int64:
			fmt.Fprintf(r.h, "i:%d|", x)
		case int32:
			fmt.Fprintf(r.h, "i:%d|", x)
		default:
			fmt.Fprintf(r.h, "?:%v|", x)
		}
	}
	r.h.Write([]byte{'\n'})
	r.n++
}

func (r *rowHash) sum() string { return hex.EncodeToString(r.h.Sum(nil)) }

func sumSQLite(ctx context.Context, tx *sql.Tx, t migrateTable) (int64, string, error) {
	rows, err := tx.QueryContext(ctx, `SELECT `+t.cols+` FROM `+t.name+` ORDER BY `+t.order)
	if err != nil {
		return 0, "", err
	}
	defer rows.Close()
	n := len(strings.Split(t.cols, ", "))
	h := &rowHash{h: sha256.New()}
	for rows.Next() {
		vals := make([]any, n)
		ptrs := make([]any, n)
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			return 0, "", err
		}
		h.add(vals)
	}
	return h.n, h.sum(), rows.Err()
}

func sumPostgres(ctx context.Context, tx pgx.Tx, t migrateTable) (int64, string, error) {
	var order []string
	for _, c := range strings.Split(t.order, ", ") {
		order = append(order, c+` COLLATE "C"`)
	}
	switch t.name {
	case "changes":
		order = []string{`host_id COLLATE "C"`, "seq"}
	case "finding_triage":
		order = []string{"seq"}
	}
	rows, err := tx.Query(ctx, `SELECT `+t.cols+` FROM `+t.name+` ORDER BY `+strings.Join(order, ", "))
	if err != nil {
		return 0, "", err
	}
	defer rows.Close()
	h := &rowHash{h: sha256.New()}
	for rows.Next() {
		vals, err := rows.Values()
		if err != nil {
			return 0, "", err
		}
		h.add(vals)
	}
	return h.n, h.sum(), rows.Err()
}
