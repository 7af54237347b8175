package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/farmwatch/farmwatch/collector/store"
)

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
	err := s.rs.tokenRole.QueryRowContext(ctx, hash).Scan(&role)
	if errors.Is(err, sql.ErrNoRows) {
		return "", store.ErrNotFound
	}
	if err != nil {
		return "", fmt.Errorf("token: %w", err)
	}
	return store.Role(role), nil
}
