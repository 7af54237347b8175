package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"strings"

	"github.com/farmwatch/farmwatch/collector/store"
)

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
		if _, err := tx.StmtContext(ctx, s.st.finding).ExecContext(ctx, hostID, id, f.GetRule(), int32(f.GetSeverity()), b, now, now); err != nil {
			return err
		}
	}
	if len(current) == 0 { // the common case: nothing found, nothing to compare
		_, err := tx.StmtContext(ctx, s.st.resolveAll).ExecContext(ctx, now, hostID)
		return err
	}
	rows, err := tx.StmtContext(ctx, s.st.openIDs).QueryContext(ctx, hostID)
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
		if _, err := tx.StmtContext(ctx, s.st.resolve).ExecContext(ctx, now, hostID, id); err != nil {
			return err
		}
	}
	return nil
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
