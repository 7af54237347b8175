package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/farmwatch/farmwatch/collector/store"
	fwv1 "github.com/farmwatch/farmwatch/proto/farmwatch/v1"
	"google.golang.org/protobuf/proto"
)

// PutHost implements store.Store.
func (s *DB) PutHost(ctx context.Context, h store.Host) error {
	var info []byte
	if h.Info != nil {
		b, err := marshal.Marshal(h.Info)
		if err != nil {
			return fmt.Errorf("put host %s: %w", h.ID, err)
		}
		info = b
	}
	_, err := s.db.ExecContext(ctx, `
INSERT INTO hosts (id, hostname, os, info, node_key_hash, enrolled_at, last_seen, egress_ip)
VALUES (?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT(id) DO UPDATE SET hostname = excluded.hostname, os = excluded.os, info = excluded.info,
  node_key_hash = excluded.node_key_hash, enrolled_at = excluded.enrolled_at,
  last_seen = excluded.last_seen, egress_ip = excluded.egress_ip`,
		h.ID, h.Hostname, h.OS, info, h.NodeKeyHash, ms(h.EnrolledAt), ms(h.LastSeen), h.EgressIP)
	if err != nil {
		return fmt.Errorf("put host %s: %w", h.ID, err)
	}
	return nil
}

const hostCols = `id, hostname, os, info, node_key_hash, enrolled_at, last_seen, egress_ip, last_seq, spool_dropped, agent_version, rules_version, rules_error`

type scanner interface{ Scan(...any) error }

func scanHost(r scanner) (store.Host, error) {
	var (
		h              store.Host
		info           []byte
		enrolled, seen int64
		seq, dropped   int64
	)
	if err := r.Scan(&h.ID, &h.Hostname, &h.OS, &info, &h.NodeKeyHash, &enrolled, &seen, &h.EgressIP, &seq, &dropped, &h.AgentVersion, &h.RulesVersion, &h.RulesError); err != nil {
		return h, err
	}
	if len(info) > 0 {
		h.Info = &fwv1.HostInfo{}
		if err := proto.Unmarshal(info, h.Info); err != nil {
			return h, fmt.Errorf("host %s: stored info: %w", h.ID, err)
		}
	}
	h.EnrolledAt, h.LastSeen = fromMS(enrolled), fromMS(seen)
	h.LastSeq, h.SpoolDropped = uint64(seq), uint64(dropped)
	return h, nil
}

// hostRow is the host that st, a query of hostCols, returns for arg.
func hostRow(ctx context.Context, st *sql.Stmt, arg any) (store.Host, error) {
	h, err := scanHost(st.QueryRowContext(ctx, arg))
	if errors.Is(err, sql.ErrNoRows) {
		return h, store.ErrNotFound
	}
	return h, err
}

// Host implements store.Store.
func (s *DB) Host(ctx context.Context, id string) (store.Host, error) {
	h, err := hostRow(ctx, s.rs.host, id)
	if err != nil {
		return h, fmt.Errorf("host %s: %w", id, err)
	}
	return h, nil
}

// HostByName implements store.Store. The most recently seen host of that
// name wins when several share it.
func (s *DB) HostByName(ctx context.Context, name string) (store.Host, error) {
	h, err := hostRow(ctx, s.rs.hostByName, name)
	if err != nil {
		return h, fmt.Errorf("host %s: %w", name, err)
	}
	return h, nil
}

// Hosts implements store.Store.
func (s *DB) Hosts(ctx context.Context) ([]store.Host, error) {
	rows, err := s.rs.hosts.QueryContext(ctx)
	if err != nil {
		return nil, fmt.Errorf("hosts: %w", err)
	}
	defer rows.Close()
	var out []store.Host
	for rows.Next() {
		h, err := scanHost(rows)
		if err != nil {
			return nil, fmt.Errorf("hosts: %w", err)
		}
		out = append(out, h)
	}
	return out, rows.Err()
}

// SetAgentStatus implements store.Store.
func (s *DB) SetAgentStatus(ctx context.Context, hostID string, st store.AgentStatus) error {
	r, err := s.db.ExecContext(ctx, `UPDATE hosts SET agent_version = ?, rules_version = ?, rules_error = ? WHERE id = ?`,
		st.AgentVersion, st.RulesVersion, st.RulesError, hostID)
	if err != nil {
		return fmt.Errorf("agent status %s: %w", hostID, err)
	}
	if n, _ := r.RowsAffected(); n == 0 {
		return fmt.Errorf("agent status %s: %w", hostID, store.ErrNotFound)
	}
	return nil
}
