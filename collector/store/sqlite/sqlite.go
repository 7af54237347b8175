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
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/farmwatch/farmwatch/collector/store"
	"github.com/farmwatch/farmwatch/observation"
	fwv1 "github.com/farmwatch/farmwatch/proto/farmwatch/v1"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"
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

	db    *sql.DB              // the one writer: SQLite has one at a time anyway
	rd    *sql.DB              // readers: in WAL mode they read the last commit without waiting for the writer
	stmts map[string]*sql.Stmt // the apply path's statements, prepared once
}

// The statements of the apply path, prepared once at Open: parsing them for
// every agent message was a sixth of the ingest's CPU.
var applyStmts = map[string]string{
	"lastSeq":  `SELECT last_seq FROM hosts WHERE id = ?`,
	"keys":     `SELECT key FROM observations WHERE host_id = ?`,
	"existing": `SELECT key FROM observations WHERE host_id = ? AND key IN (SELECT value FROM json_each(?))`,
	// An unchanged body is left alone: no row is affected.
	"upsert":     "INSERT INTO observations (host_id, key, kind, body, first_seq) VALUES (?, ?, ?, ?, ?)\nON CONFLICT(host_id, key) DO UPDATE SET kind = excluded.kind, body = excluded.body WHERE observations.body <> excluded.body",
	"remove":     `DELETE FROM observations WHERE host_id = ? AND key = ? RETURNING kind, body`,
	"changes":    `INSERT INTO changes (host_id, seq, at, n, body) VALUES (?, ?, ?, ?, ?)`,
	"savepoint":  `SAVEPOINT msg`,
	"rollbackTo": `ROLLBACK TO msg`,
	"release":    `RELEASE msg`,
	"host":       "UPDATE hosts SET last_seq = ?, last_seen = max(last_seen, ?),\n  egress_ip = CASE WHEN ? = '' THEN egress_ip ELSE ? END, spool_dropped = max(spool_dropped, ?) WHERE id = ?",
	"finding":    "INSERT INTO findings (host_id, id, rule, severity, body, state, first_seen, last_seen) VALUES (?, ?, ?, ?, ?, 'open', ?, ?)\nON CONFLICT(host_id, id) DO UPDATE SET body = excluded.body, severity = excluded.severity, last_seen = excluded.last_seen,\n  first_seen = CASE WHEN findings.state = 'resolved' THEN excluded.first_seen ELSE findings.first_seen END,\n  state = 'open'",
	"openIDs":    `SELECT id FROM findings WHERE host_id = ? AND state = 'open'`,
	"resolve":    `UPDATE findings SET state = 'resolved', last_seen = ? WHERE host_id = ? AND id = ?`,
	"resolveAll": `UPDATE findings SET state = 'resolved', last_seen = ? WHERE host_id = ? AND state = 'open'`,
}

var _ store.Store = (*DB)(nil)

// Open opens (creating and migrating) the database at path; ":memory:" is a
// private in-memory database.
func Open(ctx context.Context, path string) (*DB, error) {
	dsn := "file:" + path + "?_pragma=busy_timeout(10000)&_pragma=foreign_keys(1)&_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)"
	if path == ":memory:" {
		dsn = "file::memory:?_pragma=foreign_keys(1)"
	}
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	// One connection writes: SQLite has one writer anyway, and an
	// in-memory database lives in its connection.
	db.SetMaxOpenConns(1)
	s := &DB{db: db, rd: db, stmts: map[string]*sql.Stmt{},
		applyq: make(chan *applyReq), closed: make(chan struct{}), writerDone: make(chan struct{})}
	go s.writer() // Close stops it, on every path from here
	if err := s.migrate(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	if path != ":memory:" {
		// Fleet queries and the agents' authentication read on their own
		// connections, so they do not queue behind a burst of ingest.
		rd, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(10000)&_pragma=foreign_keys(1)&_pragma=query_only(1)")
		if err != nil {
			db.Close()
			return nil, fmt.Errorf("open %s: %w", path, err)
		}
		rd.SetMaxOpenConns(4)
		rd.SetMaxIdleConns(4)
		s.rd = rd
	}
	for name, q := range applyStmts {
		st, err := db.PrepareContext(ctx, q)
		if err != nil {
			s.Close()
			return nil, fmt.Errorf("open %s: prepare %s: %w", path, name, err)
		}
		s.stmts[name] = st
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
	sort.Strings(names)
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
	for _, st := range s.stmts {
		st.Close()
	}
	if s.rd != s.db {
		s.rd.Close()
	}
	return s.db.Close()
}

// stmt is a prepared apply statement bound to tx.
func (s *DB) stmt(ctx context.Context, tx *sql.Tx, name string) *sql.Stmt {
	return tx.StmtContext(ctx, s.stmts[name])
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

// PutHost implements store.Store.
func (s *DB) PutHost(ctx context.Context, h store.Host) error {
	var info []byte
	if h.Info != nil {
		b, err := marshal.Marshal(h.Info)
		if err != nil {
			return fmt.Errorf("put host %s: %w", h.ID, err)
		}
		info = b
	}
	_, err := s.db.ExecContext(ctx, `
INSERT INTO hosts (id, hostname, os, info, node_key_hash, enrolled_at, last_seen, egress_ip)
VALUES (?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT(id) DO UPDATE SET hostname = excluded.hostname, os = excluded.os, info = excluded.info,
  node_key_hash = excluded.node_key_hash, enrolled_at = excluded.enrolled_at,
  last_seen = excluded.last_seen, egress_ip = excluded.egress_ip`,
		h.ID, h.Hostname, h.OS, info, h.NodeKeyHash, ms(h.EnrolledAt), ms(h.LastSeen), h.EgressIP)
	if err != nil {
		return fmt.Errorf("put host %s: %w", h.ID, err)
	}
	return nil
}

const hostCols = `id, hostname, os, info, node_key_hash, enrolled_at, last_seen, egress_ip, last_seq, spool_dropped, agent_version, rules_version, rules_error`

type scanner interface{ Scan(...any) error }

func scanHost(r scanner) (store.Host, error) {
	var (
		h              store.Host
		info           []byte
		enrolled, seen int64
		seq, dropped   int64
	)
	if err := r.Scan(&h.ID, &h.Hostname, &h.OS, &info, &h.NodeKeyHash, &enrolled, &seen, &h.EgressIP, &seq, &dropped, &h.AgentVersion, &h.RulesVersion, &h.RulesError); err != nil {
		return h, err
	}
	if len(info) > 0 {
		h.Info = &fwv1.HostInfo{}
		if err := proto.Unmarshal(info, h.Info); err != nil {
			return h, fmt.Errorf("host %s: stored info: %w", h.ID, err)
		}
	}
	h.EnrolledAt, h.LastSeen = fromMS(enrolled), fromMS(seen)
	h.LastSeq, h.SpoolDropped = uint64(seq), uint64(dropped)
	return h, nil
}

func (s *DB) hostWhere(ctx context.Context, where string, arg any) (store.Host, error) {
	h, err := scanHost(s.rd.QueryRowContext(ctx, `SELECT `+hostCols+` FROM hosts WHERE `+where, arg))
	if errors.Is(err, sql.ErrNoRows) {
		return h, store.ErrNotFound
	}
	return h, err
}

// Host implements store.Store.
func (s *DB) Host(ctx context.Context, id string) (store.Host, error) {
	h, err := s.hostWhere(ctx, `id = ?`, id)
	if err != nil {
		return h, fmt.Errorf("host %s: %w", id, err)
	}
	return h, nil
}

// HostByName implements store.Store. The most recently seen host of that
// name wins when several share it.
func (s *DB) HostByName(ctx context.Context, name string) (store.Host, error) {
	h, err := s.hostWhere(ctx, `hostname = ? ORDER BY last_seen DESC LIMIT 1`, name)
	if err != nil {
		return h, fmt.Errorf("host %s: %w", name, err)
	}
	return h, nil
}

// Hosts implements store.Store.
func (s *DB) Hosts(ctx context.Context) ([]store.Host, error) {
	rows, err := s.rd.QueryContext(ctx, `SELECT `+hostCols+` FROM hosts ORDER BY hostname, id`)
	if err != nil {
		return nil, fmt.Errorf("hosts: %w", err)
	}
	defer rows.Close()
	var out []store.Host
	for rows.Next() {
		h, err := scanHost(rows)
		if err != nil {
			return nil, fmt.Errorf("hosts: %w", err)
		}
		out = append(out, h)
	}
	return out, rows.Err()
}

// ApplyMessage implements store.Store.
//
// Messages that arrive while another transaction commits are applied
// together in the next one (group commit): each in a savepoint of its own,
// so one that fails is undone alone, and each call returns once the
// transaction that holds its message has committed. With many agents
// streaming, one fsync then serves many messages.
func (s *DB) ApplyMessage(ctx context.Context, hostID string, seq uint64, a store.Apply) (bool, error) {
	r := &applyReq{ctx: ctx, hostID: hostID, seq: seq, a: a, done: make(chan applyRes, 1)}
	select {
	case s.applyq <- r:
	case <-ctx.Done():
		return false, fmt.Errorf("apply %s #%d: %w", hostID, seq, ctx.Err())
	case <-s.closed:
		return false, fmt.Errorf("apply %s #%d: the store is closed", hostID, seq)
	}
	select {
	case res := <-r.done:
		return res.applied, res.err
	case <-ctx.Done(): // not acknowledged: if it commits, its resend changes nothing
		return false, fmt.Errorf("apply %s #%d: %w", hostID, seq, ctx.Err())
	}
}

type applyReq struct {
	ctx    context.Context
	hostID string
	seq    uint64
	a      store.Apply
	done   chan applyRes
}

type applyRes struct {
	applied bool
	err     error
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
		for i, r := range group {
			if res[i].err == nil {
				res[i] = applyRes{err: fmt.Errorf("apply %s #%d: %s: %w", r.hostID, r.seq, what, err)}
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
			res[i] = applyRes{err: fmt.Errorf("apply %s #%d: %w", r.hostID, r.seq, err)}
			continue
		}
		if _, err := s.stmt(ctx, tx, "savepoint").ExecContext(ctx); err != nil {
			failAll("savepoint", err)
			return
		}
		applied, err := s.applyTx(r.ctx, tx, r.hostID, r.seq, r.a)
		if err != nil {
			if _, rerr := s.stmt(ctx, tx, "rollbackTo").ExecContext(ctx); rerr != nil {
				res[i] = applyRes{err: err}
				failAll("rollback to savepoint", rerr)
				return
			}
		}
		if _, err := s.stmt(ctx, tx, "release").ExecContext(ctx); err != nil {
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
	reply()
}

// applyTx applies one message in tx.
func (s *DB) applyTx(ctx context.Context, tx *sql.Tx, hostID string, seq uint64, a store.Apply) (bool, error) {
	var last int64
	if err := s.stmt(ctx, tx, "lastSeq").QueryRowContext(ctx, hostID).Scan(&last); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return false, fmt.Errorf("apply %s #%d: %w", hostID, seq, store.ErrNotFound)
		}
		return false, fmt.Errorf("apply %s #%d: %w", hostID, seq, err)
	}
	if seq <= uint64(last) {
		return false, nil // applied before: nothing changes
	}
	fail := func(what string, err error) (bool, error) {
		return false, fmt.Errorf("apply %s #%d: %s: %w", hostID, seq, what, err)
	}
	var hist history
	removed := a.Removed
	// existing holds the keys among the upserted ones that the host has
	// already: an upsert of one is a change (or nothing), of any other an
	// addition. One query a message, not one a row: a RETURNING clause on
	// each upsert cost a third of the ingest rate.
	existing := make(map[string]bool, len(a.Upserted))
	if a.Full { // what the host no longer has is removed
		keep := make(map[string]bool, len(a.Upserted))
		for _, o := range a.Upserted {
			keep[o.GetKey()] = true
		}
		rows, err := s.stmt(ctx, tx, "keys").QueryContext(ctx, hostID)
		if err != nil {
			return fail("keys", err)
		}
		removed = nil
		for rows.Next() {
			var k string
			if err := rows.Scan(&k); err != nil {
				rows.Close()
				return fail("keys", err)
			}
			if keep[k] {
				existing[k] = true
			} else {
				removed = append(removed, k)
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return fail("keys", err)
		}
	} else if err := s.existingKeys(ctx, tx, hostID, a.Upserted, existing); err != nil {
		return fail("keys", err)
	}
	if len(a.Upserted) > 0 {
		st := s.stmt(ctx, tx, "upsert")
		for _, o := range a.Upserted {
			b, err := marshal.Marshal(o)
			if err != nil {
				return fail("encode "+o.GetKey(), err)
			}
			kind := observation.KindOf(o)
			r, err := st.ExecContext(ctx, hostID, o.GetKey(), kind, b, int64(seq))
			if err != nil {
				return fail("upsert "+o.GetKey(), err)
			}
			switch n, _ := r.RowsAffected(); {
			case n == 0: // unchanged
			case existing[o.GetKey()]:
				hist.add(fwv1.ObservationChange_OP_CHANGED, o.GetKey(), kind, b)
			default:
				// An addition's body is not kept twice: it is in the
				// observations table until it changes or goes (and
				// those changes keep theirs). A third of the ingest
				// rate, measured.
				hist.add(fwv1.ObservationChange_OP_ADDED, o.GetKey(), kind, nil)
			}
		}
	}
	for _, k := range removed {
		var (
			kind string
			body []byte
		)
		switch err := s.stmt(ctx, tx, "remove").QueryRowContext(ctx, hostID, k).Scan(&kind, &body); {
		case errors.Is(err, sql.ErrNoRows): // not there: no change
		case err != nil:
			return fail("remove "+k, err)
		default:
			hist.add(fwv1.ObservationChange_OP_REMOVED, k, kind, body)
		}
	}
	if hist.n > 0 {
		if _, err := s.stmt(ctx, tx, "changes").ExecContext(ctx, hostID, int64(seq), ms(a.Seen), hist.n, hist.b); err != nil {
			return fail("history", err)
		}
	}
	if a.FindingsSet {
		if err := s.applyFindings(ctx, tx, hostID, a); err != nil {
			return fail("findings", err)
		}
	}
	if _, err := s.stmt(ctx, tx, "host").ExecContext(ctx,
		int64(seq), ms(a.Seen), a.EgressIP, a.EgressIP, int64(a.SpoolDropped), hostID); err != nil {
		return fail("host", err)
	}
	return true, nil
}

// applyFindings opens the findings that are new, refreshes the ones still
// present (reopening resolved ones), and resolves open ones that are gone.
func (s *DB) applyFindings(ctx context.Context, tx *sql.Tx, hostID string, a store.Apply) error {
	now := ms(a.Seen)
	current := map[string]bool{}
	for _, f := range a.Findings {
		id := store.FindingID(f)
		if current[id] {
			continue
		}
		current[id] = true
		b, err := marshal.Marshal(f)
		if err != nil {
			return err
		}
		if _, err := s.stmt(ctx, tx, "finding").ExecContext(ctx, hostID, id, f.GetRule(), int32(f.GetSeverity()), b, now, now); err != nil {
			return err
		}
	}
	if len(current) == 0 { // the common case: nothing found, nothing to compare
		_, err := s.stmt(ctx, tx, "resolveAll").ExecContext(ctx, now, hostID)
		return err
	}
	rows, err := s.stmt(ctx, tx, "openIDs").QueryContext(ctx, hostID)
	if err != nil {
		return err
	}
	var gone []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return err
		}
		if !current[id] {
			gone = append(gone, id)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	for _, id := range gone {
		if _, err := s.stmt(ctx, tx, "resolve").ExecContext(ctx, now, hostID, id); err != nil {
			return err
		}
	}
	return nil
}

// Observations implements store.Store.
func (s *DB) Observations(ctx context.Context, hostID string) ([]*fwv1.Observation, error) {
	rows, err := s.rd.QueryContext(ctx, `SELECT key, body FROM observations WHERE host_id = ? ORDER BY key`, hostID)
	if err != nil {
		return nil, fmt.Errorf("observations %s: %w", hostID, err)
	}
	defer rows.Close()
	var out []*fwv1.Observation
	for rows.Next() {
		var (
			key  string
			body []byte
		)
		if err := rows.Scan(&key, &body); err != nil {
			return nil, fmt.Errorf("observations %s: %w", hostID, err)
		}
		o := &fwv1.Observation{}
		if err := proto.Unmarshal(body, o); err != nil {
			return nil, fmt.Errorf("observations %s: stored %s: %w", hostID, key, err)
		}
		out = append(out, o)
	}
	return out, rows.Err()
}

// Findings implements store.Store.
func (s *DB) Findings(ctx context.Context, f store.FindingFilter) ([]store.FindingRow, error) {
	var (
		where []string
		args  []any
	)
	if f.HostID != "" {
		where, args = append(where, "f.host_id = ?"), append(args, f.HostID)
	}
	if !f.All {
		where = append(where, "f.state = 'open'")
	}
	if f.MinSeverity > 0 {
		where, args = append(where, "f.severity >= ?"), append(args, int32(f.MinSeverity))
	}
	q := `SELECT f.host_id, h.hostname, f.id, f.body, f.state, f.first_seen, f.last_seen
FROM findings f JOIN hosts h ON h.id = f.host_id`
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += " ORDER BY f.severity DESC, h.hostname, f.rule, f.id"
	rows, err := s.rd.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("findings: %w", err)
	}
	defer rows.Close()
	var out []store.FindingRow
	for rows.Next() {
		var (
			r           store.FindingRow
			body        []byte
			state       string
			first, last int64
		)
		if err := rows.Scan(&r.HostID, &r.Hostname, &r.ID, &body, &state, &first, &last); err != nil {
			return nil, fmt.Errorf("findings: %w", err)
		}
		r.Finding = &fwv1.Finding{}
		if err := proto.Unmarshal(body, r.Finding); err != nil {
			return nil, fmt.Errorf("findings: stored %s: %w", r.ID, err)
		}
		r.State, r.FirstSeen, r.LastSeen = store.FindingState(state), fromMS(first), fromMS(last)
		out = append(out, r)
	}
	return out, rows.Err()
}

// PutToken implements store.Store.
func (s *DB) PutToken(ctx context.Context, hash []byte, role store.Role, created time.Time) error {
	if _, err := s.db.ExecContext(ctx, `INSERT INTO tokens (hash, role, created) VALUES (?, ?, ?)`, hash, string(role), ms(created)); err != nil {
		return fmt.Errorf("put token: %w", err)
	}
	return nil
}

// TokenRole implements store.Store.
func (s *DB) TokenRole(ctx context.Context, hash []byte) (store.Role, error) {
	var role string
	err := s.rd.QueryRowContext(ctx, `SELECT role FROM tokens WHERE hash = ?`, hash).Scan(&role)
	if errors.Is(err, sql.ErrNoRows) {
		return "", store.ErrNotFound
	}
	if err != nil {
		return "", fmt.Errorf("token: %w", err)
	}
	return store.Role(role), nil
}

// keyArray is keys as one JSON array, for "IN (SELECT value FROM
// json_each(?))": one statement whatever their number. Encoding strings
// cannot fail.
func keyArray(keys []string) string {
	b, _ := json.Marshal(keys)
	return string(b)
}

// existingKeys adds to into the keys of obs that the host has. The keys go
// as one JSON array, so the statement is prepared once.
func (s *DB) existingKeys(ctx context.Context, tx *sql.Tx, hostID string, obs []*fwv1.Observation, into map[string]bool) error {
	if len(obs) == 0 {
		return nil
	}
	keys := make([]string, len(obs))
	for i, o := range obs {
		keys[i] = o.GetKey()
	}
	rows, err := s.stmt(ctx, tx, "existing").QueryContext(ctx, hostID, keyArray(keys))
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var k string
		if err := rows.Scan(&k); err != nil {
			return err
		}
		into[k] = true
	}
	return rows.Err()
}

// history is one message's changes, encoded as an
// ObservationChanges as they are found: the observations are already
// encoded, so each change is framed around their bytes rather than
// decoded and encoded again.
type history struct {
	b []byte
	n int
}

func (h *history) add(op fwv1.ObservationChange_Op, key, kind string, obs []byte) {
	var c []byte
	c = protowire.AppendTag(c, 3, protowire.VarintType)
	c = protowire.AppendVarint(c, uint64(op))
	c = protowire.AppendTag(c, 4, protowire.BytesType)
	c = protowire.AppendString(c, key)
	c = protowire.AppendTag(c, 5, protowire.BytesType)
	c = protowire.AppendString(c, kind)
	if obs != nil {
		c = protowire.AppendTag(c, 6, protowire.BytesType)
		c = protowire.AppendBytes(c, obs)
	}
	h.b = protowire.AppendTag(h.b, 1, protowire.BytesType)
	h.b = protowire.AppendBytes(h.b, c)
	h.n++
}

// SetAgentStatus implements store.Store.
func (s *DB) SetAgentStatus(ctx context.Context, hostID string, st store.AgentStatus) error {
	r, err := s.db.ExecContext(ctx, `UPDATE hosts SET agent_version = ?, rules_version = ?, rules_error = ? WHERE id = ?`,
		st.AgentVersion, st.RulesVersion, st.RulesError, hostID)
	if err != nil {
		return fmt.Errorf("agent status %s: %w", hostID, err)
	}
	if n, _ := r.RowsAffected(); n == 0 {
		return fmt.Errorf("agent status %s: %w", hostID, store.ErrNotFound)
	}
	return nil
}

// Changes implements store.Store.
func (s *DB) Changes(ctx context.Context, hostID string, f store.ChangeFilter) ([]*fwv1.ObservationChange, error) {
	limit := f.Limit
	if limit <= 0 {
		limit = 1000
	}
	rows, err := s.rd.QueryContext(ctx, `SELECT seq, at, body FROM changes WHERE host_id = ? AND at >= ? ORDER BY seq DESC`, hostID, ms(f.Since))
	if err != nil {
		return nil, fmt.Errorf("changes %s: %w", hostID, err)
	}
	defer rows.Close()
	var (
		out   []*fwv1.ObservationChange        // newest first until reversed
		later = map[string]*fwv1.Observation{} // key -> its body at the nearest later change
		need  []*fwv1.ObservationChange        // additions with no later change: the current body
	)
	for rows.Next() && len(out) < limit {
		var (
			seq, at int64
			body    []byte
		)
		if err := rows.Scan(&seq, &at, &body); err != nil {
			return nil, fmt.Errorf("changes %s: %w", hostID, err)
		}
		var cs fwv1.ObservationChanges
		if err := proto.Unmarshal(body, &cs); err != nil {
			return nil, fmt.Errorf("changes %s: stored #%d: %w", hostID, seq, err)
		}
		for i := len(cs.Changes) - 1; i >= 0 && len(out) < limit; i-- {
			c := cs.Changes[i]
			if c.Observation != nil {
				later[c.Key] = c.Observation
			} else if c.Op == fwv1.ObservationChange_OP_ADDED {
				if o := later[c.Key]; o != nil {
					c.Observation = o
				} else if f.Kind == "" || c.Kind == f.Kind {
					need = append(need, c)
				}
			}
			if f.Kind != "" && c.Kind != f.Kind {
				continue
			}
			c.Seq, c.At = uint64(seq), timestamppb.New(fromMS(at))
			out = append(out, c)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("changes %s: %w", hostID, err)
	}
	rows.Close() // its connection may be the only one (in memory)
	if err := s.currentBodies(ctx, hostID, need); err != nil {
		return nil, fmt.Errorf("changes %s: %w", hostID, err)
	}
	slices.Reverse(out)
	return out, nil
}

// currentBodies fills in the observation of additions from the host's
// current observations.
func (s *DB) currentBodies(ctx context.Context, hostID string, cs []*fwv1.ObservationChange) error {
	if len(cs) == 0 {
		return nil
	}
	keys := make([]string, len(cs))
	for i, c := range cs {
		keys[i] = c.Key
	}
	rows, err := s.rd.QueryContext(ctx, `SELECT key, body FROM observations WHERE host_id = ? AND key IN (SELECT value FROM json_each(?))`, hostID, keyArray(keys))
	if err != nil {
		return err
	}
	defer rows.Close()
	bodies := map[string]*fwv1.Observation{}
	for rows.Next() {
		var (
			k string
			b []byte
		)
		if err := rows.Scan(&k, &b); err != nil {
			return err
		}
		o := &fwv1.Observation{}
		if err := proto.Unmarshal(b, o); err != nil {
			return fmt.Errorf("stored %s: %w", k, err)
		}
		bodies[k] = o
	}
	if err := rows.Err(); err != nil {
		return err
	}
	for _, c := range cs {
		c.Observation = bodies[c.Key]
	}
	return nil
}

// PruneChanges implements store.Store.
func (s *DB) PruneChanges(ctx context.Context, before time.Time) (int64, error) {
	r, err := s.db.ExecContext(ctx, `DELETE FROM changes WHERE at < ?`, ms(before))
	if err != nil {
		return 0, fmt.Errorf("prune history: %w", err)
	}
	return r.RowsAffected()
}
