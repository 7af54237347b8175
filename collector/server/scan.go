package server

import (
	"context"
	"net"
	"time"

	fwv1 "github.com/farmwatch/farmwatch/proto/farmwatch/v1"
	"github.com/farmwatch/farmwatch/report"
	"github.com/google/uuid"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/peer"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"
)

func peerAddr(ctx context.Context) string {
	if p, ok := peer.FromContext(ctx); ok && p.Addr != nil {
		return p.Addr.String()
	}
	return ""
}

func peerIP(ctx context.Context) string {
	a := peerAddr(ctx)
	if h, _, err := net.SplitHostPort(a); err == nil {
		return h
	}
	return a
}

// deliverScan hands a scan reply to the Scan call waiting for it, if any.
func (s *Server) deliverScan(r *fwv1.ScanReply) {
	s.mu.Lock()
	ch := s.scans[r.GetRequestId()]
	s.mu.Unlock()
	if ch != nil {
		select {
		case ch <- r:
		default:
		}
	}
}

// Person is the roster's person of a host named hostname (nil: none).
func (s *Server) Person(hostname string) *fwv1.Person {
	return s.policy.Load().Roster.Person(hostname)
}

// Online says whether the host's agent has a stream open to this collector.
func (s *Server) Online(id string) bool { return s.online(id) }

func (s *Server) online(id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sessions[id] != nil
}

// ScanLocal asks the agent of a host whose stream this replica holds to
// scan now, and waits for its report (Scan, in relay.go, also reaches
// hosts held by other replicas).
func (s *Server) ScanLocal(ctx context.Context, hostID string, timeout time.Duration) (*fwv1.Report, error) {
	s.mu.Lock()
	sess := s.sessions[hostID]
	id := uuid.NewString()
	ch := make(chan *fwv1.ScanReply, 1)
	if sess != nil {
		s.scans[id] = ch
	}
	s.mu.Unlock()
	if sess == nil {
		return nil, unavailable("scan: host %s is not connected", hostID)
	}
	defer func() {
		s.mu.Lock()
		delete(s.scans, id)
		s.mu.Unlock()
	}()
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	select {
	case sess.send <- &fwv1.CollectorMessage{Body: &fwv1.CollectorMessage_Scan{Scan: &fwv1.ScanRequest{RequestId: id}}}:
	case <-sess.done:
		return nil, unavailable("scan: host %s disconnected", hostID)
	case <-ctx.Done():
		return nil, deadline("scan: host %s did not take the request within %s", hostID, timeout)
	}
	select {
	case r := <-ch:
		if r.GetError() != "" {
			return nil, refuse(codes.Internal, "scan: the agent failed: %s", r.GetError())
		}
		rep := r.GetReport()
		if p := s.policy.Load(); p.Rules != nil && rep != nil {
			// The collector's rules (with the organisation's) judge the
			// fresh observations, as they judge everything agents send.
			var agentOrg *fwv1.OrgPolicy
			s.mu.Lock()
			if cur := s.sessions[hostID]; cur != nil {
				agentOrg = cur.org.Load()
			}
			s.mu.Unlock()
			res := p.Rules.EvaluateOrg(rep.GetHost(), p.orgFor(agentOrg, rep.GetHost().GetHostname()), rep.GetObservations())
			rep.Findings, rep.RuleErrors = res.Findings, res.Errors
			rep.Verdict = report.Verdict(rep)
		}
		return rep, nil
	case <-sess.done:
		return nil, unavailable("scan: host %s disconnected", hostID)
	case <-ctx.Done():
		return nil, deadline("scan: host %s did not answer within %s", hostID, timeout)
	}
}

// orgFor is the expectations a host is judged by: the fleet's when the
// collector has them, the agent's own otherwise; with the host's person
// from the roster, when it names one.
func (p *Policy) orgFor(agent *fwv1.OrgPolicy, hostname string) *fwv1.OrgPolicy {
	org := agent
	if p.Org != nil {
		org = p.Org
	}
	person := p.Roster.Person(hostname)
	if person == nil {
		return org
	}
	if org == nil {
		return &fwv1.OrgPolicy{Person: person}
	}
	org = proto.CloneOf(org)
	org.Person = person
	return org
}

func ts(t time.Time) *timestamppb.Timestamp {
	if t.IsZero() {
		return nil
	}
	return timestamppb.New(t)
}
