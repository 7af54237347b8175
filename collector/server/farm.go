package server

import (
	"context"
	"sync"
	"time"

	"github.com/farmwatch/farmwatch/collector/fleet"
	"github.com/farmwatch/farmwatch/collector/store"
	fwv1 "github.com/farmwatch/farmwatch/proto/farmwatch/v1"
	"github.com/farmwatch/farmwatch/rules"
	"google.golang.org/protobuf/proto"
)

// The clusters (collector/fleet) are recomputed by one goroutine,
// RunFleet: soon after a host's state, its egress or the policy changed
// (fleetSettle later, so a burst of messages makes one recomputation),
// and every fleetEvery at least. A host's facts are read from the store
// again only when it changed. A recomputation reads every host and
// writes every open cluster: on a large fleet, where hosts change all
// the time, the pause after one is fleetBusy times what it took, so that
// the clusters take at most a sixth of the collector's time (at 10,000
// agents one took seconds, and back to back they held the store's one
// writer away from the agents' messages).
const (
	fleetSettle = 2 * time.Second
	fleetBusy   = 5
	fleetEvery  = 30 * time.Second
	// fleetStale: a host not seen for this long is no longer anywhere.
	fleetStale = 7 * 24 * time.Hour
)

type fleetState struct {
	kick chan struct{} // something changed

	mu       sync.Mutex
	dirty    map[string]bool // hosts whose facts changed
	all      bool            // every host's facts, and every verdict, may have changed
	computed time.Time       // the last recomputation

	// Used only by RunFleet.
	facts   map[string]fleet.Facts
	seqs    map[string]uint64 // the host's last applied message when its facts were read
	tracker *fleet.Tracker
	logged  map[string]bool // rule errors logged
}

func newFleetState() fleetState {
	return fleetState{kick: make(chan struct{}, 1), dirty: map[string]bool{}, facts: map[string]fleet.Facts{}, seqs: map[string]uint64{}, logged: map[string]bool{}}
}

func (f *fleetState) signal() {
	select {
	case f.kick <- struct{}{}:
	default:
	}
}

// fleetTouch says a host's state or egress changed.
func (s *Server) fleetTouch(hostID string) {
	s.fleet.mu.Lock()
	if len(s.fleet.dirty) < 100_000 {
		s.fleet.dirty[hostID] = true
	} else {
		s.fleet.all = true
	}
	s.fleet.mu.Unlock()
	s.fleet.signal()
}

// fleetTouchAll says everything may have changed (the policy).
func (s *Server) fleetTouchAll() {
	s.fleet.mu.Lock()
	s.fleet.all = true
	s.fleet.mu.Unlock()
	s.fleet.signal()
}

// FleetComputed is when the clusters were last computed (zero: not yet).
func (s *Server) FleetComputed() time.Time {
	s.fleet.mu.Lock()
	defer s.fleet.mu.Unlock()
	return s.fleet.computed
}

// RunFleet recomputes the clusters until ctx ends: at once, then soon
// after each change and every fleetEvery. One runs at a time: with
// replicas, on the one that runs the fleet's jobs.
func (s *Server) RunFleet(ctx context.Context) {
	// The clusters as stored: a replica that takes the fleet's jobs again
	// starts from what the one before it stored.
	s.fleet.tracker = nil
	tick := time.NewTicker(fleetEvery)
	defer tick.Stop()
	for {
		start := time.Now()
		if err := s.recomputeFleet(ctx); err != nil && ctx.Err() == nil {
			s.log.Error().Err(err).Msg("clusters not recomputed")
			s.fleetTouchAll() // try again, reading everything
		}
		pause := max(fleetSettle, fleetBusy*time.Since(start))
		select {
		case <-ctx.Done():
			return
		case <-s.fleet.kick:
		case <-tick.C:
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(pause):
		}
	}
}

// recomputeFleet groups the hosts, judges each cluster with the fleet
// rules, and stores the clusters the rules found something in, with a
// finding on each member.
func (s *Server) recomputeFleet(ctx context.Context) error {
	p := s.policy.Load()
	f := &s.fleet
	f.mu.Lock()
	dirty, all := f.dirty, f.all
	f.dirty, f.all = map[string]bool{}, false
	f.mu.Unlock()
	if p.Rules == nil || len(p.Rules.FleetRules()) == 0 {
		return nil // nothing judges clusters: the agents' findings stand alone
	}
	if f.tracker == nil {
		open, err := s.store.Clusters(ctx, false)
		if err != nil {
			return err
		}
		f.tracker = fleet.NewTracker(open)
	}
	now := s.now()
	hs, err := s.store.Hosts(ctx)
	if err != nil {
		return err
	}
	rows, err := s.store.Findings(ctx, store.FindingFilter{})
	if err != nil {
		return err
	}
	own := map[string][]*fwv1.Finding{}
	for _, r := range rows {
		if r.Finding.GetScope() != fleetScope && r.Finding.GetSuppressedBy() == "" {
			own[r.HostID] = append(own[r.HostID], r.Finding)
		}
	}
	var hosts []fleet.Host
	for _, h := range hs {
		if now.Sub(h.LastSeen) > fleetStale {
			delete(f.facts, h.ID)
			delete(f.seqs, h.ID)
			continue
		}
		facts, ok := f.facts[h.ID]
		// A host another replica applied a message of is not in dirty:
		// its last applied message tells. Alone, this collector applies
		// every message and marks dirty those that can change the facts
		// (factWatch).
		if !ok || all || dirty[h.ID] || (s.relay != nil && f.seqs[h.ID] != h.LastSeq) {
			obs, err := s.store.ObservationsOfKinds(ctx, h.ID, fleet.FactKinds)
			if err != nil {
				return err
			}
			facts = fleet.FactsOf(obs, own[h.ID])
			f.facts[h.ID], f.seqs[h.ID] = facts, h.LastSeq
		}
		country, asn := s.geo.Lookup(h.EgressIP)
		hosts = append(hosts, fleet.Host{ID: h.ID, Hostname: h.Hostname, OS: h.OS, Person: p.Roster.Person(h.Hostname),
			EgressIP: h.EgressIP, EgressCountry: country, EgressASN: asn, Online: s.online(h.ID), Findings: own[h.ID], Facts: facts})
	}
	found := fleet.Group(hosts, p.Networks, s.fleetSalt)
	f.tracker.Assign(now, found)
	before := map[string]bool{}
	for _, c := range f.tracker.Open() {
		before[c.GetId()] = true
	}
	var judged []*fwv1.Cluster
	findings := map[string][]*fwv1.Finding{}
	for _, c := range found {
		res := p.Rules.EvaluateFleet(p.Org, c)
		for _, e := range res.Errors {
			if !f.logged[e] && len(f.logged) < 1000 {
				f.logged[e] = true
				s.log.Warn().Str("cluster", c.GetId()).Str("error", e).Msg("fleet rule error")
			}
		}
		c.Findings = res.Findings
		for _, fd := range res.Findings {
			if fd.GetSuppressedBy() == "" && fd.GetSeverity() > c.Severity {
				c.Severity = fd.GetSeverity()
			}
		}
		if c.Severity == fwv1.Severity_SEVERITY_UNSPECIFIED {
			continue // no rule found anything: hosts that share a place, not a farm
		}
		c.State = string(store.Open)
		judged = append(judged, c)
		for _, fd := range res.Findings {
			for _, m := range c.GetMembers() {
				mf := proto.CloneOf(fd)
				mf.Scope = fleetScope
				mf.Label = c.GetId()
				if fd.GetLabel() != "" {
					mf.Label += ": " + fd.GetLabel()
				}
				findings[m.GetHostId()] = append(findings[m.GetHostId()], mf)
			}
		}
		if !before[c.GetId()] {
			s.log.Info().Str("cluster", c.GetId()).Str("severity", c.GetSeverity().String()).Int("hosts", len(c.GetMembers())).
				Int32("people", c.GetDistinctPeople()).Msg("farm found")
		}
	}
	resolved := f.tracker.Settle(judged)
	if err := s.store.PutFleet(ctx, store.FleetUpdate{Open: judged, Findings: findings, At: now}); err != nil {
		f.tracker = nil // read again from the store next time
		return err
	}
	for _, c := range resolved {
		s.log.Info().Str("cluster", c.GetId()).Int("hosts", len(c.GetMembers())).Msg("farm resolved")
	}
	f.mu.Lock()
	f.computed = now
	f.mu.Unlock()
	return nil
}

// fleetScope is the scope of a fleet rule's findings.
const fleetScope = rules.FleetScope
