package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/farmwatch/farmwatch/collector/store"
	"github.com/jackc/pgx/v5"
)

const tokenCols = `id, hash, name, role, created, expires, revoked, last_used`

func scanToken(r pgx.Row) (store.Token, error) {
	var (
		t                                 store.Token
		role                              string
		created, expires, revoked, lastAt int64
	)
	if err := r.Scan(&t.ID, &t.Hash, &t.Name, &role, &created, &expires, &revoked, &lastAt); err != nil {
		return t, err
	}
	t.Role = store.Role(role)
	t.Created, t.Expires, t.Revoked, t.LastUsed = fromMS(created), fromMS(expires), fromMS(revoked), fromMS(lastAt)
	return t, nil
}

// PutToken implements store.Store.
func (s *DB) PutToken(ctx context.Context, t store.Token) error {
	if len(t.Hash) < 16 {
		return fmt.Errorf("put token: a hash of %d bytes is too short", len(t.Hash))
	}
	t.ID = store.TokenID(t.Hash)
	_, err := s.pool.Exec(ctx, `INSERT INTO tokens (`+tokenCols+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
		t.ID, t.Hash, t.Name, string(t.Role), ms(t.Created), ms(t.Expires), ms(t.Revoked), ms(t.LastUsed))
	if err != nil {
		return fmt.Errorf("put token %s: %w", t.ID, err)
	}
	return nil
}

// TokenByHash implements store.Store.
func (s *DB) TokenByHash(ctx context.Context, hash []byte) (store.Token, error) {
	t, err := scanToken(s.pool.QueryRow(ctx, `SELECT `+tokenCols+` FROM tokens WHERE hash = $1`, hash))
	if errors.Is(err, pgx.ErrNoRows) {
		return t, store.ErrNotFound
	}
	if err != nil {
		return t, fmt.Errorf("token: %w", err)
	}
	return t, nil
}

// Tokens implements store.Store.
func (s *DB) Tokens(ctx context.Context, all bool, now time.Time) ([]store.Token, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+tokenCols+` FROM tokens
WHERE $1 OR (revoked = 0 AND (expires = 0 OR expires > $2)) ORDER BY created, id`, all, ms(now))
	if err != nil {
		return nil, fmt.Errorf("tokens: %w", err)
	}
	defer rows.Close()
	var out []store.Token
	for rows.Next() {
		t, err := scanToken(rows)
		if err != nil {
			return nil, fmt.Errorf("tokens: %w", err)
		}
		out = append(out, t)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("tokens: %w", err)
	}
	return out, nil
}

// tokensLock is the transaction lock of revocations: PostgreSQL's
// statements do not see each other's uncommitted rows, so two revocations
// at once (two replicas) would each find the other admin token valid.
const tokensLock = 0x66770002

// revokeToken revokes a token unless it is an admin token valid at the
// time and no other is.
const revokeToken = `UPDATE tokens SET revoked = $1 WHERE id = $2 AND revoked = 0 AND (
  role <> 'admin' OR (expires <> 0 AND expires <= $1) OR EXISTS (
    SELECT 1 FROM tokens o WHERE o.id <> $2 AND o.role = 'admin' AND o.revoked = 0 AND (o.expires = 0 OR o.expires > $1)))
RETURNING ` + tokenCols

// RevokeToken implements store.Store.
func (s *DB) RevokeToken(ctx context.Context, id string, at time.Time) (store.Token, error) {
	if at.IsZero() {
		return store.Token{}, fmt.Errorf("revoke token %s: no time given", id)
	}
	var (
		t       store.Token
		outcome error
	)
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, tokensLock); err != nil {
			return err
		}
		var err error
		t, err = scanToken(tx.QueryRow(ctx, revokeToken, ms(at), id))
		if !errors.Is(err, pgx.ErrNoRows) {
			return err
		}
		// Nothing changed: no such token, revoked before, or the last admin.
		t, err = scanToken(tx.QueryRow(ctx, `SELECT `+tokenCols+` FROM tokens WHERE id = $1`, id))
		switch {
		case errors.Is(err, pgx.ErrNoRows):
			outcome = store.ErrNotFound
		case err != nil:
			return err
		case t.Revoked.IsZero():
			outcome = store.ErrLastAdmin
		}
		return nil
	})
	if err == nil {
		err = outcome
	}
	if err != nil {
		return t, fmt.Errorf("revoke token %s: %w", id, err)
	}
	return t, nil
}

// TouchToken implements store.Store. An unknown id changes nothing; the
// update writes nothing when the time kept is as late.
func (s *DB) TouchToken(ctx context.Context, id string, at time.Time) error {
	if _, err := s.pool.Exec(ctx, `UPDATE tokens SET last_used = $1 WHERE id = $2 AND last_used < $1`, ms(at), id); err != nil {
		return fmt.Errorf("touch token %s: %w", id, err)
	}
	return nil
}
