package server

import (
	"context"

	"github.com/farmwatch/farmwatch/collector/roster"
	fwv1 "github.com/farmwatch/farmwatch/proto/farmwatch/v1"
	"github.com/farmwatch/farmwatch/rules"
)

// ListClusters implements FleetService.
func (s *Server) ListClusters(ctx context.Context, req *fwv1.ListClustersRequest) (*fwv1.ListClustersResponse, error) {
	cs, err := s.store.Clusters(ctx, req.GetAll())
	if err != nil {
		return nil, internal("farms", err)
	}
	return &fwv1.ListClustersResponse{Clusters: cs, Computed: ts(s.FleetComputed())}, nil
}

// GetRoster implements FleetService.
func (s *Server) GetRoster(ctx context.Context, _ *fwv1.GetRosterRequest) (*fwv1.GetRosterResponse, error) {
	p := s.policy.Load()
	out := &fwv1.GetRosterResponse{File: p.RosterFile, Loaded: ts(p.RosterLoaded), Error: p.RosterErr}
	if p.Roster.Len() == 0 {
		return out, nil
	}
	hs, err := s.store.Hosts(ctx)
	if err != nil {
		return nil, internal("roster", err)
	}
	ids := map[string][]string{}
	for _, h := range hs {
		k := roster.Key(h.Hostname)
		ids[k] = append(ids[k], h.ID)
	}
	for _, e := range p.Roster.Entries() {
		out.Entries = append(out.Entries, &fwv1.RosterEntry{Hostname: e.Hostname, Person: e.Person, Line: int32(e.Line), HostIds: ids[roster.Key(e.Hostname)]})
	}
	return out, nil
}

// The bounds of a query's answer.
const (
	defaultQueryRows = 1000
	maxQueryRows     = 100_000
	maxQueryErrors   = 10
)

// query compiles a fleet query's filter with the collector's rules (their
// lists and types).
func (s *Server) query(kind, filter string) (*rules.Query, error) {
	set := s.policy.Load().Rules
	if set == nil {
		set = s.noRules
	}
	q, err := set.Query(kind, filter)
	if err != nil {
		return nil, invalid("%v", err)
	}
	return q, nil
}

// QueryObservations implements FleetService: the filter runs over every
// host's stored current observations, or over those an index finds when
// it names an indexed field (queryindex.go).
func (s *Server) QueryObservations(ctx context.Context, req *fwv1.QueryObservationsRequest) (*fwv1.QueryObservationsResponse, error) {
	q, err := s.query(req.GetKind(), req.GetFilter())
	if err != nil {
		return nil, err
	}
	limit := int(req.GetLimit())
	if limit < 0 || limit > maxQueryRows {
		return nil, invalid("query: limit %d: want 0 to %d", limit, maxQueryRows)
	}
	if limit == 0 {
		limit = defaultQueryRows
	}
	p := s.policy.Load()
	if ms, ok, err := s.candidates(ctx, req.GetKind(), req.GetFilter()); err != nil {
		return nil, internal("query", err)
	} else if ok { // [pg] an indexed field (queryindex.go)
		return s.queryIndexed(ctx, q, p, ms, limit)
	}
	hs, err := s.store.Hosts(ctx)
	if err != nil {
		return nil, internal("query", err)
	}
	out := &fwv1.QueryObservationsResponse{}
	for _, h := range hs {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		obs, err := s.store.Observations(ctx, h.ID)
		if err != nil {
			return nil, internal("query", err)
		}
		out.Hosts++
		org := p.orgFor(s.agentOrg(h.ID), h.Hostname)
		for _, o := range obs {
			ok, err := q.Match(h.Info, org, o)
			if err != nil {
				if len(out.Errors) < maxQueryErrors {
					out.Errors = append(out.Errors, h.Hostname+": "+err.Error())
				}
				continue
			}
			if !ok {
				continue
			}
			if len(out.Rows) == limit {
				out.Truncated = true
				return out, nil
			}
			kind, _ := rules.KindOf(o)
			out.Rows = append(out.Rows, &fwv1.QueryRow{HostId: h.ID, Hostname: h.Hostname, Kind: kind, Key: o.GetKey(), Observation: o})
		}
	}
	return out, nil
}

// agentOrg is the expectations a connected agent reported in its hello.
func (s *Server) agentOrg(hostID string) *fwv1.OrgPolicy {
	s.mu.Lock()
	defer s.mu.Unlock()
	if sess := s.sessions[hostID]; sess != nil {
		return sess.org.Load()
	}
	return nil
}
