package server

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/farmwatch/farmwatch/collector/store"
	fwv1 "github.com/farmwatch/farmwatch/proto/farmwatch/v1"
	"github.com/farmwatch/farmwatch/report"
	"google.golang.org/grpc/codes"
)

func (s *Server) summary(ctx context.Context, h store.Host) (*fwv1.HostSummary, error) {
	fs, err := s.store.Findings(ctx, store.FindingFilter{HostID: h.ID})
	if err != nil {
		return nil, err
	}
	return s.summaryOf(h, fs), nil
}

// summaryOf is a host's summary from its open findings.
func (s *Server) summaryOf(h store.Host, fs []store.FindingRow) *fwv1.HostSummary {
	sum := &fwv1.HostSummary{
		HostId: h.ID, Hostname: h.Hostname, Os: h.OS, LastSeen: ts(h.LastSeen), Online: s.online(h.ID),
		Findings: int32(len(fs)), EgressIp: h.EgressIP, SpoolDropped: h.SpoolDropped,
		AgentVersion: h.AgentVersion, RulesVersion: h.RulesVersion, RulesError: h.RulesError, Refused: h.Refused,
	}
	found := make([]*fwv1.Finding, len(fs))
	for i, f := range fs {
		found[i] = f.Finding
	}
	sum.Worst = report.WorstOf(found)
	sum.Person = s.policy.Load().Roster.Person(h.Hostname)
	sum.EgressCountry, _ = s.geo.Lookup(h.EgressIP)
	return sum
}

// ListHosts implements FleetService. It reads the hosts and the open
// findings of all of them: two queries, whatever the fleet's size (one
// query of findings a host took 24 s for 1000 hosts under load).
func (s *Server) ListHosts(ctx context.Context, _ *fwv1.ListHostsRequest) (*fwv1.ListHostsResponse, error) {
	hs, err := s.store.Hosts(ctx)
	if err != nil {
		return nil, internal("hosts", err)
	}
	rows, err := s.store.Findings(ctx, store.FindingFilter{})
	if err != nil {
		return nil, internal("hosts", err)
	}
	byHost := map[string][]store.FindingRow{}
	for _, r := range rows {
		byHost[r.HostID] = append(byHost[r.HostID], r)
	}
	out := &fwv1.ListHostsResponse{Hosts: make([]*fwv1.HostSummary, 0, len(hs))}
	for _, h := range hs {
		out.Hosts = append(out.Hosts, s.summaryOf(h, byHost[h.ID]))
	}
	if err := s.onlineElsewhere(ctx, out.Hosts); err != nil { // replicas
		return nil, internal("hosts", err)
	}
	return out, nil
}

// host finds a host by id or name. A name that several hosts carry is an
// ambiguity the caller resolves with a host id: the newest never silently
// wins (a new host could take a victim's name).
func (s *Server) host(ctx context.Context, name string) (store.Host, error) {
	if name == "" {
		return store.Host{}, invalid("a host name is required")
	}
	h, err := s.store.Host(ctx, name)
	if err == nil {
		return h, nil
	}
	if !errors.Is(err, store.ErrNotFound) {
		return h, internal("host lookup", err)
	}
	hs, err := s.store.HostsByName(ctx, name)
	if err != nil {
		return store.Host{}, internal("host lookup", err)
	}
	switch len(hs) {
	case 0:
		return store.Host{}, notFound("no host %q", name)
	case 1:
		return hs[0], nil
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%d hosts are named %q; give a host id:", len(hs), name)
	for _, h := range hs {
		fmt.Fprintf(&b, "\n  %s  %s, enrolled %s, last seen %s, from %s", h.ID, h.OS,
			h.EnrolledAt.UTC().Format(time.RFC3339), h.LastSeen.UTC().Format(time.RFC3339), h.EgressIP)
	}
	return store.Host{}, refuse(codes.FailedPrecondition, "%s", b.String())
}

// GetHost implements FleetService.
func (s *Server) GetHost(ctx context.Context, req *fwv1.GetHostRequest) (*fwv1.GetHostResponse, error) {
	h, err := s.host(ctx, req.GetHostname())
	if err != nil {
		return nil, err
	}
	sum, err := s.summary(ctx, h)
	if err != nil {
		return nil, internal("host", err)
	}
	if err := s.onlineElsewhere(ctx, []*fwv1.HostSummary{sum}); err != nil { // replicas
		return nil, internal("host", err)
	}
	obs, err := s.store.Observations(ctx, h.ID)
	if err != nil {
		return nil, internal("host", err)
	}
	fs, err := s.store.Findings(ctx, store.FindingFilter{HostID: h.ID})
	if err != nil {
		return nil, internal("host", err)
	}
	sum.Observations = int32(len(obs))
	pend, err := s.store.PendingEnrollments(ctx, h.ID)
	if err != nil {
		return nil, internal("host", err)
	}
	for _, p := range pend {
		sum.Pending = append(sum.Pending, pendingInfo(p))
	}
	hist, err := s.store.EgressHistory(ctx, h.ID)
	if err != nil {
		return nil, internal("host", err)
	}
	for _, e := range hist {
		sum.EgressHistory = append(sum.EgressHistory, &fwv1.EgressSighting{Ip: e.IP, FirstSeen: ts(e.FirstSeen), LastSeen: ts(e.LastSeen)})
	}
	rep := &fwv1.Report{Host: h.Info, Observations: obs}
	for _, f := range fs {
		rep.Findings = append(rep.Findings, f.Finding)
	}
	return &fwv1.GetHostResponse{Host: sum, State: rep}, nil
}

func fleetFinding(r store.FindingRow) *fwv1.FleetFinding {
	return &fwv1.FleetFinding{HostId: r.HostID, Hostname: r.Hostname, Finding: r.Finding, State: string(r.State), FirstSeen: ts(r.FirstSeen), LastSeen: ts(r.LastSeen)}
}

// ListFindings implements FleetService.
func (s *Server) ListFindings(ctx context.Context, req *fwv1.ListFindingsRequest) (*fwv1.ListFindingsResponse, error) {
	f := store.FindingFilter{All: req.GetAll(), MinSeverity: req.GetMinSeverity()}
	if req.GetHostname() != "" {
		h, err := s.host(ctx, req.GetHostname())
		if err != nil {
			return nil, err
		}
		f.HostID = h.ID
	}
	rows, err := s.store.Findings(ctx, f)
	if err != nil {
		return nil, internal("findings", err)
	}
	out := &fwv1.ListFindingsResponse{}
	for _, r := range rows {
		out.Findings = append(out.Findings, fleetFinding(r))
	}
	return out, nil
}

// ScanHost implements FleetService.
func (s *Server) ScanHost(ctx context.Context, req *fwv1.ScanHostRequest) (*fwv1.ScanHostResponse, error) {
	h, err := s.host(ctx, req.GetHostname())
	if err != nil {
		return nil, err
	}
	timeout := time.Duration(req.GetTimeoutMs()) * time.Millisecond
	if timeout <= 0 || timeout > 2*time.Minute {
		timeout = 30 * time.Second
	}
	rep, err := s.Scan(ctx, h.ID, timeout)
	if err != nil {
		return nil, err
	}
	return &fwv1.ScanHostResponse{Report: rep}, nil
}

// WatchFindings implements FleetService: it streams the findings that
// opened since the call began (Watch).
func (s *Server) WatchFindings(req *fwv1.WatchFindingsRequest, stream fwv1.FleetService_WatchFindingsServer) error {
	return s.Watch(stream.Context(), req.GetMinSeverity(), func(r store.FindingRow) error {
		return stream.Send(fleetFinding(r))
	})
}

// Watch polls the store once a second and calls send with each finding at
// or above min that opened since the call began, once per occurrence. It
// returns nil when ctx ends, send's error when send fails, and the store's
// when a read fails. The fleet API's WatchFindings and the web console's
// live updates are both this stream.
func (s *Server) Watch(ctx context.Context, min fwv1.Severity, send func(store.FindingRow) error) error {
	since := s.now()
	seen := map[string]bool{}
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
		rows, err := s.store.Findings(ctx, store.FindingFilter{MinSeverity: min})
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return internal("watch", err)
		}
		for _, r := range rows {
			k := r.HostID + "|" + r.ID + "|" + r.FirstSeen.String()
			if seen[k] || r.FirstSeen.Before(since) {
				continue
			}
			seen[k] = true
			if err := send(r); err != nil {
				return err
			}
		}
	}
}

// maxChanges bounds one ListChanges answer.
const maxChanges = 100_000

// ListChanges implements FleetService.
func (s *Server) ListChanges(ctx context.Context, req *fwv1.ListChangesRequest) (*fwv1.ListChangesResponse, error) {
	h, err := s.host(ctx, req.GetHostname())
	if err != nil {
		return nil, err
	}
	if req.GetLimit() < 0 || req.GetLimit() > maxChanges {
		return nil, invalid("changes: limit %d: want 0 to %d", req.GetLimit(), maxChanges)
	}
	f := store.ChangeFilter{Kind: req.GetKind(), Limit: int(req.GetLimit())}
	if req.GetSince() != nil {
		f.Since = req.GetSince().AsTime()
	}
	cs, err := s.store.Changes(ctx, h.ID, f)
	if err != nil {
		return nil, internal("changes", err)
	}
	return &fwv1.ListChangesResponse{HostId: h.ID, Hostname: h.Hostname, Changes: cs}, nil
}

func pendingInfo(p store.PendingEnrollment) *fwv1.PendingEnrollment {
	return &fwv1.PendingEnrollment{RequestId: p.RequestID, Hostname: p.Hostname, Peer: p.Peer, Requested: ts(p.Requested), Approved: ts(p.Approved)}
}

// ApproveHost implements FleetService (admin only): it approves the waiting
// enrolment of a host, named by its request id when there are several.
func (s *Server) ApproveHost(ctx context.Context, req *fwv1.ApproveHostRequest) (*fwv1.ApproveHostResponse, error) {
	h, err := s.host(ctx, req.GetHostname())
	if err != nil {
		return nil, err
	}
	pend, err := s.store.PendingEnrollments(ctx, h.ID)
	if err != nil {
		return nil, internal("approve", err)
	}
	var pick *store.PendingEnrollment
	for i, p := range pend {
		if p.RequestID == req.GetRequestId() || (req.GetRequestId() == "" && len(pend) == 1) {
			pick = &pend[i]
		}
	}
	switch {
	case len(pend) == 0:
		return nil, refuse(codes.FailedPrecondition, "host %s (%s) has no enrolment waiting for approval", h.Hostname, h.ID)
	case pick == nil && req.GetRequestId() != "":
		return nil, notFound("host %s has no waiting enrolment %q", h.ID, req.GetRequestId())
	case pick == nil:
		var b strings.Builder
		fmt.Fprintf(&b, "host %s has %d waiting enrolments; give --request ID:", h.ID, len(pend))
		for _, p := range pend {
			fmt.Fprintf(&b, "\n  %s  as %q from %s at %s", p.RequestID, p.Hostname, p.Peer, p.Requested.UTC().Format(time.RFC3339))
		}
		return nil, refuse(codes.FailedPrecondition, "%s", b.String())
	}
	now := s.now()
	if err := s.store.ApproveEnrollment(ctx, h.ID, pick.RequestID, now); err != nil {
		return nil, internal("approve", err)
	}
	pick.Approved = now
	s.log.Info().Str("host_id", h.ID).Str("request_id", pick.RequestID).Str("peer", pick.Peer).Msg("enrolment approved")
	return &fwv1.ApproveHostResponse{HostId: h.ID, Approved: pendingInfo(*pick)}, nil
}

// ResetHost implements FleetService (admin only): the host's key is
// forgotten, its agent's stream is refused from now, and the next
// enrolment under its id is taken as the host's.
func (s *Server) ResetHost(ctx context.Context, req *fwv1.ResetHostRequest) (*fwv1.ResetHostResponse, error) {
	h, err := s.host(ctx, req.GetHostname())
	if err != nil {
		return nil, err
	}
	if err := s.store.ResetHost(ctx, h.ID); err != nil {
		return nil, internal("reset", err)
	}
	s.ForgetNodeKey(h.ID) // the edge's cache of good keys must not keep it either
	s.mu.Lock()
	if sess := s.sessions[h.ID]; sess != nil {
		delete(s.sessions, h.ID)
		close(sess.done) // its stream ends now
	}
	s.mu.Unlock()
	if s.relay != nil { // replicas: the one that holds its stream ends it
		s.relay.Detached(h.ID)
		s.relay.Reset(ctx, h.ID)
	}
	s.log.Info().Str("host_id", h.ID).Str("hostname", h.Hostname).Msg("host reset: its next enrolment is taken as the host's")
	return &fwv1.ResetHostResponse{HostId: h.ID}, nil
}
