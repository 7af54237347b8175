package server

import (
	"context"
	"errors"
	"time"

	"github.com/farmwatch/farmwatch/collector/store"
	fwv1 "github.com/farmwatch/farmwatch/proto/farmwatch/v1"
	"github.com/farmwatch/farmwatch/report"
)

func (s *Server) summary(ctx context.Context, h store.Host) (*fwv1.HostSummary, error) {
	fs, err := s.store.Findings(ctx, store.FindingFilter{HostID: h.ID})
	if err != nil {
		return nil, err
	}
	sum := &fwv1.HostSummary{
		HostId: h.ID, Hostname: h.Hostname, Os: h.OS, LastSeen: ts(h.LastSeen), Online: s.online(h.ID),
		Findings: int32(len(fs)), EgressIp: h.EgressIP, SpoolDropped: h.SpoolDropped,
		AgentVersion: h.AgentVersion, RulesVersion: h.RulesVersion, RulesError: h.RulesError,
	}
	found := make([]*fwv1.Finding, len(fs))
	for i, f := range fs {
		found[i] = f.Finding
	}
	sum.Worst = report.WorstOf(found)
	return sum, nil
}

// ListHosts implements FleetService.
func (s *Server) ListHosts(ctx context.Context, _ *fwv1.ListHostsRequest) (*fwv1.ListHostsResponse, error) {
	hs, err := s.store.Hosts(ctx)
	if err != nil {
		return nil, internal("hosts", err)
	}
	out := &fwv1.ListHostsResponse{}
	for _, h := range hs {
		sum, err := s.summary(ctx, h)
		if err != nil {
			return nil, internal("hosts", err)
		}
		out.Hosts = append(out.Hosts, sum)
	}
	return out, nil
}

// host finds a host by id or name.
func (s *Server) host(ctx context.Context, name string) (store.Host, error) {
	if name == "" {
		return store.Host{}, invalid("a host name is required")
	}
	h, err := s.store.Host(ctx, name)
	if errors.Is(err, store.ErrNotFound) {
		h, err = s.store.HostByName(ctx, name)
	}
	if errors.Is(err, store.ErrNotFound) {
		return h, notFound("no host %q", name)
	}
	if err != nil {
		return h, internal("host lookup", err)
	}
	return h, nil
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
	obs, err := s.store.Observations(ctx, h.ID)
	if err != nil {
		return nil, internal("host", err)
	}
	fs, err := s.store.Findings(ctx, store.FindingFilter{HostID: h.ID})
	if err != nil {
		return nil, internal("host", err)
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

// WatchFindings implements FleetService: it polls the store once a second
// and streams the findings that opened since the call began.
func (s *Server) WatchFindings(req *fwv1.WatchFindingsRequest, stream fwv1.FleetService_WatchFindingsServer) error {
	ctx := stream.Context()
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
		rows, err := s.store.Findings(ctx, store.FindingFilter{MinSeverity: req.GetMinSeverity()})
		if err != nil {
			return internal("watch", err)
		}
		for _, r := range rows {
			k := r.HostID + "|" + r.ID + "|" + r.FirstSeen.String()
			if seen[k] || r.FirstSeen.Before(since) {
				continue
			}
			seen[k] = true
			if err := stream.Send(fleetFinding(r)); err != nil {
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
