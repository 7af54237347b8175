package postgres

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/farmwatch/farmwatch/collector/store"
	"github.com/farmwatch/farmwatch/observation"
	fwv1 "github.com/farmwatch/farmwatch/proto/farmwatch/v1"
	"github.com/jackc/pgx/v5"
)

// ApplyMessage implements store.Store: one transaction, which locks the
// host's row first (SELECT ... FOR UPDATE), so that a message that two
// replicas receive at once (an agent that failed over while its old
// stream was still being served) is applied by one of them and refused
// as applied before by the other. Many agents' messages commit at once in
// PostgreSQL's own group commit of the WAL.
func (s *DB) ApplyMessage(ctx context.Context, hostID string, seq uint64, a store.Apply) (bool, error) {
	var applied bool
	var seqErr error
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var last int64
		if err := tx.QueryRow(ctx, `SELECT last_seq FROM hosts WHERE id = $1 FOR UPDATE`, hostID).Scan(&last); err != nil {
			if errors.Is(err, pgx.ErrNoRows) {
				return store.ErrNotFound
			}
			return err
		}
		if ok, err := store.CheckSeq(seq, uint64(last), a.Full); !ok {
			seqErr = err // nothing changes: the transaction commits nothing
			return nil
		}
		if err := s.applyTx(ctx, tx, hostID, seq, a); err != nil {
			return err
		}
		applied = true
		return nil
	})
	if err != nil {
		return false, fmt.Errorf("apply %s #%d: %w", hostID, seq, err)
	}
	return applied, seqErr
}

// termSep joins one observation's terms in one array element.
const termSep = "\x1f"

const upsertObservations = `INSERT INTO observations AS o (host_id, key, kind, body, first_seq, terms)
SELECT $1, u.k, u.kind, u.b, $2, string_to_array(u.t, E'\x1f')
FROM unnest($3::text[], $4::text[], $5::bytea[], $6::text[]) AS u (k, kind, b, t)
ON CONFLICT (host_id, key) DO UPDATE SET kind = excluded.kind, body = excluded.body, terms = excluded.terms
WHERE o.body <> excluded.body
RETURNING o.key, (o.xmax = 0)`

// applyTx applies one message in tx, whose host row is locked.
func (s *DB) applyTx(ctx context.Context, tx pgx.Tx, hostID string, seq uint64, a store.Apply) error {
	var hist store.ChangeLog
	// One row per key: the last upsert of a key wins.
	up := make([]*fwv1.Observation, 0, len(a.Upserted))
	pos := make(map[string]int, len(a.Upserted))
	for _, o := range a.Upserted {
		if i, ok := pos[o.GetKey()]; ok {
			up[i] = o
			continue
		}
		pos[o.GetKey()] = len(up)
		up = append(up, o)
	}
	if len(up) > 0 {
		keys, kinds, terms := make([]string, len(up)), make([]string, len(up)), make([]string, len(up))
		bodies := make([][]byte, len(up))
		for i, o := range up {
			b, err := marshal.Marshal(o)
			if err != nil {
				return fmt.Errorf("encode %s: %w", o.GetKey(), err)
			}
			keys[i], kinds[i], bodies[i] = o.GetKey(), observation.KindOf(o), b
			ts := store.Terms(o)
			for j, t := range ts {
				ts[j] = strings.ReplaceAll(t, termSep, "")
			}
			terms[i] = strings.Join(ts, termSep)
		}
		rows, err := tx.Query(ctx, upsertObservations, hostID, int64(seq), keys, kinds, bodies, terms)
		if err != nil {
			return fmt.Errorf("upsert: %w", err)
		}
		added := make([]int8, len(up)) // 0 unchanged, 1 added, 2 changed
		for rows.Next() {
			var (
				k  string
				ad bool
			)
			if err := rows.Scan(&k, &ad); err != nil {
				rows.Close()
				return fmt.Errorf("upsert: %w", err)
			}
			if ad {
				added[pos[k]] = 1
			} else {
				added[pos[k]] = 2
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return fmt.Errorf("upsert: %w", err)
		}
		for i, st := range added {
			switch st {
			case 1: // the body is in the observations table until it changes or goes
				hist.Add(fwv1.ObservationChange_OP_ADDED, keys[i], kinds[i], nil)
			case 2:
				hist.Add(fwv1.ObservationChange_OP_CHANGED, keys[i], kinds[i], bodies[i])
			}
		}
	}
	type removed struct {
		kind string
		body []byte
	}
	var (
		gone  = map[string]removed{}
		order []string
		rows  pgx.Rows
		err   error
	)
	switch {
	case a.Full: // what the host no longer has is removed
		keep := make([]string, 0, len(up))
		for _, o := range up {
			keep = append(keep, o.GetKey())
		}
		rows, err = tx.Query(ctx, `DELETE FROM observations WHERE host_id = $1 AND key <> ALL($2::text[]) RETURNING key, kind, body`, hostID, keep)
	case len(a.Removed) > 0:
		rows, err = tx.Query(ctx, `DELETE FROM observations WHERE host_id = $1 AND key = ANY($2::text[]) RETURNING key, kind, body`, hostID, a.Removed)
		order = a.Removed
	}
	if err != nil {
		return fmt.Errorf("remove: %w", err)
	}
	if rows != nil {
		for rows.Next() {
			var (
				k string
				r removed
			)
			if err := rows.Scan(&k, &r.kind, &r.body); err != nil {
				rows.Close()
				return fmt.Errorf("remove: %w", err)
			}
			gone[k] = r
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return fmt.Errorf("remove: %w", err)
		}
		if a.Full {
			for k := range gone {
				order = append(order, k)
			}
			slices.Sort(order)
		}
		for _, k := range order {
			if r, ok := gone[k]; ok {
				hist.Add(fwv1.ObservationChange_OP_REMOVED, k, r.kind, r.body)
				delete(gone, k) // a key removed twice in one message is one change
			}
		}
	}
	if hist.Len() > 0 {
		if _, err := tx.Exec(ctx, `INSERT INTO changes (host_id, seq, at, n, body) VALUES ($1, $2, $3, $4, $5)`,
			hostID, int64(seq), ms(a.Seen), hist.Len(), hist.Bytes()); err != nil {
			return fmt.Errorf("history: %w", err)
		}
	}
	if a.FindingsSet {
		if err := applyFindings(ctx, tx, hostID, a); err != nil {
			return fmt.Errorf("findings: %w", err)
		}
	}
	if _, err := tx.Exec(ctx, `UPDATE hosts SET last_seq = $1, last_seen = greatest(last_seen, $2),
  egress_ip = CASE WHEN $3 = '' THEN egress_ip ELSE $3 END, spool_dropped = greatest(spool_dropped, $4) WHERE id = $5`,
		int64(seq), ms(a.Seen), a.EgressIP, int64(a.SpoolDropped), hostID); err != nil {
		return fmt.Errorf("host: %w", err)
	}
	if a.EgressIP != "" {
		if _, err := tx.Exec(ctx, egressUpsert, hostID, a.EgressIP, ms(a.Seen)); err != nil {
			return fmt.Errorf("egress: %w", err)
		}
	}
	return nil
}
