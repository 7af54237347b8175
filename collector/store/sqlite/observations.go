package sqlite

import (
	"context"
	"database/sql"
	"fmt"

	fwv1 "github.com/farmwatch/farmwatch/proto/farmwatch/v1"
	"google.golang.org/protobuf/proto"
)

// Observations implements store.Store.
func (s *DB) Observations(ctx context.Context, hostID string) ([]*fwv1.Observation, error) {
	rows, err := s.rs.observations.QueryContext(ctx, hostID)
	if err != nil {
		return nil, fmt.Errorf("observations %s: %w", hostID, err)
	}
	return observationRows(hostID, rows)
}

// ObservationsOfKinds implements store.Store: the kinds go as one JSON
// array, so the statement is prepared once.
func (s *DB) ObservationsOfKinds(ctx context.Context, hostID string, kinds []string) ([]*fwv1.Observation, error) {
	rows, err := s.rs.ofKinds.QueryContext(ctx, hostID, keyArray(kinds))
	if err != nil {
		return nil, fmt.Errorf("observations %s: %w", hostID, err)
	}
	return observationRows(hostID, rows)
}

// observationRows decodes rows of (key, body).
func observationRows(hostID string, rows *sql.Rows) ([]*fwv1.Observation, error) {
	defer rows.Close()
	var out []*fwv1.Observation
	for rows.Next() {
		var (
			key  string
			body []byte
		)
		if err := rows.Scan(&key, &body); err != nil {
			return nil, fmt.Errorf("observations %s: %w", hostID, err)
		}
		o := &fwv1.Observation{}
		if err := proto.Unmarshal(body, o); err != nil {
			return nil, fmt.Errorf("observations %s: stored %s: %w", hostID, key, err)
		}
		out = append(out, o)
	}
	return out, rows.Err()
}
