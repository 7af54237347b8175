// Package server serves the collector's two gRPC services on one listener:
// AgentService (enrollment and each agent's stream) and FleetService (people
// and tools, with role tokens). gRPC status codes are chosen here and in
// auth.go only.
package server

import (
	"context"
	"crypto/subtle"
	"errors"
	"io"
	"net"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/farmwatch/farmwatch/collector/pki"
	"github.com/farmwatch/farmwatch/collector/store"
	"github.com/farmwatch/farmwatch/credential"
	fwv1 "github.com/farmwatch/farmwatch/proto/farmwatch/v1"
	"github.com/farmwatch/farmwatch/report"
	"github.com/farmwatch/farmwatch/rules"
	"github.com/google/uuid"
	"github.com/rs/zerolog"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// Config is what a Server needs.
type Config struct {
	Store        store.Store
	Log          zerolog.Logger
	EnrollSecret string
	Limits       Limits
	// Policy is what the collector asks of every agent; SetPolicy changes
	// it while serving.
	Policy Policy
	// Metrics, when set, record the collector's Prometheus series.
	Metrics *Metrics
	// Now is the clock; time.Now when nil.
	Now func() time.Time
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
}

// Server implements AgentService and FleetService.
type Server struct {
	fwv1.UnimplementedAgentServiceServer
	fwv1.UnimplementedFleetServiceServer

	store      store.Store
	log        zerolog.Logger
	enrollHash []byte
	limits     Limits
	policy     atomic.Pointer[Policy]
	metrics    *Metrics
	now        func() time.Time

	mu       sync.Mutex
	sessions map[string]*session             // host id -> its stream
	scans    map[string]chan *fwv1.ScanReply // request id -> waiter
}

type session struct {
	hostID string
	send   chan *fwv1.CollectorMessage
	done   chan struct{}
	state  map[string]*fwv1.Observation   // the host's current observations, for collector rules
	org    atomic.Pointer[fwv1.OrgPolicy] // the agent's own expectations, from its hello
	// Set from the hello, used only by the stream's apply worker.
	status store.AgentStatus
}

// New makes a Server.
func New(c Config) (*Server, error) {
	if c.Store == nil || c.EnrollSecret == "" {
		return nil, errors.New("server: a store and an enroll secret are required")
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Limits == (Limits{}) {
		c.Limits = DefaultLimits()
	}
	s := &Server{
		store: c.Store, log: c.Log, enrollHash: pki.Hash(c.EnrollSecret), limits: c.Limits, now: c.Now, metrics: c.Metrics,
		sessions: map[string]*session{}, scans: map[string]chan *fwv1.ScanReply{},
	}
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
		s.push(sess, s.configUpdate(&p))
	}
	s.log.Info().Str("rules_version", p.Bundle.GetVersion()).Int("agents", len(sessions)).Bool("bundle_changed", bundleChanged).Msg("policy changed")
}

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

func (s *Server) configUpdate(p *Policy) *fwv1.CollectorMessage {
	return &fwv1.CollectorMessage{Body: &fwv1.CollectorMessage_Config{Config: &fwv1.ConfigUpdate{
		IntervalSeconds: int64(p.Interval / time.Second), RulesVersion: p.Bundle.GetVersion(), Org: p.Org}}}
}

// Register adds both services to g.
func (s *Server) Register(g *grpc.Server) {
	fwv1.RegisterAgentServiceServer(g, s)
	fwv1.RegisterFleetServiceServer(g, s)
}

// GRPCOptions are the server options the services rely on: message size
// limits and the fleet token check.
func (s *Server) GRPCOptions() []grpc.ServerOption {
	return []grpc.ServerOption{
		grpc.MaxRecvMsgSize(s.limits.MaxMessageBytes),
		grpc.UnaryInterceptor(s.unaryAuth),
		grpc.StreamInterceptor(s.streamAuth),
	}
}

// Enroll implements AgentService.
func (s *Server) Enroll(ctx context.Context, req *fwv1.EnrollRequest) (*fwv1.EnrollResponse, error) {
	if subtle.ConstantTimeCompare(pki.Hash(req.GetEnrollSecret()), s.enrollHash) != 1 {
		s.log.Warn().Str("peer", peerAddr(ctx)).Msg("enrollment refused: wrong secret")
		return nil, status.Error(codes.Unauthenticated, "enroll: wrong enroll secret")
	}
	if err := s.limits.checkHost(req.GetHost()); err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "enroll: %v", err)
	}
	id := req.GetHostId()
	if id == "" {
		id = uuid.NewString()
	} else if _, err := uuid.Parse(id); err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "enroll: host_id %q is not a UUID", id)
	}
	key := pki.Secret("fwn_")
	now := s.now()
	h := store.Host{
		ID: id, Hostname: req.GetHost().GetHostname(), OS: req.GetHost().GetOs(), Info: req.GetHost(),
		NodeKeyHash: pki.Hash(key), EnrolledAt: now, LastSeen: now, EgressIP: peerIP(ctx),
	}
	if err := s.store.PutHost(ctx, h); err != nil {
		s.log.Error().Err(err).Str("host_id", id).Msg("enrollment not stored")
		return nil, status.Error(codes.Internal, "enroll: the collector could not store the host")
	}
	s.log.Info().Str("host_id", id).Str("hostname", h.Hostname).Str("peer", peerAddr(ctx)).Msg("host enrolled")
	return &fwv1.EnrollResponse{HostId: id, NodeKey: key}, nil
}

// authAgent checks the node key of a stream and returns its host.
func (s *Server) authAgent(ctx context.Context) (store.Host, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	ids, auths := md.Get(credential.MDHost), md.Get(credential.MDAuthorization)
	if len(ids) != 1 || len(auths) != 1 {
		return store.Host{}, status.Error(codes.Unauthenticated, "connect: missing host id or node key")
	}
	key, ok := credential.ParseNode(auths[0])
	if !ok {
		return store.Host{}, status.Error(codes.Unauthenticated, "connect: authorization must be \"Node <key>\"")
	}
	h, err := s.store.Host(ctx, ids[0])
	if errors.Is(err, store.ErrNotFound) {
		return h, status.Error(codes.Unauthenticated, "connect: unknown host; enroll first")
	}
	if err != nil {
		return h, status.Error(codes.Internal, "connect: host lookup failed")
	}
	if subtle.ConstantTimeCompare(pki.Hash(key), h.NodeKeyHash) != 1 {
		s.log.Warn().Str("host_id", h.ID).Str("peer", peerAddr(ctx)).Msg("stream refused: wrong node key")
		return h, status.Error(codes.Unauthenticated, "connect: wrong node key")
	}
	return h, nil
}

// Connect implements AgentService: it applies each sequenced message and
// acknowledges it only after the store committed it.
func (s *Server) Connect(stream fwv1.AgentService_ConnectServer) error {
	ctx := stream.Context()
	h, err := s.authAgent(ctx)
	if err != nil {
		return err
	}
	sess := &session{hostID: h.ID, send: make(chan *fwv1.CollectorMessage, 64), done: make(chan struct{})}
	s.mu.Lock()
	if old := s.sessions[h.ID]; old != nil {
		close(old.done) // a newer stream of the same agent wins
	}
	s.sessions[h.ID] = sess
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		if s.sessions[h.ID] == sess {
			delete(s.sessions, h.ID)
			close(sess.done)
		}
		s.mu.Unlock()
	}()
	s.log.Info().Str("host_id", h.ID).Str("hostname", h.Hostname).Msg("agent connected")
	s.metrics.connect(1)
	defer s.metrics.connect(-1)

	sendErr := make(chan error, 1)
	stop := make(chan struct{}) // closed when this handler returns
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // the only sender on this stream
		defer wg.Done()
		for {
			select {
			case m := <-sess.send:
				if err := stream.Send(m); err != nil {
					sendErr <- err
					return
				}
			case <-sess.done:
				return
			case <-stop:
				return
			case <-ctx.Done():
				return
			}
		}
	}()
	defer func() {
		close(stop)
		wg.Wait()
	}()
	egress := peerIP(ctx)
	// A receiver reads the stream: scan replies are handed over at once,
	// so a helpdesk scan does not wait for the agent's earlier messages to
	// be committed; everything else goes, in order, through a short queue
	// to this goroutine, which applies it and acknowledges it.
	queue := make(chan *fwv1.AgentMessage, 16)
	recvErr := make(chan error, 1)
	// Not waited for: it ends when the stream does, which is after this
	// handler returns.
	go func() {
		defer close(queue)
		for {
			m, err := stream.Recv()
			if err != nil {
				if status.Code(err) == codes.Canceled || errors.Is(err, context.Canceled) || errors.Is(err, io.EOF) {
					err = nil
				}
				recvErr <- err
				return
			}
			if err := s.limits.checkAgentMessage(m); err != nil {
				s.metrics.refuse("invalid")
				recvErr <- status.Errorf(codes.InvalidArgument, "connect: message #%d refused: %v", m.GetSeq(), err)
				return
			}
			if r := m.GetScanReply(); r != nil {
				s.metrics.message("scan_reply")
				s.deliverScan(r)
				continue
			}
			select {
			case queue <- m:
			case <-stop:
				return
			}
		}
	}()
	for {
		select {
		case m, ok := <-queue:
			if !ok {
				return <-recvErr
			}
			if err := s.handle(ctx, h, egress, m, sess); err != nil {
				return err
			}
		case err := <-sendErr:
			return err
		case <-sess.done:
			return status.Error(codes.Aborted, "connect: a newer stream of this agent replaced this one")
		}
	}
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

func (s *Server) handle(ctx context.Context, h store.Host, egress string, m *fwv1.AgentMessage, sess *session) error {
	start := time.Now()
	var a *store.Apply
	switch b := m.Body.(type) {
	case *fwv1.AgentMessage_Hello:
		if id := b.Hello.GetHostId(); id != "" && id != h.ID {
			return status.Errorf(codes.PermissionDenied, "connect: hello names host %s; this stream is host %s", id, h.ID)
		}
		a = &store.Apply{SpoolDropped: b.Hello.GetSpoolDropped()}
		sess.org.Store(b.Hello.GetOrg())
		sess.status = store.AgentStatus{AgentVersion: b.Hello.GetAgentVersion(), RulesVersion: b.Hello.GetRulesVersion(), RulesError: b.Hello.GetRulesError()}
		if err := s.store.SetAgentStatus(ctx, h.ID, sess.status); err != nil {
			s.log.Error().Err(err).Str("host_id", h.ID).Msg("agent status not stored")
		}
		p := s.policy.Load()
		if p.Bundle != nil && p.Bundle.GetVersion() != sess.status.RulesVersion {
			if err := s.sendCtx(ctx, sess, &fwv1.CollectorMessage{Body: &fwv1.CollectorMessage_Rules{Rules: p.Bundle}}); err != nil {
				return err
			}
		}
		if err := s.sendCtx(ctx, sess, s.configUpdate(p)); err != nil {
			return err
		}
	case *fwv1.AgentMessage_BundleStatus:
		bs := b.BundleStatus
		sess.status.RulesVersion, sess.status.RulesError = bs.GetVersion(), bs.GetError()
		if err := s.store.SetAgentStatus(ctx, h.ID, sess.status); err != nil {
			s.log.Error().Err(err).Str("host_id", h.ID).Msg("agent status not stored")
		}
		if bs.GetError() != "" {
			s.log.Warn().Str("host_id", h.ID).Str("hostname", h.Hostname).Str("refused_version", bs.GetRefusedVersion()).
				Str("using", bs.GetVersion()).Str("error", bs.GetError()).Msg("agent refused the rule bundle")
			s.metrics.bundle("refused")
		} else {
			s.metrics.bundle("applied")
		}
	case *fwv1.AgentMessage_Full:
		a = &store.Apply{Full: true, Upserted: b.Full.GetObservations(), Findings: b.Full.GetFindings(), FindingsSet: true, SpoolDropped: b.Full.GetSpoolDropped()}
	case *fwv1.AgentMessage_Delta:
		a = &store.Apply{Upserted: b.Delta.GetUpserted(), Removed: b.Delta.GetRemoved(), Findings: b.Delta.GetFindings(), FindingsSet: true, SpoolDropped: b.Delta.GetSpoolDropped()}
	case *fwv1.AgentMessage_ScanReply:
		s.deliverScan(b.ScanReply)
	case *fwv1.AgentMessage_Heartbeat:
		a = &store.Apply{SpoolDropped: b.Heartbeat.GetSpoolDropped()}
	default:
		return status.Error(codes.InvalidArgument, "connect: empty message")
	}
	if kind := m.ProtoReflect().WhichOneof(m.ProtoReflect().Descriptor().Oneofs().ByName("body")); kind != nil {
		s.metrics.message(string(kind.Name()))
	}
	if m.GetSeq() == 0 {
		return nil // not sequenced: nothing to apply or acknowledge
	}
	if a == nil {
		a = &store.Apply{}
	}
	a.Seen, a.EgressIP = s.now(), egress
	var next map[string]*fwv1.Observation
	if p := s.policy.Load(); p.Rules != nil && a.FindingsSet {
		var err error
		if next, err = s.evaluate(ctx, p, h, sess, a); err != nil {
			s.log.Error().Err(err).Str("host_id", h.ID).Uint64("seq", m.GetSeq()).Msg("host state not loaded")
			return status.Errorf(codes.Unavailable, "connect: message #%d not stored; send it again", m.GetSeq())
		}
	}
	applied, err := s.store.ApplyMessage(ctx, h.ID, m.GetSeq(), *a)
	if err != nil {
		s.log.Error().Err(err).Str("host_id", h.ID).Uint64("seq", m.GetSeq()).Msg("message not applied")
		return status.Errorf(codes.Unavailable, "connect: message #%d not stored; send it again", m.GetSeq())
	}
	if applied && next != nil {
		sess.state = next
	}
	s.metrics.applied(start)
	s.metrics.spoolDropped(a.SpoolDropped)
	// Committed (now or before): acknowledge.
	return s.sendCtx(ctx, sess, &fwv1.CollectorMessage{Body: &fwv1.CollectorMessage_Ack{Ack: &fwv1.Ack{Seq: m.GetSeq()}}})
}

// sendCtx queues m on the session, waiting while the stream is alive.
func (s *Server) sendCtx(ctx context.Context, sess *session, m *fwv1.CollectorMessage) error {
	select {
	case sess.send <- m:
		return nil
	case <-sess.done:
		return status.Error(codes.Aborted, "connect: a newer stream of this agent replaced this one")
	case <-ctx.Done():
		return ctx.Err()
	}
}

// evaluate works out the host's state after a, runs the collector's rules
// on it and puts their findings in a. It returns the new state, which the
// session keeps once the store has committed a.
func (s *Server) evaluate(ctx context.Context, p *Policy, h store.Host, sess *session, a *store.Apply) (map[string]*fwv1.Observation, error) {
	if sess.state == nil {
		obs, err := s.store.Observations(ctx, h.ID)
		if err != nil {
			return nil, err
		}
		sess.state = make(map[string]*fwv1.Observation, len(obs))
		for _, o := range obs {
			sess.state[o.Key] = o
		}
	}
	next := make(map[string]*fwv1.Observation, len(sess.state)+len(a.Upserted))
	if !a.Full {
		for k, o := range sess.state {
			next[k] = o
		}
	}
	for _, o := range a.Upserted {
		next[o.Key] = o
	}
	for _, k := range a.Removed {
		delete(next, k)
	}
	obs := make([]*fwv1.Observation, 0, len(next))
	for _, o := range next {
		obs = append(obs, o)
	}
	sort.Slice(obs, func(i, j int) bool { return obs[i].Key < obs[j].Key })
	info := h.Info
	if info == nil {
		info = &fwv1.HostInfo{Hostname: h.Hostname, Os: h.OS}
	}
	res := p.Rules.EvaluateOrg(info, p.orgFor(sess.org.Load()), obs)
	for _, e := range res.Errors {
		s.log.Warn().Str("host_id", h.ID).Str("error", e).Msg("rule error")
	}
	a.Findings = res.Findings
	return next, nil
}

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

func (s *Server) online(id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sessions[id] != nil
}

// Scan asks a host's agent to scan now and waits for its report.
func (s *Server) Scan(ctx context.Context, hostID string, timeout time.Duration) (*fwv1.Report, error) {
	s.mu.Lock()
	sess := s.sessions[hostID]
	id := uuid.NewString()
	ch := make(chan *fwv1.ScanReply, 1)
	if sess != nil {
		s.scans[id] = ch
	}
	s.mu.Unlock()
	if sess == nil {
		return nil, status.Errorf(codes.Unavailable, "scan: host %s is not connected", hostID)
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
		return nil, status.Errorf(codes.Unavailable, "scan: host %s disconnected", hostID)
	case <-ctx.Done():
		return nil, status.Errorf(codes.DeadlineExceeded, "scan: host %s did not take the request within %s", hostID, timeout)
	}
	select {
	case r := <-ch:
		if r.GetError() != "" {
			return nil, status.Errorf(codes.Internal, "scan: the agent failed: %s", r.GetError())
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
			res := p.Rules.EvaluateOrg(rep.GetHost(), p.orgFor(agentOrg), rep.GetObservations())
			rep.Findings, rep.RuleErrors = res.Findings, res.Errors
			rep.Verdict = report.Verdict(rep)
		}
		return rep, nil
	case <-sess.done:
		return nil, status.Errorf(codes.Unavailable, "scan: host %s disconnected", hostID)
	case <-ctx.Done():
		return nil, status.Errorf(codes.DeadlineExceeded, "scan: host %s did not answer within %s", hostID, timeout)
	}
}

// orgFor is the expectations a host is judged by: the fleet's when the
// collector has them, the agent's own otherwise.
func (p *Policy) orgFor(agent *fwv1.OrgPolicy) *fwv1.OrgPolicy {
	if p.Org != nil {
		return p.Org
	}
	return agent
}

func ts(t time.Time) *timestamppb.Timestamp {
	if t.IsZero() {
		return nil
	}
	return timestamppb.New(t)
}
