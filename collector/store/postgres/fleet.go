package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/farmwatch/farmwatch/collector/store"
	fwv1 "github.com/farmwatch/farmwatch/proto/farmwatch/v1"
	"github.com/jackc/pgx/v5"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// egressUpsert records a host's egress IP in its history.
const egressUpsert = `INSERT INTO egress_history (host_id, ip, first_seen, last_seen) VALUES ($1, $2, $3, $3)
ON CONFLICT (host_id, ip) DO UPDATE SET last_seen = greatest(egress_history.last_seen, excluded.last_seen)`

// SetEgress implements store.Store.
func (s *DB) SetEgress(ctx context.Context, hostID, ip string, at time.Time) error {
	if ip == "" {
		return nil
	}
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		t, err := tx.Exec(ctx, `UPDATE hosts SET egress_ip = $1, last_seen = greatest(last_seen, $2) WHERE id = $3`, ip, ms(at), hostID)
		if err != nil {
			return err
		}
		if t.RowsAffected() == 0 {
			return store.ErrNotFound
		}
		_, err = tx.Exec(ctx, egressUpsert, hostID, ip, ms(at))
		return err
	})
	if err != nil {
		return fmt.Errorf("egress %s: %w", hostID, err)
	}
	return nil
}

// EgressHistory implements store.Store.
func (s *DB) EgressHistory(ctx context.Context, hostID string) ([]store.EgressSighting, error) {
	rows, err := s.pool.Query(ctx, `SELECT ip, first_seen, last_seen FROM egress_history WHERE host_id = $1 ORDER BY last_seen DESC, ip COLLATE "C"`, hostID)
	if err != nil {
		return nil, fmt.Errorf("egress history %s: %w", hostID, err)
	}
	defer rows.Close()
	var out []store.EgressSighting
	for rows.Next() {
		var (
			e           store.EgressSighting
			first, last int64
		)
		if err := rows.Scan(&e.IP, &first, &last); err != nil {
			return nil, fmt.Errorf("egress history %s: %w", hostID, err)
		}
		e.FirstSeen, e.LastSeen = fromMS(first), fromMS(last)
		out = append(out, e)
	}
	return out, rows.Err()
}

// PutFleet implements store.Store: the clusters and the fleet rules'
// findings of one recomputation, in one transaction.
func (s *DB) PutFleet(ctx context.Context, u store.FleetUpdate) error {
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if err := putClusters(ctx, tx, u); err != nil {
			return fmt.Errorf("clusters: %w", err)
		}
		if err := putFleetFindings(ctx, tx, u); err != nil {
			return fmt.Errorf("findings: %w", err)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("fleet: %w", err)
	}
	return nil
}

func putClusters(ctx context.Context, tx pgx.Tx, u store.FleetUpdate) error {
	var open []string
	for _, c := range u.Open {
		open = append(open, c.GetId())
		c = proto.CloneOf(c)
		c.State = string(store.Open)
		b, err := marshal.Marshal(c)
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO clusters (id, state, severity, first_seen, last_seen, body) VALUES ($1, 'open', $2, $3, $4, $5)
ON CONFLICT (id) DO UPDATE SET state = 'open', severity = excluded.severity, last_seen = excluded.last_seen, body = excluded.body,
  first_seen = CASE WHEN clusters.state = 'resolved' THEN excluded.first_seen ELSE clusters.first_seen END`,
			c.GetId(), int32(c.GetSeverity()), ms(c.GetFirstSeen().AsTime()), ms(u.At), b); err != nil {
			return err
		}
	}
	if open == nil {
		open = []string{}
	}
	_, err := tx.Exec(ctx, `UPDATE clusters SET state = 'resolved' WHERE state = 'open' AND NOT (id = ANY ($1))`, open)
	return err
}

func putFleetFindings(ctx context.Context, tx pgx.Tx, u store.FleetUpdate) error {
	now := ms(u.At)
	var hosts, ids []string
	seen := map[[2]string]bool{}
	for host, fs := range u.Findings {
		for _, f := range fs {
			k := [2]string{host, store.FindingID(f)}
			if seen[k] {
				continue
			}
			seen[k] = true
			hosts, ids = append(hosts, k[0]), append(ids, k[1])
			b, err := marshal.Marshal(f)
			if err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, `INSERT INTO fleet_findings (host_id, id, rule, severity, body, state, first_seen, last_seen)
SELECT $1, $2, $3, $4, $5, 'open', $6, $6 WHERE EXISTS (SELECT 1 FROM hosts WHERE id = $1)
ON CONFLICT (host_id, id) DO UPDATE SET body = excluded.body, severity = excluded.severity, last_seen = excluded.last_seen,
  first_seen = CASE WHEN fleet_findings.state = 'resolved' THEN excluded.first_seen ELSE fleet_findings.first_seen END,
  state = 'open'`, host, k[1], f.GetRule(), int32(f.GetSeverity()), b, now); err != nil {
				return err
			}
		}
	}
	if hosts == nil {
		hosts, ids = []string{}, []string{}
	}
	_, err := tx.Exec(ctx, `UPDATE fleet_findings f SET state = 'resolved', last_seen = $1
WHERE f.state = 'open' AND NOT EXISTS (SELECT 1 FROM unnest($2::text[], $3::text[]) AS c(host_id, id) WHERE c.host_id = f.host_id AND c.id = f.id)`,
		now, hosts, ids)
	return err
}

// Clusters implements store.Store.
func (s *DB) Clusters(ctx context.Context, all bool) ([]*fwv1.Cluster, error) {
	rows, err := s.pool.Query(ctx, `SELECT state, first_seen, last_seen, body FROM clusters WHERE $1 OR state = 'open'
ORDER BY state = 'resolved', severity DESC, last_seen DESC, id COLLATE "C"`, all)
	if err != nil {
		return nil, fmt.Errorf("clusters: %w", err)
	}
	defer rows.Close()
	var out []*fwv1.Cluster
	for rows.Next() {
		var (
			state       string
			first, last int64
			body        []byte
		)
		if err := rows.Scan(&state, &first, &last, &body); err != nil {
			return nil, fmt.Errorf("clusters: %w", err)
		}
		c := &fwv1.Cluster{}
		if err := proto.Unmarshal(body, c); err != nil {
			return nil, fmt.Errorf("clusters: stored body: %w", err)
		}
		c.State, c.FirstSeen, c.LastSeen = state, timestamppb.New(fromMS(first)), timestamppb.New(fromMS(last))
		out = append(out, c)
	}
	return out, rows.Err()
}
