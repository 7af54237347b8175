package postgres

import (
	"context"
	"fmt"

	"github.com/farmwatch/farmwatch/collector/store"
)

// latestTriage joins each finding f to its latest judgement t, if any.
const latestTriage = `
LEFT JOIN LATERAL (SELECT state, comment, by_token, at, occurrence FROM finding_triage
  WHERE host_id = f.host_id AND finding_id = f.id ORDER BY seq DESC LIMIT 1) t ON true`

// TriageFinding implements store.Store: a finding of the agent's or of
// the fleet rules'. The finding's current occurrence
// is read and the judgement written in one statement, so a judgement is
// never tied to an occurrence that ended in between.
func (s *DB) TriageFinding(ctx context.Context, t store.Triage) error {
	switch t.State {
	case store.Untriaged, store.Acknowledged, store.Expected:
	default:
		return fmt.Errorf("triage %s %s: state %q", t.HostID, t.FindingID, t.State)
	}
	if len(t.Comment) > store.MaxTriageComment {
		return fmt.Errorf("triage %s %s: a comment of %d bytes, want at most %d", t.HostID, t.FindingID, len(t.Comment), store.MaxTriageComment)
	}
	tag, err := s.pool.Exec(ctx, `INSERT INTO finding_triage (host_id, finding_id, state, comment, by_token, at, occurrence)
SELECT host_id, id, $1::text, $2::text, $3::text, $4::bigint, first_seen FROM findings WHERE host_id = $5 AND id = $6
UNION ALL SELECT host_id, id, $1::text, $2::text, $3::text, $4::bigint, first_seen FROM fleet_findings WHERE host_id = $5 AND id = $6`,
		string(t.State), t.Comment, t.By, ms(t.At), t.HostID, t.FindingID)
	if err != nil {
		return fmt.Errorf("triage %s %s: %w", t.HostID, t.FindingID, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("triage %s %s: %w", t.HostID, t.FindingID, store.ErrNotFound)
	}
	return nil
}

// TriageHistory implements store.Store.
func (s *DB) TriageHistory(ctx context.Context, hostID, findingID string) ([]store.Triage, error) {
	rows, err := s.pool.Query(ctx, `SELECT state, comment, by_token, at, occurrence FROM finding_triage
WHERE host_id = $1 AND finding_id = $2 ORDER BY seq`, hostID, findingID)
	if err != nil {
		return nil, fmt.Errorf("triage history: %w", err)
	}
	defer rows.Close()
	var out []store.Triage
	for rows.Next() {
		t := store.Triage{HostID: hostID, FindingID: findingID}
		var (
			state   string
			at, occ int64
		)
		if err := rows.Scan(&state, &t.Comment, &t.By, &at, &occ); err != nil {
			return nil, fmt.Errorf("triage history: %w", err)
		}
		t.State, t.At, t.Occurrence = store.TriageState(state), fromMS(at), fromMS(occ)
		out = append(out, t)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("triage history: %w", err)
	}
	return out, nil
}
