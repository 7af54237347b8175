// Package sqlite is the embedded store backend: one SQLite file (pure Go,
// modernc.org/sqlite, no cgo) in WAL mode, with migrations embedded.
package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/farmwatch/farmwatch/collector/store"
	"google.golang.org/protobuf/proto"
	_ "modernc.org/sqlite" // the database/sql driver "sqlite"
)

//go:embed migrations/*.sql
var migrations embed.FS

// DB is a store.Store on SQLite.
type DB struct {
	// Applies go through one goroutine (writer), which commits them in
	// groups; closed stops it.
	applyq     chan *applyReq
	closed     chan struct{}
	writerDone chan struct{}
	closeOnce  sync.Once

	db *sql.DB // the one writer: SQLite has one at a time anyway
	rd *sql.DB // readers: in WAL mode they read the last commit without waiting for the writer

	health health // what the writes met, for Health

	// The statements of fixed SQL, prepared once at Open.
	st    applyStmts  // on db
	rs    readStmts   // on rd
	stmts []*sql.Stmt // all of them, for Close
}

var _ store.Store = (*DB)(nil)

// Open opens the database at path, migrating it, or creates it (0600)
// when there is no file at path; ":memory:" is a private in-memory
// database. A file that is there must be a farmwatch store: Open refuses
// an empty file, one that is not SQLite, and an SQLite database without
// the store's schema_migrations table, rather than start an empty store
// in its place.
func Open(ctx context.Context, path string) (*DB, error) {
	return openAndStart(ctx, path, false)
}

// OpenExisting opens the store at path as Open does, but never creates
// one, and refuses a store that fails SQLite's quick_check (every page of
// every table and index is read: it takes about a second for each few
// hundred megabytes). serve and the offline commands open stores this
// way; only init creates one.
func OpenExisting(ctx context.Context, path string) (*DB, error) {
	return openAndStart(ctx, path, true)
}

func openAndStart(ctx context.Context, path string, existing bool) (*DB, error) {
	s, err := open(ctx, path, existing)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	go s.writer() // Close stops it and waits for it
	return s, nil
}

// open checks, opens, migrates and prepares. The writer is started only
// once all of that succeeded, so that a failure has nothing to stop but
// connections.
func open(ctx context.Context, path string, existing bool) (_ *DB, err error) {
	created := false
	if path != ":memory:" {
		if created, err = checkFile(path, existing); err != nil {
			return nil, err
		}
		defer func() {
			if err != nil && created {
				for _, f := range []string{path, path + "-wal", path + "-shm"} {
					os.Remove(f) // this Open made it: leave no half-made store
				}
			}
		}()
	}
	// The writer's page cache holds what a group commit of a few hundred
	// messages touches (SQLite's default, 2 MB, made it write pages to the
	// WAL mid-transaction and read them back: half the writer's time at
	// 5000 agents), and the savepoints' journal is kept in memory, not in
	// a temporary file written for every message.
	dsn := "file:" + path + "?_pragma=busy_timeout(10000)&_pragma=foreign_keys(1)&_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)" +
		"&_pragma=cache_size(-65536)&_pragma=temp_store(MEMORY)"
	if path == ":memory:" {
		dsn = "file::memory:?_pragma=foreign_keys(1)"
	}
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, err
	}
	// One connection writes: SQLite has one writer anyway, and an
	// in-memory database lives in its connection.
	db.SetMaxOpenConns(1)
	s := &DB{db: db, rd: db,
		applyq: make(chan *applyReq), closed: make(chan struct{}), writerDone: make(chan struct{})}
	defer func() {
		if err != nil {
			s.closeDB()
		}
	}()
	if path != ":memory:" && !created {
		if err := s.checkSchema(ctx, existing); err != nil {
			return nil, err
		}
	}
	if err := s.migrate(ctx); err != nil {
		return nil, err
	}
	if path != ":memory:" {
		// Fleet queries and the agents' authentication read on their own
		// connections, so they do not queue behind a burst of ingest.
		rd, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(10000)&_pragma=foreign_keys(1)&_pragma=query_only(1)")
		if err != nil {
			return nil, err
		}
		rd.SetMaxOpenConns(4)
		rd.SetMaxIdleConns(4)
		s.rd = rd
	}
	p := &preparer{ctx: ctx}
	s.st = newApplyStmts(p.on(s.db))
	s.rs = newReadStmts(p.on(s.rd))
	s.stmts = p.stmts
	if p.err != nil {
		return nil, p.err
	}
	return s, nil
}

func (s *DB) migrate(ctx context.Context) error {
	if _, err := s.db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (name TEXT PRIMARY KEY)`); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	names, err := fs.Glob(migrations, "migrations/*.sql")
	if err != nil {
		return err
	}
	slices.Sort(names)
	for _, n := range names {
		var done int
		if err := s.db.QueryRowContext(ctx, `SELECT count(*) FROM schema_migrations WHERE name = ?`, n).Scan(&done); err != nil {
			return fmt.Errorf("migrate %s: %w", n, err)
		}
		if done > 0 {
			continue
		}
		body, err := migrations.ReadFile(n)
		if err != nil {
			return err
		}
		tx, err := s.db.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, string(body)); err != nil {
			tx.Rollback()
			return fmt.Errorf("migrate %s: %w", n, err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations(name) VALUES (?)`, n); err != nil {
			tx.Rollback()
			return fmt.Errorf("migrate %s: %w", n, err)
		}
		if err := tx.Commit(); err != nil {
			return fmt.Errorf("migrate %s: %w", n, err)
		}
	}
	return nil
}

// Close closes the database.
func (s *DB) Close() error {
	s.closeOnce.Do(func() { close(s.closed) })
	<-s.writerDone
	return s.closeDB()
}

// closeDB closes the statements and the connections.
func (s *DB) closeDB() error {
	for _, st := range s.stmts {
		st.Close()
	}
	if s.rd != s.db {
		s.rd.Close()
	}
	return s.db.Close()
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

// keyArray is keys as one JSON array, for "IN (SELECT value FROM
// json_each(?))": one statement whatever their number. Encoding strings
// cannot fail.
func keyArray(keys []string) string {
	b, _ := json.Marshal(keys)
	return string(b)
}

type applyReq struct {
	ctx    context.Context
	hostID string
	seq    uint64
	a      store.Apply
	// fn, when set, is the request instead of a message: a write of an
	// agent's connection (its enrolment, its status, its egress) that
	// joins the group commit rather than wait for the writer's one
	// connection and pay a commit of its own.
	fn   func(ctx context.Context, tx *sql.Tx) error
	done chan applyRes
}

// name names the request in an error.
func (r *applyReq) name() string {
	if r.fn != nil {
		return "write"
	}
	return fmt.Sprintf("apply %s #%d", r.hostID, r.seq)
}

type applyRes struct {
	applied bool
	err     error
}

// inGroup runs fn in the writer's next group commit, in a savepoint of
// its own (an error undoes fn alone), and returns once that commit is
// done: fn's error, or the commit's.
func (s *DB) inGroup(ctx context.Context, fn func(ctx context.Context, tx *sql.Tx) error) error {
	r := &applyReq{ctx: ctx, fn: fn, done: make(chan applyRes, 1)}
	select {
	case s.applyq <- r:
	case <-ctx.Done():
		return ctx.Err()
	case <-s.closed:
		return errors.New("the store is closed")
	}
	// Taken by the writer, it is answered: fn runs under ctx, so a
	// caller that gave up before it ran changes nothing, and one whose fn
	// ran hears whether it was committed (an enrolment must not commit a
	// key that nobody was told).
	return (<-r.done).err
}

// maxGroup bounds the messages of one group commit.
const maxGroup = 256

// writer applies queued messages until the store closes.
func (s *DB) writer() {
	defer close(s.writerDone)
	for {
		var group []*applyReq
		select {
		case r := <-s.applyq:
			group = append(group, r)
		case <-s.closed:
			return
		}
	more:
		for len(group) < maxGroup {
			select {
			case r := <-s.applyq:
				group = append(group, r)
			default:
				break more
			}
		}
		s.applyGroup(group)
	}
}

// applyGroup applies a group of messages in one transaction.
func (s *DB) applyGroup(group []*applyReq) {
	res := make([]applyRes, len(group))
	reply := func() {
		for i, r := range group {
			r.done <- res[i]
		}
	}
	failAll := func(what string, err error) {
		s.health.wrote(fmt.Errorf("group commit (%d messages): %s: %w", len(group), what, err))
		for i, r := range group {
			if res[i].err == nil {
				res[i] = applyRes{err: fmt.Errorf("%s: %s: %w", r.name(), what, err)}
			}
		}
		reply()
	}
	ctx := context.Background() // the group's; each message runs under its caller's
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		failAll("begin", err)
		return
	}
	defer tx.Rollback()
	for i, r := range group {
		if err := r.ctx.Err(); err != nil {
			res[i] = applyRes{err: fmt.Errorf("%s: %w", r.name(), err)}
			continue
		}
		if _, err := tx.StmtContext(ctx, s.st.savepoint).ExecContext(ctx); err != nil {
			failAll("savepoint", err)
			return
		}
		var applied bool
		if r.fn != nil {
			err = r.fn(r.ctx, tx)
		} else {
			applied, err = s.applyTx(r.ctx, tx, r.hostID, r.seq, r.a)
		}
		if err != nil {
			if _, rerr := tx.StmtContext(ctx, s.st.rollbackTo).ExecContext(ctx); rerr != nil {
				res[i] = applyRes{err: err}
				failAll("rollback to savepoint", rerr)
				return
			}
		}
		if _, err := tx.StmtContext(ctx, s.st.release).ExecContext(ctx); err != nil {
			failAll("release savepoint", err)
			return
		}
		res[i] = applyRes{applied: applied, err: err}
	}
	if err := tx.Commit(); err != nil {
		for i := range res {
			res[i].applied = false
		}
		failAll("commit", err)
		return
	}
	for _, r := range res {
		s.health.wrote(r.err)
	}
	reply()
}
