package sqlite

import (
	"context"
	"database/sql"
	"fmt"
)

// applyStmts are the statements of the apply path, prepared once at Open on
// the writer's connection and bound to each transaction with
// tx.StmtContext: parsing them for every agent message was a sixth of the
// ingest's CPU.
type applyStmts struct {
	// One message in the group's transaction.
	savepoint, rollbackTo, release *sql.Stmt

	lastSeq *sql.Stmt // hostID -> last_seq
	host    *sql.Stmt // the host's last_seq, last_seen, egress_ip, spool_dropped

	keys     *sql.Stmt // hostID -> every key it has
	existing *sql.Stmt // hostID, keyArray -> those of the keys it has
	upsert   *sql.Stmt // affects no row when the body is unchanged
	remove   *sql.Stmt // returns the kind and body removed

	changes *sql.Stmt // one message's history
	egress  *sql.Stmt // the host's egress IP in its history

	finding    *sql.Stmt // opens, refreshes or reopens one finding
	openIDs    *sql.Stmt // hostID -> the ids of its open findings
	resolve    *sql.Stmt // one open finding
	resolveAll *sql.Stmt // every open finding of a host
}

func newApplyStmts(prepare func(name, q string) *sql.Stmt) applyStmts {
	return applyStmts{
		savepoint:  prepare("savepoint", `SAVEPOINT msg`),
		rollbackTo: prepare("rollbackTo", `ROLLBACK TO msg`),
		release:    prepare("release", `RELEASE msg`),

		lastSeq: prepare("lastSeq", `SELECT last_seq FROM hosts WHERE id = ?`),
		host: prepare("host", `UPDATE hosts SET last_seq = ?, last_seen = max(last_seen, ?),
  egress_ip = CASE WHEN ? = '' THEN egress_ip ELSE ? END, spool_dropped = max(spool_dropped, ?) WHERE id = ?`),

		keys:     prepare("keys", `SELECT key FROM observations WHERE host_id = ?`),
		existing: prepare("existing", `SELECT key FROM observations WHERE host_id = ? AND key IN (SELECT value FROM json_each(?))`),
		upsert: prepare("upsert", `INSERT INTO observations (host_id, key, kind, body, first_seq) VALUES (?, ?, ?, ?, ?)
ON CONFLICT(host_id, key) DO UPDATE SET kind = excluded.kind, body = excluded.body WHERE observations.body <> excluded.body`),
		remove: prepare("remove", `DELETE FROM observations WHERE host_id = ? AND key = ? RETURNING kind, body`),

		changes: prepare("changes", `INSERT INTO changes (host_id, seq, at, n, body) VALUES (?, ?, ?, ?, ?)`),
		egress:  prepare("egress", egressUpsert),

		finding: prepare("finding", `INSERT INTO findings (host_id, id, rule, severity, body, state, first_seen, last_seen) VALUES (?, ?, ?, ?, ?, 'open', ?, ?)
ON CONFLICT(host_id, id) DO UPDATE SET body = excluded.body, severity = excluded.severity, last_seen = excluded.last_seen,
  first_seen = CASE WHEN findings.state = 'resolved' THEN excluded.first_seen ELSE findings.first_seen END,
  state = 'open'`),
		openIDs:    prepare("openIDs", `SELECT id FROM findings WHERE host_id = ? AND state = 'open'`),
		resolve:    prepare("resolve", `UPDATE findings SET state = 'resolved', last_seen = ? WHERE host_id = ? AND id = ?`),
		resolveAll: prepare("resolveAll", `UPDATE findings SET state = 'resolved', last_seen = ? WHERE host_id = ? AND state = 'open'`),
	}
}

// readStmts are the queries of fixed SQL, prepared once at Open on the
// readers' pool (each connection prepares one the first time it runs it).
// Findings builds its query from its filter and is not among them.
type readStmts struct {
	host, hostsByName, hosts *sql.Stmt // hostCols
	observations             *sql.Stmt // hostID -> key, body of each
	ofKinds                  *sql.Stmt // hostID, kinds (JSON array) -> key, body of each of those kinds
	bodies                   *sql.Stmt // hostID, keyArray -> key, body of those it has
	changesSince             *sql.Stmt // hostID, since -> seq, at, body, newest first
	tokenByHash              *sql.Stmt // hash -> tokenCols
	tokens                   *sql.Stmt // all, now -> tokenCols of each (all, or those valid at now), oldest first
}

func newReadStmts(prepare func(name, q string) *sql.Stmt) readStmts {
	return readStmts{
		host:         prepare("host", `SELECT `+hostCols+` FROM hosts WHERE id = ?`),
		hostsByName:  prepare("hostsByName", `SELECT `+hostCols+` FROM hosts WHERE hostname = ? ORDER BY last_seen DESC, id`),
		hosts:        prepare("hosts", `SELECT `+hostCols+` FROM hosts ORDER BY hostname, id`),
		observations: prepare("observations", `SELECT key, body FROM observations WHERE host_id = ? ORDER BY key`),
		ofKinds:      prepare("ofKinds", `SELECT key, body FROM observations WHERE host_id = ? AND kind IN (SELECT value FROM json_each(?)) ORDER BY key`),
		bodies:       prepare("bodies", `SELECT key, body FROM observations WHERE host_id = ? AND key IN (SELECT value FROM json_each(?))`),
		changesSince: prepare("changesSince", `SELECT seq, at, body FROM changes WHERE host_id = ? AND at >= ? ORDER BY seq DESC`),
		tokenByHash:  prepare("tokenByHash", `SELECT `+tokenCols+` FROM tokens WHERE hash = ?`),
		tokens: prepare("tokens", `SELECT `+tokenCols+` FROM tokens
WHERE ?1 OR (revoked = 0 AND (expires = 0 OR expires > ?2)) ORDER BY created, id`),
	}
}

// preparer prepares the statements at Open. It keeps every statement it
// prepared, for Close, and the first error, which names the statement that
// failed; after an error it prepares nothing more.
type preparer struct {
	ctx   context.Context
	stmts []*sql.Stmt
	err   error
}

// on returns a function that prepares statements on db.
func (p *preparer) on(db *sql.DB) func(name, q string) *sql.Stmt {
	return func(name, q string) *sql.Stmt {
		if p.err != nil {
			return nil
		}
		st, err := db.PrepareContext(p.ctx, q)
		if err != nil {
			p.err = fmt.Errorf("prepare %s: %w", name, err)
			return nil
		}
		p.stmts = append(p.stmts, st)
		return st
	}
}
