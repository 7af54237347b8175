package postgres

import (
	"context"
	"fmt"

	"github.com/farmwatch/farmwatch/collector/store"
	fwv1 "github.com/farmwatch/farmwatch/proto/farmwatch/v1"
	"github.com/jackc/pgx/v5"
	"google.golang.org/protobuf/proto"
)

// Observations implements store.Store.
func (s *DB) Observations(ctx context.Context, hostID string) ([]*fwv1.Observation, error) {
	rows, err := s.pool.Query(ctx, `SELECT key, body FROM observations WHERE host_id = $1 ORDER BY key COLLATE "C"`, hostID)
	if err != nil {
		return nil, fmt.Errorf("observations %s: %w", hostID, err)
	}
	return observationRows(hostID, rows)
}

// ObservationsOfKinds implements store.Store.
func (s *DB) ObservationsOfKinds(ctx context.Context, hostID string, kinds []string) ([]*fwv1.Observation, error) {
	rows, err := s.pool.Query(ctx, `SELECT key, body FROM observations WHERE host_id = $1 AND kind = ANY($2) ORDER BY key COLLATE "C"`, hostID, kinds)
	if err != nil {
		return nil, fmt.Errorf("observations %s: %w", hostID, err)
	}
	return observationRows(hostID, rows)
}

// observationRows decodes rows of (key, body).
func observationRows(hostID string, rows pgx.Rows) ([]*fwv1.Observation, error) {
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
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("observations %s: %w", hostID, err)
	}
	return out, nil
}

// FindObservations implements store.ObservationFinder: one lookup of the
// GIN index on the observations' terms.
func (s *DB) FindObservations(ctx context.Context, field, value string, limit int) ([]store.ObservationMatch, error) {
	term, err := store.Term(field, value)
	if err != nil {
		return nil, err
	}
	if limit <= 0 {
		limit = 10000
	}
	rows, err := s.pool.Query(ctx, `SELECT o.host_id, h.hostname, h.info, o.body FROM observations o JOIN hosts h ON h.id = o.host_id
WHERE o.terms @> ARRAY[$1::text] ORDER BY h.hostname COLLATE "C", o.host_id, o.key COLLATE "C" LIMIT $2`, term, limit)
	if err != nil {
		return nil, fmt.Errorf("find %s: %w", term, err)
	}
	defer rows.Close()
	var out []store.ObservationMatch
	infos := map[string]*fwv1.HostInfo{}
	for rows.Next() {
		var (
			m          store.ObservationMatch
			info, body []byte
		)
		if err := rows.Scan(&m.HostID, &m.Hostname, &info, &body); err != nil {
			return nil, fmt.Errorf("find %s: %w", term, err)
		}
		if hi, ok := infos[m.HostID]; ok {
			m.Info = hi
		} else if len(info) > 0 {
			m.Info = &fwv1.HostInfo{}
			if err := proto.Unmarshal(info, m.Info); err != nil {
				return nil, fmt.Errorf("find %s: host %s: stored info: %w", term, m.HostID, err)
			}
			infos[m.HostID] = m.Info
		}
		m.Observation = &fwv1.Observation{}
		if err := proto.Unmarshal(body, m.Observation); err != nil {
			return nil, fmt.Errorf("find %s: stored observation of %s: %w", term, m.HostID, err)
		}
		out = append(out, m)
	}
	return out, rows.Err()
}

// EachOfKind calls fn with every current observation of a kind, of every
// host (the kind's index, then each body decoded): the scan that fleet
// queries on fields without an index filter. It stops at fn's first error.
func (s *DB) EachOfKind(ctx context.Context, kind string, fn func(hostID string, o *fwv1.Observation) error) error {
	rows, err := s.pool.Query(ctx, `SELECT host_id, body FROM observations WHERE kind = $1`, kind)
	if err != nil {
		return fmt.Errorf("observations of kind %s: %w", kind, err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			h    string
			body []byte
		)
		if err := rows.Scan(&h, &body); err != nil {
			return fmt.Errorf("observations of kind %s: %w", kind, err)
		}
		o := &fwv1.Observation{}
		if err := proto.Unmarshal(body, o); err != nil {
			return fmt.Errorf("observations of kind %s: stored observation of %s: %w", kind, h, err)
		}
		if err := fn(h, o); err != nil {
			return err
		}
	}
	return rows.Err()
}

// CountHosts implements store.ObservationFinder.
func (s *DB) CountHosts(ctx context.Context) (int, error) {
	var n int
	if err := s.pool.QueryRow(ctx, `SELECT count(*) FROM hosts`).Scan(&n); err != nil {
		return 0, fmt.Errorf("count hosts: %w", err)
	}
	return n, nil
}
