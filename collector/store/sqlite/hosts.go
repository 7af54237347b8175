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

func marshalInfo(h store.Host) ([]byte, error) {
	if h.Info == nil {
		return nil, nil
	}
	b, err := marshal.Marshal(h.Info)
	if err != nil {
		return nil, fmt.Errorf("host %s: encode its facts: %w", h.ID, err)
	}
	return b, nil
}

// PutHost implements store.Store.
func (s *DB) PutHost(ctx context.Context, h store.Host) error {
	info, err := marshalInfo(h)
	if err != nil {
		return err
	}
	_, err = s.db.ExecContext(ctx, `
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

const hostCols = `id, hostname, os, info, node_key_hash, enrolled_at, last_seen, egress_ip, last_seq, spool_dropped, agent_version, rules_version, rules_error, refused`

type scanner interface{ Scan(...any) error }

func scanHost(r scanner) (store.Host, error) {
	var (
		h              store.Host
		info           []byte
		enrolled, seen int64
		seq, dropped   int64
		refused        int64
	)
	if err := r.Scan(&h.ID, &h.Hostname, &h.OS, &info, &h.NodeKeyHash, &enrolled, &seen, &h.EgressIP, &seq, &dropped, &h.AgentVersion, &h.RulesVersion, &h.RulesError, &refused); err != nil {
		return h, err
	}
	if len(info) > 0 {
		h.Info = &fwv1.HostInfo{}
		if err := proto.Unmarshal(info, h.Info); err != nil {
			return h, fmt.Errorf("host %s: stored info: %w", h.ID, err)
		}
	}
	h.EnrolledAt, h.LastSeen = fromMS(enrolled), fromMS(seen)
	h.LastSeq, h.SpoolDropped, h.Refused = uint64(seq), uint64(dropped), uint64(refused)
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

// HostsByName implements store.Store.
func (s *DB) HostsByName(ctx context.Context, name string) ([]store.Host, error) {
	hs, err := hostRows(s.rs.hostsByName.QueryContext(ctx, name))
	if err != nil {
		return nil, fmt.Errorf("hosts named %q: %w", name, err)
	}
	return hs, nil
}

// Hosts implements store.Store.
func (s *DB) Hosts(ctx context.Context) ([]store.Host, error) {
	hs, err := hostRows(s.rs.hosts.QueryContext(ctx))
	if err != nil {
		return nil, fmt.Errorf("hosts: %w", err)
	}
	return hs, nil
}

func hostRows(rows *sql.Rows, err error) ([]store.Host, error) {
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []store.Host
	for rows.Next() {
		h, err := scanHost(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, h)
	}
	return out, rows.Err()
}

// AddRefused implements store.Store.
func (s *DB) AddRefused(ctx context.Context, hostID string, n int) error {
	r, err := s.db.ExecContext(ctx, `UPDATE hosts SET refused = refused + ? WHERE id = ?`, n, hostID)
	if err != nil {
		return fmt.Errorf("count refusal of %s: %w", hostID, err)
	}
	if k, _ := r.RowsAffected(); k == 0 {
		return fmt.Errorf("count refusal of %s: %w", hostID, store.ErrNotFound)
	}
	return nil
}

// SetAgentStatus implements store.Store.
func (s *DB) SetAgentStatus(ctx context.Context, hostID string, st store.AgentStatus) error {
	err := s.inGroup(ctx, func(ctx context.Context, tx *sql.Tx) error {
		r, err := tx.ExecContext(ctx, `UPDATE hosts SET agent_version = ?, rules_version = ?, rules_error = ? WHERE id = ?`,
			st.AgentVersion, st.RulesVersion, st.RulesError, hostID)
		if err != nil {
			return err
		}
		if n, _ := r.RowsAffected(); n == 0 {
			return store.ErrNotFound
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("agent status %s: %w", hostID, err)
	}
	return nil
}
