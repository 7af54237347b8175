// Package server serves the collector's two gRPC services on one listener:
// AgentService (enrollment and each agent's stream) and FleetService (people
// and tools, with role tokens). Handlers return refusals (errors.go) or
// their own failures; toStatus, called by the interceptors, is the one
// place where either becomes a gRPC status.
package server

import (
	"cmp"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/farmwatch/farmwatch/collector/fleet"
	"github.com/farmwatch/farmwatch/collector/geoip"
	"github.com/farmwatch/farmwatch/collector/pki"
	"github.com/farmwatch/farmwatch/collector/roster"
	"github.com/farmwatch/farmwatch/collector/store"
	"github.com/farmwatch/farmwatch/limits"
	fwv1 "github.com/farmwatch/farmwatch/proto/farmwatch/v1"
	"github.com/farmwatch/farmwatch/rules"
	"github.com/rs/zerolog"
	"google.golang.org/grpc"
)

// Config is what a Server needs.
type Config struct {
	Store        store.Store
	Log          zerolog.Logger
	EnrollSecret string
	Limits       limits.Limits
	// Policy is what the collector asks of every agent; SetPolicy changes
	// it while serving.
	Policy Policy
	// Metrics, when set, record the collector's Prometheus series.
	Metrics *Metrics
	// Now is the clock; time.Now when nil.
	Now func() time.Time
	// Edge bounds the callers of the port (edge.go).
	Edge Edge
	// Relay joins the replicas of a fleet on PostgreSQL (relay.go); nil
	// for a collector alone.
	Relay Relay
	// FleetSalt is handed to every agent (ConfigUpdate.fleet_salt): the
	// key of the hashes of network identifiers, so they compare across
	// the fleet. "" leaves each agent its config's.
	FleetSalt string
	// GeoIP, when set, says each egress IP's country and ASN (serve
	// --geoip): hosts and clusters show them, fleet rules compare them
	// with the roster's claims.
	GeoIP *geoip.DB
}

// Policy is the fleet's rules and settings.
type Policy struct {
	// Rules, when set, are evaluated at the collector on each host's
	// current state after every change, and their findings are the ones
	// stored (the organisation's rules and exceptions apply even to agents
	// that lack them or run an older bundle). Without rules the agents'
	// own findings are stored.
	Rules *rules.Set
	// Bundle is the organisation's rule files, which Rules holds on top of
	// the built-in ones, pushed to every agent whose version differs. Nil
	// pushes nothing; a bundle with version "" withdraws an earlier one.
	Bundle *fwv1.RuleBundle
	// Org is the organisation's expectations, pushed to agents and used by
	// the collector's rules. Nil leaves each agent's own (from its config,
	// reported in its hello).
	Org *fwv1.OrgPolicy
	// Interval, when set, is the scan interval pushed to agents.
	Interval time.Duration
	// Roster names each host's person, whom rules see as org.person and
	// fleet rules among a cluster's people; nil names nobody.
	Roster *roster.Roster
	// RosterFile is where Roster was read from ("" for none), when
	// (RosterLoaded), and why the file as it is now was refused
	// (RosterErr; Roster is then the last good one).
	RosterFile    string
	RosterVersion string // "sha256:" and the hex digest of the file in use
	RosterLoaded  time.Time
	RosterErr     string
	// Networks are the organisation's known networks (--org networks:):
	// hosts that share only these are not co-located.
	Networks []fleet.Network
}

// Server implements AgentService and FleetService.
type Server struct {
	fwv1.UnimplementedAgentServiceServer
	fwv1.UnimplementedFleetServiceServer

	store      store.Store
	log        zerolog.Logger
	enrollHash []byte
	limits     limits.Limits
	policy     atomic.Pointer[Policy]
	metrics    *Metrics
	now        func() time.Time
	edge       *edge // the bounds of the port's callers
	relay      Relay // other replicas (relay.go); nil when alone
	fleetSalt  string
	geo        *geoip.DB // nil: no --geoip

	fleet fleetState // the clusters' recomputation (farm.go)

	mu          sync.Mutex
	sessions    map[string]*session             // host id -> its stream
	scans       map[string]chan *fwv1.ScanReply // request id -> waiter
	hunts       map[string]chan huntAnswer      // hunt id -> its waiter (fleetapi.go)
	pendingSeen map[string]bool                 // refused re-enrolments logged

	wg      sync.WaitGroup // the streams' receivers, which outlive their handlers
	noRules *rules.Set     // no rules, for a host's state when the policy has none
}

// Wait waits for the goroutines the Server started that outlive a call:
// each agent stream's receiver ends once its stream has ended. Call it
// after the gRPC server has stopped.
func (s *Server) Wait() { s.wg.Wait() }

// New makes a Server.
func New(c Config) (*Server, error) {
	if c.Store == nil || c.EnrollSecret == "" {
		return nil, errors.New("server: a store and an enroll secret are required")
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	// A limit left zero is the default one.
	def := limits.Default()
	l := &c.Limits
	l.MaxMessageBytes = cmp.Or(l.MaxMessageBytes, def.MaxMessageBytes)
	l.MaxObservations = cmp.Or(l.MaxObservations, def.MaxObservations)
	l.MaxFindings = cmp.Or(l.MaxFindings, def.MaxFindings)
	l.MaxStringBytes = cmp.Or(l.MaxStringBytes, def.MaxStringBytes)
	l.MaxListItems = cmp.Or(l.MaxListItems, def.MaxListItems)
	l.HostObservations = cmp.Or(l.HostObservations, def.HostObservations)
	s := &Server{
		store: c.Store, log: c.Log, enrollHash: pki.Hash(c.EnrollSecret), limits: c.Limits, now: c.Now, metrics: c.Metrics, relay: c.Relay, fleetSalt: c.FleetSalt, geo: c.GeoIP,
		sessions: map[string]*session{}, scans: map[string]chan *fwv1.ScanReply{}, pendingSeen: map[string]bool{},
		hunts: map[string]chan huntAnswer{}, fleet: newFleetState(),
	}
	var err error
	if s.noRules, err = rules.Load(nil, rules.Options{}); err != nil {
		return nil, fmt.Errorf("server: %w", err)
	}
	s.edge = newEdge(c.Edge, c.Now)
	p := c.Policy
	s.policy.Store(&p)
	return s, nil
}

// SetPolicy changes the fleet's policy while serving: the collector's rules
// judge every message from now on, and every connected agent is sent the
// new settings, and the new bundle when its version changed.
func (s *Server) SetPolicy(p Policy) {
	old := s.policy.Swap(&p)
	bundleChanged := p.Bundle != nil && (old.Bundle == nil || old.Bundle.GetVersion() != p.Bundle.GetVersion())
	s.mu.Lock()
	sessions := make([]*session, 0, len(s.sessions))
	for _, sess := range s.sessions {
		sessions = append(sessions, sess)
	}
	s.mu.Unlock()
	for _, sess := range sessions {
		if bundleChanged {
			s.push(sess, &fwv1.CollectorMessage{Body: &fwv1.CollectorMessage_Rules{Rules: p.Bundle}})
		}
		s.push(sess, s.configUpdate(&p, sess.hostname))
	}
	s.fleetTouchAll() // the roster, the networks or the fleet rules may have changed
	s.log.Info().Str("rules_version", p.Bundle.GetVersion()).Int("agents", len(sessions)).Bool("bundle_changed", bundleChanged).Msg("policy changed")
}

// RulesVersion is the version of the organisation's rule bundle the
// collector pushes ("" for none).
func (s *Server) RulesVersion() string { return s.policy.Load().Bundle.GetVersion() }

// push queues m on a session without waiting on a stalled stream: a
// session whose queue is full gets it at its next hello instead.
func (s *Server) push(sess *session, m *fwv1.CollectorMessage) {
	select {
	case sess.send <- m:
	case <-sess.done:
	default:
		s.log.Warn().Str("host_id", sess.hostID).Msg("agent's send queue is full: it gets the new policy when it reconnects")
	}
}

// configUpdate is what the fleet wants of one host's agent: the
// organisation's expectations, when it sets them, carry the host's person
// from the roster, so the agent's own verdicts see it too.
func (s *Server) configUpdate(p *Policy, hostname string) *fwv1.CollectorMessage {
	var org *fwv1.OrgPolicy
	if p.Org != nil {
		org = p.orgFor(nil, hostname)
	}
	return &fwv1.CollectorMessage{Body: &fwv1.CollectorMessage_Config{Config: &fwv1.ConfigUpdate{
		IntervalSeconds: int64(p.Interval / time.Second), RulesVersion: p.Bundle.GetVersion(), Org: org, FleetSalt: s.fleetSalt}}}
}

// Register adds both services to g.
func (s *Server) Register(g *grpc.Server) {
	fwv1.RegisterAgentServiceServer(g, s)
	fwv1.RegisterFleetServiceServer(g, s)
}

// GRPCOptions are the server options the services rely on: message size
// limits, the bounds of the port's callers (edge.go), the fleet token
// check, and the one mapping of errors to gRPC statuses.
func (s *Server) GRPCOptions() []grpc.ServerOption {
	return append([]grpc.ServerOption{
		// Agents send large messages in chunks (fwv1.Chunk): no single gRPC
		// message of any method is larger than this, so no caller can make
		// the collector hold a large one before it is known.
		grpc.MaxRecvMsgSize(limits.GRPCMessageBytes),
		// Each agent holds a connection, idle most of the time: its
		// write buffer goes back to a pool after each flush, and gRPC
		// reads the frames straight from TLS, which keeps a whole record
		// of its own (at 10,000 agents gRPC's two 32 KiB buffers took
		// 640 MB, and a 16 KiB read buffer 160 MB).
		grpc.SharedWriteBuffer(true),
		grpc.ReadBufferSize(0),
		grpc.ChainUnaryInterceptor(s.edgeUnary, s.unary),
		grpc.ChainStreamInterceptor(s.edgeStream, s.stream),
	}, s.edgeOptions()...)
}
