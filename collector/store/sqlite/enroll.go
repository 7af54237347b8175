package sqlite

import (
	"context"
	"crypto/subtle"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/farmwatch/farmwatch/collector/store"
)

// Enroll implements store.Store: the decision and its effect are one
// transaction, so two enrolments of one host id cannot both win.
func (s *DB) Enroll(ctx context.Context, e store.Enrollment) (store.EnrollOutcome, error) {
	h := e.Host
	info, err := marshalInfo(h)
	if err != nil {
		return 0, err
	}
	var outcome store.EnrollOutcome
	err = s.inGroup(ctx, func(ctx context.Context, tx *sql.Tx) error {
		var err error
		outcome, err = enrollTx(ctx, tx, e, info)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("enroll %s: %w", h.ID, err)
	}
	return outcome, nil
}

// enrollTx decides and records an enrolment in tx (the writer's group
// commit: a few hundred agents enrolling at once share its commits).
func enrollTx(ctx context.Context, tx *sql.Tx, e store.Enrollment, info []byte) (store.EnrollOutcome, error) {
	h := e.Host
	fail := func(err error) (store.EnrollOutcome, error) { return 0, err }
	var current []byte
	switch err := tx.QueryRowContext(ctx, `SELECT node_key_hash FROM hosts WHERE id = ?`, h.ID).Scan(&current); {
	case errors.Is(err, sql.ErrNoRows):
		if _, err := tx.ExecContext(ctx, `INSERT INTO hosts (id, hostname, os, info, node_key_hash, enrolled_at, last_seen, egress_ip)
VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, h.ID, h.Hostname, h.OS, info, h.NodeKeyHash, ms(h.EnrolledAt), ms(h.LastSeen), h.EgressIP); err != nil {
			return fail(err)
		}
		return store.Enrolled, nil
	case err != nil:
		return fail(err)
	}
	outcome := store.Pending
	switch {
	case len(current) == 0:
		outcome = store.ResetTaken
	case len(e.PresentedKeyHash) > 0 && subtle.ConstantTimeCompare(e.PresentedKeyHash, current) == 1:
		outcome = store.Rekeyed
	case e.RequestID != "":
		var approved int64
		err := tx.QueryRowContext(ctx, `SELECT approved FROM pending_enrollments WHERE host_id = ? AND request_id = ?`, h.ID, e.RequestID).Scan(&approved)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return fail(err)
		}
		if approved != 0 {
			outcome = store.Approved
		}
	}
	if outcome == store.Pending {
		if e.RequestID == "" {
			return store.Pending, nil // nothing to approve later: not kept
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO pending_enrollments (host_id, request_id, hostname, peer, requested) VALUES (?, ?, ?, ?, ?)
ON CONFLICT(host_id, request_id) DO UPDATE SET hostname = excluded.hostname, peer = excluded.peer, requested = excluded.requested`,
			h.ID, e.RequestID, h.Hostname, e.Peer, ms(h.EnrolledAt)); err != nil {
			return fail(err)
		}
		// Bounded: the oldest waiting requests past the limit go.
		if _, err := tx.ExecContext(ctx, `DELETE FROM pending_enrollments WHERE host_id = ? AND request_id NOT IN
(SELECT request_id FROM pending_enrollments WHERE host_id = ? ORDER BY approved DESC, requested DESC LIMIT ?)`, h.ID, h.ID, store.MaxPending); err != nil {
			return fail(err)
		}
		return store.Pending, nil
	}
	if _, err := tx.ExecContext(ctx, `UPDATE hosts SET hostname = ?, os = ?, info = ?, node_key_hash = ?, enrolled_at = ?, last_seen = ?, egress_ip = ? WHERE id = ?`,
		h.Hostname, h.OS, info, h.NodeKeyHash, ms(h.EnrolledAt), ms(h.LastSeen), h.EgressIP, h.ID); err != nil {
		return fail(err)
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM pending_enrollments WHERE host_id = ?`, h.ID); err != nil {
		return fail(err)
	}
	return outcome, nil
}

// PendingEnrollments implements store.Store.
func (s *DB) PendingEnrollments(ctx context.Context, hostID string) ([]store.PendingEnrollment, error) {
	rows, err := s.rd.QueryContext(ctx, `SELECT request_id, hostname, peer, requested, approved FROM pending_enrollments
WHERE host_id = ? ORDER BY requested, request_id`, hostID)
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
	r, err := s.db.ExecContext(ctx, `UPDATE pending_enrollments SET approved = ? WHERE host_id = ? AND request_id = ?`, ms(at), hostID, requestID)
	if err != nil {
		return fmt.Errorf("approve enrolment %s of %s: %w", requestID, hostID, err)
	}
	if n, _ := r.RowsAffected(); n == 0 {
		return fmt.Errorf("approve enrolment %s of %s: %w", requestID, hostID, store.ErrNotFound)
	}
	return nil
}

// ResetHost implements store.Store.
func (s *DB) ResetHost(ctx context.Context, hostID string) error {
	r, err := s.db.ExecContext(ctx, `UPDATE hosts SET node_key_hash = x'' WHERE id = ?`, hostID)
	if err != nil {
		return fmt.Errorf("reset %s: %w", hostID, err)
	}
	if n, _ := r.RowsAffected(); n == 0 {
		return fmt.Errorf("reset %s: %w", hostID, store.ErrNotFound)
	}
	return nil
}
