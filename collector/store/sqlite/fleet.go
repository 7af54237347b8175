package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/farmwatch/farmwatch/collector/store"
	fwv1 "github.com/farmwatch/farmwatch/proto/farmwatch/v1"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// egressUpsert records a host's egress IP in its history.
const egressUpsert = `INSERT INTO egress_history (host_id, ip, first_seen, last_seen) VALUES (?1, ?2, ?3, ?3)
ON CONFLICT(host_id, ip) DO UPDATE SET last_seen = max(last_seen, excluded.last_seen)`

// SetEgress implements store.Store.
func (s *DB) SetEgress(ctx context.Context, hostID, ip string, at time.Time) error {
	if ip == "" {
		return nil
	}
	err := s.inGroup(ctx, func(ctx context.Context, tx *sql.Tx) error {
		r, err := tx.ExecContext(ctx, `UPDATE hosts SET egress_ip = ?, last_seen = max(last_seen, ?) WHERE id = ?`, ip, ms(at), hostID)
		if err != nil {
			return err
		}
		if n, _ := r.RowsAffected(); n == 0 {
			return store.ErrNotFound
		}
		_, err = tx.ExecContext(ctx, egressUpsert, hostID, ip, ms(at))
		return err
	})
	if err != nil {
		return fmt.Errorf("egress %s: %w", hostID, err)
	}
	return nil
}

// EgressHistory implements store.Store.
func (s *DB) EgressHistory(ctx context.Context, hostID string) ([]store.EgressSighting, error) {
	rows, err := s.rd.QueryContext(ctx, `SELECT ip, first_seen, last_seen FROM egress_history WHERE host_id = ? ORDER BY last_seen DESC, ip`, hostID)
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

// PutFleet implements store.Store.
func (s *DB) PutFleet(ctx context.Context, u store.FleetUpdate) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("fleet: %w", err)
	}
	defer tx.Rollback()
	if err := putClusters(ctx, tx, u); err != nil {
		return fmt.Errorf("fleet: clusters: %w", err)
	}
	if err := putFleetFindings(ctx, tx, u); err != nil {
		return fmt.Errorf("fleet: findings: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("fleet: %w", err)
	}
	return nil
}

func putClusters(ctx context.Context, tx *sql.Tx, u store.FleetUpdate) error {
	open := map[string]bool{}
	for _, c := range u.Open {
		open[c.GetId()] = true
		c = proto.CloneOf(c)
		c.State = string(store.Open)
		b, err := marshal.Marshal(c)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO clusters (id, state, severity, first_seen, last_seen, body) VALUES (?, 'open', ?, ?, ?, ?)
ON CONFLICT(id) DO UPDATE SET state = 'open', severity = excluded.severity, last_seen = excluded.last_seen, body = excluded.body,
  first_seen = CASE WHEN clusters.state = 'resolved' THEN excluded.first_seen ELSE clusters.first_seen END`,
			c.GetId(), int32(c.GetSeverity()), ms(c.GetFirstSeen().AsTime()), ms(u.At), b); err != nil {
			return err
		}
	}
	rows, err := tx.QueryContext(ctx, `SELECT id FROM clusters WHERE state = 'open'`)
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
		if !open[id] {
			gone = append(gone, id)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	for _, id := range gone {
		if _, err := tx.ExecContext(ctx, `UPDATE clusters SET state = 'resolved' WHERE id = ?`, id); err != nil {
			return err
		}
	}
	return nil
}

func putFleetFindings(ctx context.Context, tx *sql.Tx, u store.FleetUpdate) error {
	now := ms(u.At)
	current := map[[2]string]bool{}
	for host, fs := range u.Findings {
		for _, f := range fs {
			k := [2]string{host, store.FindingID(f)}
			if current[k] {
				continue
			}
			current[k] = true
			b, err := marshal.Marshal(f)
			if err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO fleet_findings (host_id, id, rule, severity, body, state, first_seen, last_seen)
SELECT ?1, ?2, ?3, ?4, ?5, 'open', ?6, ?6 WHERE EXISTS (SELECT 1 FROM hosts WHERE id = ?1)
ON CONFLICT(host_id, id) DO UPDATE SET body = excluded.body, severity = excluded.severity, last_seen = excluded.last_seen,
  first_seen = CASE WHEN fleet_findings.state = 'resolved' THEN excluded.first_seen ELSE fleet_findings.first_seen END,
  state = 'open'`, host, k[1], f.GetRule(), int32(f.GetSeverity()), b, now); err != nil {
				return err
			}
		}
	}
	rows, err := tx.QueryContext(ctx, `SELECT host_id, id FROM fleet_findings WHERE state = 'open'`)
	if err != nil {
		return err
	}
	var gone [][2]string
	for rows.Next() {
		var k [2]string
		if err := rows.Scan(&k[0], &k[1]); err != nil {
			rows.Close()
			return err
		}
		if !current[k] {
			gone = append(gone, k)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	for _, k := range gone {
		if _, err := tx.ExecContext(ctx, `UPDATE fleet_findings SET state = 'resolved', last_seen = ? WHERE host_id = ? AND id = ?`, now, k[0], k[1]); err != nil {
			return err
		}
	}
	return nil
}

// Clusters implements store.Store.
func (s *DB) Clusters(ctx context.Context, all bool) ([]*fwv1.Cluster, error) {
	rows, err := s.rd.QueryContext(ctx, `SELECT state, first_seen, last_seen, body FROM clusters WHERE ?1 OR state = 'open'
ORDER BY state = 'resolved', severity DESC, last_seen DESC, id`, all)
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
