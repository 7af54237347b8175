package server

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/farmwatch/farmwatch/collector/pki"
	"github.com/farmwatch/farmwatch/collector/store"
	"github.com/farmwatch/farmwatch/credential"
	fwv1 "github.com/farmwatch/farmwatch/proto/farmwatch/v1"
	"github.com/farmwatch/farmwatch/rules"
	"github.com/google/uuid"
	"golang.org/x/sync/errgroup"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
)

// Enroll implements AgentService. A new host id is enrolled; a host id that
// is enrolled already is given a new key only when the request presents
// the host's current one, the host was reset, or an admin approved this
// very request. Anything else is kept as pending, refused, and logged once
// with the peer: the enroll secret is on every laptop, so it must not be
// enough to speak for another host.
func (s *Server) Enroll(ctx context.Context, req *fwv1.EnrollRequest) (*fwv1.EnrollResponse, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	auth := md.Get(credential.MDAuthorization)
	secret, _ := credential.ParseEnroll(first(auth))
	if len(auth) != 1 || subtle.ConstantTimeCompare(pki.Hash(secret), s.enrollHash) != 1 {
		s.log.Warn().Str("peer", peerAddr(ctx)).Msg("enrollment refused: wrong secret")
		return nil, unauthenticated("enroll: wrong enroll secret")
	}
	if err := s.limits.CheckHost(req.GetHost()); err != nil {
		return nil, invalid("enroll: %v", err)
	}
	if len(req.GetRequestId()) > 64 || len(req.GetNodeKey()) > 256 {
		return nil, invalid("enroll: request id or node key too long")
	}
	id := req.GetHostId()
	if id == "" {
		id = uuid.NewString()
	} else if _, err := uuid.Parse(id); err != nil {
		return nil, invalid("enroll: host_id %q is not a UUID", id)
	}
	key := pki.Secret("fwn_")
	now := s.now()
	e := store.Enrollment{
		Host: store.Host{ID: id, Hostname: req.GetHost().GetHostname(), OS: req.GetHost().GetOs(), Info: req.GetHost(),
			NodeKeyHash: pki.Hash(key), EnrolledAt: now, LastSeen: now, EgressIP: peerIP(ctx)},
		RequestID: req.GetRequestId(), Peer: peerAddr(ctx),
	}
	if req.GetNodeKey() != "" {
		e.PresentedKeyHash = pki.Hash(req.GetNodeKey())
	}
	outcome, err := s.store.Enroll(ctx, e)
	if err != nil {
		return nil, internal("enroll: storing the host", err)
	}
	ev := s.log.Info().Str("host_id", id).Str("hostname", e.Host.Hostname).Str("peer", e.Peer)
	switch outcome {
	case store.Enrolled:
		ev.Msg("host enrolled")
	case store.Rekeyed:
		ev.Msg("host enrolled again with its node key")
	case store.ResetTaken:
		ev.Msg("host enrolled again after a reset")
	case store.Approved:
		ev.Str("request_id", e.RequestID).Msg("host enrolled again: the request was approved")
	default:
		s.pendingLog(id, e)
		return nil, refuse(codes.FailedPrecondition, "enroll: this host id is enrolled and the request did not carry its node key; "+
			"it waits for an admin: farmwatch-collector host approve %s", id)
	}
	return &fwv1.EnrollResponse{HostId: id, NodeKey: key}, nil
}

// pendingLog logs a refused re-enrolment once per host and request, so an
// agent that retries while it waits, or a flood, does not fill the log.
func (s *Server) pendingLog(id string, e store.Enrollment) {
	s.mu.Lock()
	k := id + "/" + e.RequestID
	seen := s.pendingSeen[k]
	if !seen {
		if len(s.pendingSeen) > 10_000 {
			clear(s.pendingSeen)
		}
		s.pendingSeen[k] = true
	}
	s.mu.Unlock()
	if !seen {
		s.log.Warn().Str("host_id", id).Str("hostname", e.Host.Hostname).Str("peer", e.Peer).Str("request_id", e.RequestID).
			Msg("enrollment refused: an enrolled host id without its node key; waiting for an admin's approval")
	}
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
	// One answer for an unknown host and a wrong key: the refusal says
	// nothing of which hosts exist.
	h, err := s.store.Host(ctx, ids[0])
	if errors.Is(err, store.ErrNotFound) {
		return h, unauthenticated("connect: unknown host or wrong node key; enroll again")
	}
	if err != nil {
		return h, internal("connect: host lookup", err)
	}
	if len(h.NodeKeyHash) == 0 || subtle.ConstantTimeCompare(pki.Hash(key), h.NodeKeyHash) != 1 {
		s.log.Warn().Str("host_id", h.ID).Str("peer", peerAddr(ctx)).Msg("stream refused: wrong node key")
		return h, unauthenticated("connect: unknown host or wrong node key; enroll again")
	}
	return h, nil
}

// session is one agent's stream.
type session struct {
	hostID   string
	hostname string
	send     chan *fwv1.CollectorMessage
	done     chan struct{}                  // closed when a newer stream replaces this one, or it ends
	rules    *rules.HostState               // the host's observations and findings, for collector rules; the apply worker's
	facts    factWatch                      // whether a message changed what the clusters read; the apply worker's
	org      atomic.Pointer[fwv1.OrgPolicy] // the agent's own expectations, from its hello
	// Set from the hello, used only by the apply worker.
	status store.AgentStatus
	// awaitFull, when set, is the number of the full state a resync asked
	// for: until it comes, the apply worker applies no sequenced message
	// (those in flight were numbered before the agent dropped them).
	awaitFull uint64
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
	if s.relay != nil { // replicas: this one holds the host now
		s.relay.Attached(sess.hostID)
	}
	return func() {
		s.mu.Lock()
		mine := s.sessions[sess.hostID] == sess
		if mine {
			delete(s.sessions, sess.hostID)
			close(sess.done)
		}
		s.mu.Unlock()
		if mine && s.relay != nil {
			s.relay.Detached(sess.hostID)
		}
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
	sess := &session{hostID: h.ID, hostname: h.Hostname, send: make(chan *fwv1.CollectorMessage, 64), done: make(chan struct{})}
	defer s.attach(sess)()
	s.log.Info().Str("host_id", h.ID).Str("hostname", h.Hostname).Msg("agent connected")
	s.metrics.connect(1)
	defer s.metrics.connect(-1)

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return s.sendLoop(gctx, stream, sess) })
	queue := make(chan inbound, 16)
	recvErr := make(chan error, 1)
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		recvErr <- s.receive(gctx, stream, h.ID, queue)
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

// applyLoop applies the received messages in order until the stream ends,
// a newer stream of the agent replaces this one, or a message fails.
func (s *Server) applyLoop(ctx context.Context, h store.Host, egress string, sess *session, queue <-chan inbound, recvErr <-chan error) error {
	for {
		select {
		case in, ok := <-queue:
			if !ok {
				return <-recvErr
			}
			if in.refused != nil {
				if in.seq == 0 {
					return in.refused
				}
				if err := s.resync(ctx, h, sess, in.seq, in.refused.Error()); err != nil {
					return err
				}
				continue
			}
			if err := s.handle(ctx, h, egress, in.m, sess); err != nil {
				return err
			}
		case <-sess.done:
			return aborted("connect: a newer stream of this agent replaced this one")
		case <-ctx.Done():
			return nil
		}
	}
}

func (s *Server) handle(ctx context.Context, h store.Host, egress string, m *fwv1.AgentMessage, sess *session) (err error) {
	start := time.Now()
	var a *store.Apply
	switch b := m.Body.(type) {
	case *fwv1.AgentMessage_Hello:
		if id := b.Hello.GetHostId(); id != "" && id != h.ID {
			return denied("connect: hello names host %s; this stream is host %s", id, h.ID)
		}
		a = &store.Apply{SpoolDropped: b.Hello.GetSpoolDropped()}
		sess.org.Store(b.Hello.GetOrg())
		defer func() {
			if err == nil {
				err = s.checkNumbering(ctx, h, sess, b.Hello.GetLastSeq())
			}
		}()
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
		if err := s.sendCtx(ctx, sess, s.configUpdate(p, h.Hostname)); err != nil {
			return err
		}
		// The address it connected from is where the host is now, whether
		// or not it sends anything else.
		if err := s.store.SetEgress(ctx, h.ID, egress, s.now()); err != nil {
			s.log.Error().Err(err).Str("host_id", h.ID).Msg("egress IP not stored")
		}
		s.fleetTouch(h.ID)
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
	case *fwv1.AgentMessage_HuntReply:
		s.deliverHunt(h.ID, b.HuntReply)
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
	if sess.awaitFull != 0 {
		if m.GetFull() == nil || m.GetSeq() != sess.awaitFull {
			return nil // sent before the agent took the resync
		}
		sess.awaitFull = 0
	}
	if a == nil {
		a = &store.Apply{}
	}
	a.Seen, a.EgressIP = s.now(), egress
	var next *rules.HostState
	if p := s.policy.Load(); a.FindingsSet {
		var err error
		next, err = s.evaluate(ctx, p, h, sess, a)
		if full := (errHostFull{}); errors.As(err, &full) {
			s.metrics.refuse("host_full")
			return s.resync(ctx, h, sess, m.GetSeq(), err.Error())
		}
		if err != nil {
			s.log.Error().Err(err).Str("host_id", h.ID).Uint64("seq", m.GetSeq()).Msg("host state not loaded")
			return unavailable("connect: message #%d not stored; send it again", m.GetSeq())
		}
	}
	applied, err := s.store.ApplyMessage(ctx, h.ID, m.GetSeq(), *a)
	if se := (*store.SequenceError)(nil); errors.As(err, &se) {
		return s.resync(ctx, h, sess, m.GetSeq(), se.Error())
	}
	if err != nil {
		s.log.Error().Err(err).Str("host_id", h.ID).Uint64("seq", m.GetSeq()).Msg("message not applied")
		return unavailable("connect: message #%d not stored; send it again", m.GetSeq())
	}
	if applied {
		sess.rules = next
		// With replicas the clusters also read again every host whose last
		// applied message moved (another replica may have applied it).
		if sess.facts.applied(a) {
			s.fleetTouch(h.ID)
		}
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

// errHostFull is a message that would take a host past its observation
// limit.
type errHostFull struct{ n, limit int }

func (e errHostFull) Error() string {
	return fmt.Sprintf("the host would have %d observations, the limit is %d", e.n, e.limit)
}

// evaluate runs the collector's rules on the host's state after a and
// puts their findings in a, changing the session's kept state in place
// (incrementally: only the observations a changes are judged again, then
// the host rules). The caller keeps the returned state only when the store
// committed a. A message that would take the host past its observation
// limit is refused with errHostFull and changes nothing.
func (s *Server) evaluate(ctx context.Context, p *Policy, h store.Host, sess *session, a *store.Apply) (*rules.HostState, error) {
	set := p.Rules
	if set == nil { // no collector rules: the state still bounds the host, and the agent's findings stand
		set = s.noRules
	}
	info := h.Info
	if info == nil {
		info = &fwv1.HostInfo{Hostname: h.Hostname, Os: h.OS}
	}
	org := p.orgFor(sess.org.Load(), h.Hostname)
	st := sess.rules
	sess.rules = nil // until the store commits: a failure leaves nothing half-changed behind
	var res *rules.Result
	for {
		if st == nil || !st.Matches(set, info, org) {
			obs, err := s.store.Observations(ctx, h.ID)
			if err != nil {
				return nil, err
			}
			sess.facts.seed(obs)
			st = set.NewHostState(info, org)
			if _, err := st.Apply(true, obs, nil); err != nil {
				return nil, err
			}
		}
		if n := st.After(a.Full, a.Upserted, a.Removed); n > s.limits.HostObservations {
			sess.rules = st // unchanged
			return nil, errHostFull{n, s.limits.HostObservations}
		}
		var err error
		res, err = st.Apply(a.Full, a.Upserted, a.Removed)
		if errors.Is(err, rules.ErrStale) {
			st = nil // an exception expired between Matches and Apply: build it again
			continue
		}
		if err != nil {
			return nil, err
		}
		break
	}
	for _, e := range res.Errors {
		s.log.Warn().Str("host_id", h.ID).Str("error", e).Msg("rule error")
	}
	if p.Rules != nil {
		a.Findings = res.Findings
	}
	return st, nil
}

// checkNumbering asks for a resync when the hello shows that the agent's
// numbering went back below what was applied (its state directory was
// restored or damaged: its messages would all be taken for ones applied
// before and ignored) or leapt past the window.
func (s *Server) checkNumbering(ctx context.Context, h store.Host, sess *session, agentLast uint64) error {
	cur, err := s.store.Host(ctx, h.ID)
	if err != nil {
		return internal("connect: host lookup", err)
	}
	switch {
	case agentLast < cur.LastSeq:
		return s.resync(ctx, h, sess, 0, fmt.Sprintf("the agent's numbering went back: its last message is #%d, the collector applied #%d", agentLast, cur.LastSeq))
	case agentLast > cur.LastSeq+store.SeqWindow:
		return s.resync(ctx, h, sess, 0, fmt.Sprintf("the agent's numbering leapt: its last message is #%d, the collector applied #%d", agentLast, cur.LastSeq))
	}
	return nil
}

// resync tells the agent that message refused (0: none in particular) was
// not applied and that nothing more will be until a full state numbered
// after the last message applied; it counts the refusal on the host.
func (s *Server) resync(ctx context.Context, h store.Host, sess *session, refused uint64, reason string) error {
	cur, err := s.store.Host(ctx, h.ID)
	if err != nil {
		return internal("connect: host lookup", err)
	}
	next := cur.LastSeq + 1
	sess.awaitFull, sess.rules = next, nil
	if err := s.store.AddRefused(ctx, h.ID, 1); err != nil {
		s.log.Error().Err(err).Str("host_id", h.ID).Msg("refusal not counted")
	}
	s.log.Warn().Str("host_id", h.ID).Str("hostname", h.Hostname).Uint64("refused_seq", refused).Uint64("next_seq", next).
		Str("reason", reason).Msg("agent message refused: the agent resyncs with a full state")
	return s.sendCtx(ctx, sess, &fwv1.CollectorMessage{Body: &fwv1.CollectorMessage_Resync{Resync: &fwv1.Resync{
		RefusedSeq: refused, NextSeq: next, Reason: reason}}})
}
