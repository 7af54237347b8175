package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/farmwatch/farmwatch/collector/store"
	"github.com/farmwatch/farmwatch/observation"
	fwv1 "github.com/farmwatch/farmwatch/proto/farmwatch/v1"
)

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

// applyTx applies one message in tx.
func (s *DB) applyTx(ctx context.Context, tx *sql.Tx, hostID string, seq uint64, a store.Apply) (bool, error) {
	var last int64
	if err := tx.StmtContext(ctx, s.st.lastSeq).QueryRowContext(ctx, hostID).Scan(&last); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return false, fmt.Errorf("apply %s #%d: %w", hostID, seq, store.ErrNotFound)
		}
		return false, fmt.Errorf("apply %s #%d: %w", hostID, seq, err)
	}
	if ok, err := store.CheckSeq(seq, uint64(last), a.Full); !ok {
		return false, err
	}
	fail := func(what string, err error) (bool, error) {
		return false, fmt.Errorf("apply %s #%d: %s: %w", hostID, seq, what, err)
	}
	var hist store.ChangeLog
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
		rows, err := tx.StmtContext(ctx, s.st.keys).QueryContext(ctx, hostID)
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
		st := tx.StmtContext(ctx, s.st.upsert)
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
				hist.Add(fwv1.ObservationChange_OP_CHANGED, o.GetKey(), kind, b)
			default:
				// An addition's body is not kept twice: it is in the
				// observations table until it changes or goes (and
				// those changes keep theirs). A third of the ingest
				// rate, measured.
				hist.Add(fwv1.ObservationChange_OP_ADDED, o.GetKey(), kind, nil)
			}
		}
	}
	for _, k := range removed {
		var (
			kind string
			body []byte
		)
		switch err := tx.StmtContext(ctx, s.st.remove).QueryRowContext(ctx, hostID, k).Scan(&kind, &body); {
		case errors.Is(err, sql.ErrNoRows): // not there: no change
		case err != nil:
			return fail("remove "+k, err)
		default:
			hist.Add(fwv1.ObservationChange_OP_REMOVED, k, kind, body)
		}
	}
	if hist.Len() > 0 {
		if _, err := tx.StmtContext(ctx, s.st.changes).ExecContext(ctx, hostID, int64(seq), ms(a.Seen), hist.Len(), hist.Bytes()); err != nil {
			return fail("history", err)
		}
	}
	if a.FindingsSet {
		if err := s.applyFindings(ctx, tx, hostID, a); err != nil {
			return fail("findings", err)
		}
	}
	if _, err := tx.StmtContext(ctx, s.st.host).ExecContext(ctx,
		int64(seq), ms(a.Seen), a.EgressIP, a.EgressIP, int64(a.SpoolDropped), hostID); err != nil {
		return fail("host", err)
	}
	if a.EgressIP != "" {
		if _, err := tx.StmtContext(ctx, s.st.egress).ExecContext(ctx, hostID, a.EgressIP, ms(a.Seen)); err != nil {
			return fail("egress", err)
		}
	}
	return true, nil
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
	rows, err := tx.StmtContext(ctx, s.st.existing).QueryContext(ctx, hostID, keyArray(keys))
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
