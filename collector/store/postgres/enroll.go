package postgres

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"time"

	"github.com/farmwatch/farmwatch/collector/store"
	"github.com/jackc/pgx/v5"
)

// Enroll implements store.Store: the decision and its effect are one
// transaction that holds the host's row, so two enrolments of one host id,
// on one replica or two, cannot both win.
func (s *DB) Enroll(ctx context.Context, e store.Enrollment) (store.EnrollOutcome, error) {
	h := e.Host
	info, err := marshalInfo(h)
	if err != nil {
		return 0, err
	}
	var outcome store.EnrollOutcome
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		// A new host id: inserted, or taken by a concurrent enrolment
		// (then decided below, on its row).
		t, err := tx.Exec(ctx, `INSERT INTO hosts (id, hostname, os, info, node_key_hash, enrolled_at, last_seen, egress_ip)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (id) DO NOTHING`,
			h.ID, h.Hostname, h.OS, info, keyHash(h.NodeKeyHash), ms(h.EnrolledAt), ms(h.LastSeen), h.EgressIP)
		if err != nil {
			return err
		}
		if t.RowsAffected() == 1 {
			outcome = store.Enrolled
			return nil
		}
		var current []byte
		if err := tx.QueryRow(ctx, `SELECT node_key_hash FROM hosts WHERE id = $1 FOR UPDATE`, h.ID).Scan(&current); err != nil {
			return err
		}
		outcome = store.Pending
		switch {
		case len(current) == 0:
			outcome = store.ResetTaken
		case len(e.PresentedKeyHash) > 0 && subtle.ConstantTimeCompare(e.PresentedKeyHash, current) == 1:
			outcome = store.Rekeyed
		case e.RequestID != "":
			var approved int64
			err := tx.QueryRow(ctx, `SELECT approved FROM pending_enrollments WHERE host_id = $1 AND request_id = $2`, h.ID, e.RequestID).Scan(&approved)
			if err != nil && !errors.Is(err, pgx.ErrNoRows) {
				return err
			}
			if approved != 0 {
				outcome = store.Approved
			}
		}
		if outcome == store.Pending {
			if e.RequestID == "" {
				return nil // nothing to approve later: not kept
			}
			if _, err := tx.Exec(ctx, `INSERT INTO pending_enrollments (host_id, request_id, hostname, peer, requested) VALUES ($1, $2, $3, $4, $5)
ON CONFLICT (host_id, request_id) DO UPDATE SET hostname = excluded.hostname, peer = excluded.peer, requested = excluded.requested`,
				h.ID, e.RequestID, h.Hostname, e.Peer, ms(h.EnrolledAt)); err != nil {
				return err
			}
			// Bounded: the oldest waiting requests past the limit go.
			_, err := tx.Exec(ctx, `DELETE FROM pending_enrollments WHERE host_id = $1 AND request_id NOT IN
(SELECT request_id FROM pending_enrollments WHERE host_id = $1 ORDER BY approved DESC, requested DESC LIMIT $2)`, h.ID, store.MaxPending)
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE hosts SET hostname = $1, os = $2, info = $3, node_key_hash = $4, enrolled_at = $5, last_seen = $6, egress_ip = $7 WHERE id = $8`,
			h.Hostname, h.OS, info, keyHash(h.NodeKeyHash), ms(h.EnrolledAt), ms(h.LastSeen), h.EgressIP, h.ID); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `DELETE FROM pending_enrollments WHERE host_id = $1`, h.ID)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("enroll %s: %w", h.ID, err)
	}
	return outcome, nil
}

// PendingEnrollments implements store.Store.
func (s *DB) PendingEnrollments(ctx context.Context, hostID string) ([]store.PendingEnrollment, error) {
	rows, err := s.pool.Query(ctx, `SELECT request_id, hostname, peer, requested, approved FROM pending_enrollments
WHERE host_id = $1 ORDER BY requested, request_id`, hostID)
	if err != nil {
		return nil, fmt.Errorf("pending enrolments of %s: %w", hostID, err)
	}
	defer rows.Close()
	var out []store.PendingEnrollment
	for rows.Next() {
		p := store.PendingEnrollment{HostID: hostID}
		var req, appr int64
		if err := rows.Scan(&p.RequestID, &p.Hostname, &p.Peer, &req, &appr); err != nil {
			return nil, fmt.Errorf("pending enrolments of %s: %w", hostID, err)
		}
		p.Requested, p.Approved = fromMS(req), fromMS(appr)
		out = append(out, p)
	}
	return out, rows.Err()
}

// ApproveEnrollment implements store.Store.
func (s *DB) ApproveEnrollment(ctx context.Context, hostID, requestID string, at time.Time) error {
	t, err := s.pool.Exec(ctx, `UPDATE pending_enrollments SET approved = $1 WHERE host_id = $2 AND request_id = $3`, ms(at), hostID, requestID)
	if err != nil {
		return fmt.Errorf("approve enrolment %s of %s: %w", requestID, hostID, err)
	}
	if t.RowsAffected() == 0 {
		return fmt.Errorf("approve enrolment %s of %s: %w", requestID, hostID, store.ErrNotFound)
	}
	return nil
}

// ResetHost implements store.Store.
func (s *DB) ResetHost(ctx context.Context, hostID string) error {
	t, err := s.pool.Exec(ctx, `UPDATE hosts SET node_key_hash = '\x'::bytea WHERE id = $1`, hostID)
	if err != nil {
		return fmt.Errorf("reset %s: %w", hostID, err)
	}
	if t.RowsAffected() == 0 {
		return fmt.Errorf("reset %s: %w", hostID, store.ErrNotFound)
	}
	return nil
}
