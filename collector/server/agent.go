package server

import (
	"context"
	"crypto/subtle"
	"errors"
	"io"
	"sort"
	"sync/atomic"
	"time"

	"github.com/farmwatch/farmwatch/collector/pki"
	"github.com/farmwatch/farmwatch/collector/store"
	"github.com/farmwatch/farmwatch/credential"
	fwv1 "github.com/farmwatch/farmwatch/proto/farmwatch/v1"
	"github.com/google/uuid"
	"golang.org/x/sync/errgroup"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// Enroll implements AgentService.
func (s *Server) Enroll(ctx context.Context, req *fwv1.EnrollRequest) (*fwv1.EnrollResponse, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	auth := md.Get(credential.MDAuthorization)
	secret, _ := credential.ParseEnroll(first(auth))
	if len(auth) != 1 || subtle.ConstantTimeCompare(pki.Hash(secret), s.enrollHash) != 1 {
		s.log.Warn().Str("peer", peerAddr(ctx)).Msg("enrollment refused: wrong secret")
		return nil, unauthenticated("enroll: wrong enroll secret")
	}
	if err := s.limits.checkHost(req.GetHost()); err != nil {
		return nil, invalid("enroll: %v", err)
	}
	id := req.GetHostId()
	if id == "" {
		id = uuid.NewString()
	} else if _, err := uuid.Parse(id); err != nil {
		return nil, invalid("enroll: host_id %q is not a UUID", id)
	}
	key := pki.Secret("fwn_")
	now := s.now()
	h := store.Host{
		ID: id, Hostname: req.GetHost().GetHostname(), OS: req.GetHost().GetOs(), Info: req.GetHost(),
		NodeKeyHash: pki.Hash(key), EnrolledAt: now, LastSeen: now, EgressIP: peerIP(ctx),
	}
	if err := s.store.PutHost(ctx, h); err != nil {
		return nil, internal("enroll: storing the host", err)
	}
	s.log.Info().Str("host_id", id).Str("hostname", h.Hostname).Str("peer", peerAddr(ctx)).Msg("host enrolled")
	return &fwv1.EnrollResponse{HostId: id, NodeKey: key}, nil
}

func first(v []string) string {
	if len(v) == 0 {
		return ""
	}
	return v[0]
}

// authAgent checks the node key of a stream and returns its host.
func (s *Server) authAgent(ctx context.Context) (store.Host, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	ids, auths := md.Get(credential.MDHost), md.Get(credential.MDAuthorization)
	if len(ids) != 1 || len(auths) != 1 {
		return store.Host{}, unauthenticated("connect: missing host id or node key")
	}
	key, ok := credential.ParseNode(auths[0])
	if !ok {
		return store.Host{}, unauthenticated("connect: authorization must be \"Node <key>\"")
	}
	h, err := s.store.Host(ctx, ids[0])
	if errors.Is(err, store.ErrNotFound) {
		return h, unauthenticated("connect: unknown host; enroll first")
	}
	if err != nil {
		return h, internal("connect: host lookup", err)
	}
	if subtle.ConstantTimeCompare(pki.Hash(key), h.NodeKeyHash) != 1 {
		s.log.Warn().Str("host_id", h.ID).Str("peer", peerAddr(ctx)).Msg("stream refused: wrong node key")
		return h, unauthenticated("connect: wrong node key")
	}
	return h, nil
}

// session is one agent's stream.
type session struct {
	hostID string
	send   chan *fwv1.CollectorMessage
	done   chan struct{}                  // closed when a newer stream replaces this one, or it ends
	state  map[string]*fwv1.Observation   // the host's current observations, for collector rules; the apply worker's
	org    atomic.Pointer[fwv1.OrgPolicy] // the agent's own expectations, from its hello
	// Set from the hello, used only by the apply worker.
	status store.AgentStatus
}

// attach makes sess the host's stream; a stream of the same host that was
// there before is told to end (the newer one wins). The returned function
// detaches it.
func (s *Server) attach(sess *session) (detach func()) {
	s.mu.Lock()
	if old := s.sessions[sess.hostID]; old != nil {
		close(old.done)
	}
	s.sessions[sess.hostID] = sess
	s.mu.Unlock()
	return func() {
		s.mu.Lock()
		if s.sessions[sess.hostID] == sess {
			delete(s.sessions, sess.hostID)
			close(sess.done)
		}
		s.mu.Unlock()
	}
}

// Connect implements AgentService: it applies each sequenced message and
// acknowledges it only after the store committed it.
//
// Three goroutines serve a stream. A receiver reads it: scan replies are
// handed over at once, so a helpdesk scan does not wait for the agent's
// earlier messages to be committed, and everything else goes, in order,
// through a short queue to the apply worker (this handler), which applies
// and acknowledges it. A sender is the only writer of the stream. The
// sender is waited for here; the receiver can only end once the stream
// does, which is after this handler returns, so the Server owns it and
// Wait waits for it.
func (s *Server) Connect(stream fwv1.AgentService_ConnectServer) error {
	ctx := stream.Context()
	h, err := s.authAgent(ctx)
	if err != nil {
		return err
	}
	sess := &session{hostID: h.ID, send: make(chan *fwv1.CollectorMessage, 64), done: make(chan struct{})}
	defer s.attach(sess)()
	s.log.Info().Str("host_id", h.ID).Str("hostname", h.Hostname).Msg("agent connected")
	s.metrics.connect(1)
	defer s.metrics.connect(-1)

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return s.sendLoop(gctx, stream, sess) })
	queue := make(chan *fwv1.AgentMessage, 16)
	recvErr := make(chan error, 1)
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		recvErr <- s.receive(gctx, stream, queue)
	}()
	err = s.applyLoop(gctx, h, peerIP(ctx), sess, queue, recvErr)
	cancel() // the sender ends
	if serr := g.Wait(); err == nil {
		err = serr
	}
	return err
}

// sendLoop writes the session's queued messages to the stream until the
// session or the stream ends.
func (s *Server) sendLoop(ctx context.Context, stream fwv1.AgentService_ConnectServer, sess *session) error {
	for {
		select {
		case m := <-sess.send:
			if err := stream.Send(m); err != nil {
				return err
			}
		case <-sess.done:
			return nil
		case <-ctx.Done():
			return nil
		}
	}
}

// receive reads the stream until it ends; it closes queue when it does.
func (s *Server) receive(ctx context.Context, stream fwv1.AgentService_ConnectServer, queue chan<- *fwv1.AgentMessage) error {
	defer close(queue)
	for {
		m, err := stream.Recv()
		if err != nil {
			if status.Code(err) == codes.Canceled || errors.Is(err, context.Canceled) || errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
		if err := s.limits.checkAgentMessage(m); err != nil {
			s.metrics.refuse("invalid")
			return invalid("connect: message #%d refused: %v", m.GetSeq(), err)
		}
		if r := m.GetScanReply(); r != nil {
			s.metrics.message("scan_reply")
			s.deliverScan(r)
			continue
		}
		select {
		case queue <- m:
		case <-ctx.Done():
			return nil
		}
	}
}

// applyLoop applies the received messages in order until the stream ends,
// a newer stream of the agent replaces this one, or a message fails.
func (s *Server) applyLoop(ctx context.Context, h store.Host, egress string, sess *session, queue <-chan *fwv1.AgentMessage, recvErr <-chan error) error {
	for {
		select {
		case m, ok := <-queue:
			if !ok {
				return <-recvErr
			}
			if err := s.handle(ctx, h, egress, m, sess); err != nil {
				return err
			}
		case <-sess.done:
			return aborted("connect: a newer stream of this agent replaced this one")
		case <-ctx.Done():
			return nil
		}
	}
}

func (s *Server) handle(ctx context.Context, h store.Host, egress string, m *fwv1.AgentMessage, sess *session) error {
	start := time.Now()
	var a *store.Apply
	switch b := m.Body.(type) {
	case *fwv1.AgentMessage_Hello:
		if id := b.Hello.GetHostId(); id != "" && id != h.ID {
			return denied("connect: hello names host %s; this stream is host %s", id, h.ID)
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
		return invalid("connect: empty message")
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
			return unavailable("connect: message #%d not stored; send it again", m.GetSeq())
		}
	}
	applied, err := s.store.ApplyMessage(ctx, h.ID, m.GetSeq(), *a)
	if err != nil {
		s.log.Error().Err(err).Str("host_id", h.ID).Uint64("seq", m.GetSeq()).Msg("message not applied")
		return unavailable("connect: message #%d not stored; send it again", m.GetSeq())
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
		return aborted("connect: a newer stream of this agent replaced this one")
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
