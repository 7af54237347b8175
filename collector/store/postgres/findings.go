package postgres

import (
	"context"
	"fmt"
	"strings"

	"github.com/farmwatch/farmwatch/collector/store"
	"github.com/jackc/pgx/v5"
)

// applyFindings opens the findings that are new, refreshes the ones still
// present (reopening resolved ones), and resolves open ones that are gone.
func applyFindings(ctx context.Context, tx pgx.Tx, hostID string, a store.Apply) error {
	now := ms(a.Seen)
	current := []string{} // not nil: NULL would match nothing
	seen := map[string]bool{}
	for _, f := range a.Findings {
		id := store.FindingID(f)
		if seen[id] {
			continue
		}
		seen[id] = true
		current = append(current, id)
		b, err := marshal.Marshal(f)
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO findings AS f (host_id, id, rule, severity, body, state, first_seen, last_seen) VALUES ($1, $2, $3, $4, $5, 'open', $6, $6)
ON CONFLICT (host_id, id) DO UPDATE SET body = excluded.body, severity = excluded.severity, last_seen = excluded.last_seen,
  first_seen = CASE WHEN f.state = 'resolved' THEN excluded.first_seen ELSE f.first_seen END,
  state = 'open'`, hostID, id, f.GetRule(), int32(f.GetSeverity()), b, now); err != nil {
			return err
		}
	}
	// The open ones that are gone (every one, when none is current).
	_, err := tx.Exec(ctx, `UPDATE findings SET state = 'resolved', last_seen = $1 WHERE host_id = $2 AND state = 'open' AND id <> ALL($3::text[])`,
		now, hostID, current)
	return err
}

// Findings implements store.Store.
func (s *DB) Findings(ctx context.Context, f store.FindingFilter) ([]store.FindingRow, error) {
	var (
		where []string
		args  []any
	)
	if f.HostID != "" {
		args = append(args, f.HostID)
		where = append(where, fmt.Sprintf("f.host_id = $%d", len(args)))
	}
	if !f.All {
		where = append(where, "f.state = 'open'")
	}
	if f.MinSeverity > 0 {
		args = append(args, int32(f.MinSeverity))
		where = append(where, fmt.Sprintf("f.severity >= $%d", len(args)))
	}
	// The agents' findings and the fleet rules' (fleet_findings) together,
	// each with its latest judgement.
	q := `SELECT f.host_id, h.hostname, f.id, f.body, f.state, f.first_seen, f.last_seen,
  coalesce(t.state, ''), coalesce(t.comment, ''), coalesce(t.by_token, ''), coalesce(t.at, 0), coalesce(t.occurrence, 0)
FROM (SELECT host_id, id, rule, severity, body, state, first_seen, last_seen FROM findings
      UNION ALL SELECT host_id, id, rule, severity, body, state, first_seen, last_seen FROM fleet_findings) f
JOIN hosts h ON h.id = f.host_id` + latestTriage
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += ` ORDER BY f.severity DESC, h.hostname COLLATE "C", f.rule COLLATE "C", f.id COLLATE "C"`
	rows, err := s.pool.Query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("findings: %w", err)
	}
	defer rows.Close()
	var out []store.FindingRow
	for rows.Next() {
		var (
			r           store.FindingRow
			body        []byte
			state, ts   string
			first, last int64
			tAt, tOcc   int64
		)
		if err := rows.Scan(&r.HostID, &r.Hostname, &r.ID, &body, &state, &first, &last,
			&ts, &r.Triage.Comment, &r.Triage.By, &tAt, &tOcc); err != nil {
			return nil, fmt.Errorf("findings: %w", err)
		}
		if err := r.Fill(body, state, first, last, ts, tAt, tOcc); err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}
