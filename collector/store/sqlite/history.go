package sqlite

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/farmwatch/farmwatch/collector/store"
	fwv1 "github.com/farmwatch/farmwatch/proto/farmwatch/v1"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// Changes implements store.Store.
func (s *DB) Changes(ctx context.Context, hostID string, f store.ChangeFilter) ([]*fwv1.ObservationChange, error) {
	limit := f.Limit
	if limit <= 0 {
		limit = 1000
	}
	rows, err := s.rs.changesSince.QueryContext(ctx, hostID, ms(f.Since))
	if err != nil {
		return nil, fmt.Errorf("changes %s: %w", hostID, err)
	}
	defer rows.Close()
	var (
		out   []*fwv1.ObservationChange        // newest first until reversed
		later = map[string]*fwv1.Observation{} // key -> its body at the nearest later change
		need  []*fwv1.ObservationChange        // additions with no later change: the current body
	)
	for rows.Next() && len(out) < limit {
		var (
			seq, at int64
			body    []byte
		)
		if err := rows.Scan(&seq, &at, &body); err != nil {
			return nil, fmt.Errorf("changes %s: %w", hostID, err)
		}
		var cs fwv1.ObservationChanges
		if err := proto.Unmarshal(body, &cs); err != nil {
			return nil, fmt.Errorf("changes %s: stored #%d: %w", hostID, seq, err)
		}
		for i := len(cs.Changes) - 1; i >= 0 && len(out) < limit; i-- {
			c := cs.Changes[i]
			if c.Observation != nil {
				later[c.Key] = c.Observation
			} else if c.Op == fwv1.ObservationChange_OP_ADDED {
				if o := later[c.Key]; o != nil {
					c.Observation = o
				} else if f.Kind == "" || c.Kind == f.Kind {
					need = append(need, c)
				}
			}
			if f.Kind != "" && c.Kind != f.Kind {
				continue
			}
			c.Seq, c.At = uint64(seq), timestamppb.New(fromMS(at))
			out = append(out, c)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("changes %s: %w", hostID, err)
	}
	rows.Close() // its connection may be the only one (in memory)
	if err := s.currentBodies(ctx, hostID, need); err != nil {
		return nil, fmt.Errorf("changes %s: %w", hostID, err)
	}
	slices.Reverse(out)
	return out, nil
}

// currentBodies fills in the observation of additions from the host's
// current observations.
func (s *DB) currentBodies(ctx context.Context, hostID string, cs []*fwv1.ObservationChange) error {
	if len(cs) == 0 {
		return nil
	}
	keys := make([]string, len(cs))
	for i, c := range cs {
		keys[i] = c.Key
	}
	rows, err := s.rs.bodies.QueryContext(ctx, hostID, keyArray(keys))
	if err != nil {
		return err
	}
	defer rows.Close()
	bodies := map[string]*fwv1.Observation{}
	for rows.Next() {
		var (
			k string
			b []byte
		)
		if err := rows.Scan(&k, &b); err != nil {
			return err
		}
		o := &fwv1.Observation{}
		if err := proto.Unmarshal(b, o); err != nil {
			return fmt.Errorf("stored %s: %w", k, err)
		}
		bodies[k] = o
	}
	if err := rows.Err(); err != nil {
		return err
	}
	for _, c := range cs {
		c.Observation = bodies[c.Key]
	}
	return nil
}

// PruneChanges implements store.Store.
func (s *DB) PruneChanges(ctx context.Context, before time.Time) (int64, error) {
	r, err := s.db.ExecContext(ctx, `DELETE FROM changes WHERE at < ?`, ms(before))
	if err != nil {
		return 0, fmt.Errorf("prune history: %w", err)
	}
	// The egress history and resolved clusters of that age go with it.
	if _, err := s.db.ExecContext(ctx, `DELETE FROM egress_history WHERE last_seen < ?`, ms(before)); err != nil {
		return 0, fmt.Errorf("prune egress history: %w", err)
	}
	if _, err := s.db.ExecContext(ctx, `DELETE FROM clusters WHERE state = 'resolved' AND last_seen < ?`, ms(before)); err != nil {
		return 0, fmt.Errorf("prune clusters: %w", err)
	}
	return r.RowsAffected()
}
