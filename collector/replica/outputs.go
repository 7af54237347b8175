package replica

import (
	"context"
	"errors"
	"fmt"

	"github.com/farmwatch/farmwatch/collector/output"
	"github.com/jackc/pgx/v5"
)

// OutputsLock is the advisory lock of the fleet's outputs: the replica
// holding it compares the store with what was sent, and sends.
const OutputsLock = 0x66770011

// Ledger keeps what the fleet's outputs last sent in the database (table
// output_state), for every replica. A turn holds the row locked from its
// read to its save, so that two replicas never send the same event: the
// second reads what the first saved. It implements output.Ledger.
type Ledger struct{ r *Replica }

var _ output.Ledger = Ledger{}

// OutputLedger is the fleet's outputs ledger.
func (r *Replica) OutputLedger() Ledger { return Ledger{r} }

// Turn implements output.Ledger.
func (l Ledger) Turn(ctx context.Context, fn func(prev []byte) ([]byte, error)) error {
	tx, err := l.r.pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("outputs ledger: %w", err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	// The row exists once the first turn committed; the first turns of
	// two replicas are ordered by the insert's key.
	if _, err := tx.Exec(ctx, `INSERT INTO output_state (id, body) VALUES (1, NULL) ON CONFLICT DO NOTHING`); err != nil {
		return fmt.Errorf("outputs ledger: %w", err)
	}
	var prev []byte
	err = tx.QueryRow(ctx, `SELECT body FROM output_state WHERE id = 1 FOR UPDATE`).Scan(&prev)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("outputs ledger: %w", err)
	}
	next, err := fn(prev)
	if err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, `UPDATE output_state SET body = $1 WHERE id = 1`, next); err != nil {
		return fmt.Errorf("outputs ledger: %w", err)
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("outputs ledger: events sent, %w", err)
	}
	return nil
}
