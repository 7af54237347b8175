package server

import (
	"context"
	"time"

	"github.com/farmwatch/farmwatch/collector/roster"
	"github.com/farmwatch/farmwatch/limits"
	fwv1 "github.com/farmwatch/farmwatch/proto/farmwatch/v1"
	"github.com/farmwatch/farmwatch/rules"
	"github.com/google/uuid"
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

// huntAnswer is one agent's reply to a hunt, with its host.
type huntAnswer struct {
	hostID string
	reply  *fwv1.HuntReply
}

// deliverHunt hands an agent's hunt reply to the hunt waiting for it.
func (s *Server) deliverHunt(hostID string, r *fwv1.HuntReply) {
	s.mu.Lock()
	ch := s.hunts[r.GetRequestId()]
	s.mu.Unlock()
	if ch != nil {
		select {
		case ch <- huntAnswer{hostID: hostID, reply: r}:
		default:
		}
	}
}

// Hunt implements FleetService: every online agent is asked at once; the
// answers stream as they come; a summary ends the stream when every agent
// answered or the time is up.
func (s *Server) Hunt(req *fwv1.HuntFleetRequest, stream fwv1.FleetService_HuntServer) error {
	if _, err := s.query(req.GetKind(), req.GetFilter()); err != nil {
		return err
	}
	timeout := time.Duration(req.GetTimeoutMs()) * time.Millisecond
	if timeout <= 0 || timeout > 5*time.Minute {
		timeout = 30 * time.Second
	}
	id := uuid.NewString()
	s.mu.Lock()
	sessions := make([]*session, 0, len(s.sessions))
	for _, sess := range s.sessions {
		sessions = append(sessions, sess)
	}
	ch := make(chan huntAnswer, len(sessions))
	s.hunts[id] = ch
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.hunts, id)
		s.mu.Unlock()
	}()
	names := map[string]string{}
	sum := &fwv1.HuntSummary{}
	msg := &fwv1.CollectorMessage{Body: &fwv1.CollectorMessage_Hunt{Hunt: &fwv1.HuntRequest{RequestId: id, Kind: req.GetKind(), Filter: req.GetFilter()}}}
	for _, sess := range sessions {
		select {
		case sess.send <- msg:
			names[sess.hostID] = sess.hostname
			sum.Asked++
		case <-sess.done:
		default: // a stalled stream: not asked
		}
	}
	s.log.Info().Str("hunt", id).Str("caller", caller(stream.Context())).Str("kind", req.GetKind()).Int32("asked", sum.Asked).Msg("hunt started")
	ctx, cancel := context.WithTimeout(stream.Context(), timeout)
	defer cancel()
	answered := map[string]bool{}
	for len(answered) < int(sum.Asked) {
		var a huntAnswer
		select {
		case a = <-ch:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
		name, asked := names[a.hostID]
		if !asked || answered[a.hostID] {
			continue
		}
		answered[a.hostID] = true
		ans := &fwv1.HuntAnswer{HostId: a.hostID, Hostname: name, Error: a.reply.GetError()}
		if a.reply.GetError() != "" && len(a.reply.GetMatches()) == 0 {
			sum.Failed++
		} else {
			sum.Answered++
		}
		for i, o := range a.reply.GetMatches() {
			if i == limits.HostObservations {
				break
			}
			kind, _ := rules.KindOf(o)
			ans.Rows = append(ans.Rows, &fwv1.QueryRow{HostId: a.hostID, Hostname: name, Kind: kind, Key: o.GetKey(), Observation: o})
		}
		if len(ans.Rows) > 0 {
			sum.Matched++
		}
		if err := stream.Send(&fwv1.HuntEvent{Event: &fwv1.HuntEvent_Answer{Answer: ans}}); err != nil {
			return err
		}
	}
	if err := stream.Context().Err(); err != nil {
		return err
	}
	sum.TimedOut = sum.Asked - sum.Answered - sum.Failed
	s.log.Info().Str("hunt", id).Int32("asked", sum.Asked).Int32("answered", sum.Answered).Int32("failed", sum.Failed).
		Int32("timed_out", sum.TimedOut).Int32("matched", sum.Matched).Msg("hunt ended")
	return stream.Send(&fwv1.HuntEvent{Event: &fwv1.HuntEvent_Summary{Summary: sum}})
}
