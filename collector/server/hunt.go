package server

// Hunts: every online agent of the fleet runs a filter over a fresh scan.
// The replica asked puts the hunt to the agents it holds, and, through the
// relay, to those other replicas hold; their answers come back as they
// come, and one summary counts the whole fleet.

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/farmwatch/farmwatch/limits"
	fwv1 "github.com/farmwatch/farmwatch/proto/farmwatch/v1"
	"github.com/farmwatch/farmwatch/rules"
	"github.com/google/uuid"
	"google.golang.org/protobuf/proto"
)

// RelayHunt is a hunt as the relay carries it to other replicas.
type RelayHunt struct {
	ID, Kind, Filter string
	Timeout          time.Duration
}

// HuntNews is what the relay tells a hunt about the hosts other replicas
// hold. Exactly one of its parts is set.
type HuntNews struct {
	// Expect, the first news: the replicas asked to put the hunt to their
	// agents, each with the hosts it held when the hunt started (host id
	// -> hostname).
	Expect map[string]map[string]string
	// Asked: replica Replica put the hunt to these hosts (host id ->
	// hostname), the hosts no other replica had asked.
	Replica string
	Asked   map[string]string
	// Reply: the answer of host HostID, asked by replica Replica.
	HostID string
	Reply  *fwv1.HuntReply
	// Err: the relay failed; no news follows.
	Err error
}

// HuntClaim records that this replica puts a hunt to hosts (host id ->
// hostname) and returns those it may ask: the ones no replica asked yet.
type HuntClaim func(hosts map[string]string) (map[string]string, error)

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

// askHunt puts hunt h to the agents this replica holds, those claim
// allows (every one when claim is nil). It returns the hosts asked (host id
// -> hostname), where their answers come, and the function that stops
// waiting for them.
func (s *Server) askHunt(h RelayHunt, claim HuntClaim) (map[string]string, <-chan huntAnswer, func(), error) {
	s.mu.Lock()
	sessions := make(map[string]*session, len(s.sessions))
	for id, sess := range s.sessions {
		sessions[id] = sess
	}
	ch := make(chan huntAnswer, len(sessions))
	s.hunts[h.ID] = ch
	s.mu.Unlock()
	end := func() {
		s.mu.Lock()
		delete(s.hunts, h.ID)
		s.mu.Unlock()
	}
	allowed := make(map[string]string, len(sessions))
	for id, sess := range sessions {
		allowed[id] = sess.hostname
	}
	if claim != nil {
		var err error
		if allowed, err = claim(allowed); err != nil {
			end()
			return nil, nil, nil, err
		}
	}
	names := map[string]string{}
	msg := &fwv1.CollectorMessage{Body: &fwv1.CollectorMessage_Hunt{Hunt: &fwv1.HuntRequest{RequestId: h.ID, Kind: h.Kind, Filter: h.Filter}}}
	for id := range allowed {
		sess := sessions[id]
		if sess == nil {
			continue
		}
		select {
		case sess.send <- msg:
			names[id] = sess.hostname
		case <-sess.done:
		default: // a stalled stream: not asked
		}
	}
	return names, ch, end, nil
}

// HuntLocal puts a hunt relayed from another replica to the agents this
// replica holds, those claim allows, and calls answer once with the reply
// of each agent asked, until all answered or the hunt's time is up.
func (s *Server) HuntLocal(ctx context.Context, h RelayHunt, claim HuntClaim, answer func(hostID string, r *fwv1.HuntReply)) error {
	names, ch, end, err := s.askHunt(h, claim)
	if err != nil {
		return err
	}
	defer end()
	s.log.Info().Str("hunt", h.ID).Str("kind", h.Kind).Int("asked", len(names)).Msg("relayed hunt started")
	ctx, cancel := context.WithTimeout(ctx, h.Timeout)
	defer cancel()
	answered := map[string]bool{}
	for len(answered) < len(names) {
		select {
		case a := <-ch:
			if _, asked := names[a.hostID]; !asked || answered[a.hostID] {
				continue
			}
			answered[a.hostID] = true
			answer(a.hostID, a.reply)
		case <-ctx.Done():
			return nil
		}
	}
	return nil
}

// Hunt implements FleetService: every online agent of the fleet is asked
// at once; the answers stream as they come; a summary ends the stream when
// every agent answered or the time is up.
func (s *Server) Hunt(req *fwv1.HuntFleetRequest, stream fwv1.FleetService_HuntServer) error {
	if _, err := s.query(req.GetKind(), req.GetFilter()); err != nil {
		return err
	}
	timeout := time.Duration(req.GetTimeoutMs()) * time.Millisecond
	if timeout <= 0 || timeout > 5*time.Minute {
		timeout = 30 * time.Second
	}
	h := RelayHunt{ID: uuid.NewString(), Kind: req.GetKind(), Filter: req.GetFilter(), Timeout: timeout}
	ctx, cancel := context.WithTimeout(stream.Context(), timeout)
	defer cancel()
	var claim HuntClaim
	if s.relay != nil {
		claim = func(hosts map[string]string) (map[string]string, error) { return s.relay.ClaimHunt(ctx, h.ID, hosts) }
	}
	names, ch, end, err := s.askHunt(h, claim)
	if err != nil {
		return internal("hunt", err)
	}
	defer end()
	sum := &fwv1.HuntSummary{Asked: int32(len(names))}
	// Other replicas: the relay tells which were asked, then what each
	// asked and what came back.
	news := make(chan HuntNews, 64)
	var wg sync.WaitGroup
	defer func() { cancel(); wg.Wait() }()
	waiting := -1 // replicas that have not said whom they asked; unknown until the relay says
	var pending map[string]map[string]string
	if s.relay != nil {
		wg.Go(func() { s.relay.Hunt(ctx, h, news) })
	} else {
		waiting = 0
	}
	s.log.Info().Str("hunt", h.ID).Str("caller", caller(stream.Context())).Str("kind", h.Kind).Int32("asked_here", sum.Asked).Msg("hunt started")
	answered := map[string]bool{}
	take := func(a huntAnswer) error {
		name, asked := names[a.hostID]
		if !asked || answered[a.hostID] {
			return nil
		}
		answered[a.hostID] = true
		if size := proto.Size(a.reply); size > s.limits.MaxMessageBytes {
			a.reply = &fwv1.HuntReply{Error: fmt.Sprintf("the agent's answer is over the collector's limits: %d bytes, the limit is %d", size, s.limits.MaxMessageBytes)}
		}
		return s.sendHuntAnswer(stream, sum, a.hostID, name, a.reply)
	}
loop:
	for waiting != 0 || len(answered) < len(names) {
		select {
		case a := <-ch:
			if err := take(a); err != nil {
				return err
			}
		case n := <-news:
			switch {
			case n.Err != nil:
				s.log.Warn().Err(n.Err).Str("hunt", h.ID).Msg("hunt not relayed to the other replicas")
				waiting = 0
			case n.Expect != nil:
				pending = n.Expect
				waiting = len(pending)
			case n.Asked != nil:
				if _, ok := pending[n.Replica]; !ok {
					continue
				}
				delete(pending, n.Replica)
				waiting--
				for id, name := range n.Asked {
					if _, dup := names[id]; !dup {
						names[id] = name
						sum.Asked++
					}
				}
			case n.Reply != nil:
				if err := take(huntAnswer{hostID: n.HostID, reply: n.Reply}); err != nil {
					return err
				}
			}
		case <-ctx.Done():
			break loop
		}
	}
	if err := stream.Context().Err(); err != nil {
		return err
	}
	// The hosts of a replica that never took the hunt (it died, or its
	// connection did) were not asked: each is a failed answer.
	for rep, hosts := range pending {
		for id, name := range hosts {
			if _, asked := names[id]; asked {
				continue
			}
			names[id] = name
			sum.Asked++
			answered[id] = true
			why := fmt.Sprintf("the replica %s holding the host did not take the hunt", rep)
			if err := s.sendHuntAnswer(stream, sum, id, name, &fwv1.HuntReply{Error: why}); err != nil {
				return err
			}
		}
	}
	sum.TimedOut = sum.Asked - sum.Answered - sum.Failed
	s.log.Info().Str("hunt", h.ID).Int32("asked", sum.Asked).Int32("answered", sum.Answered).Int32("failed", sum.Failed).
		Int32("timed_out", sum.TimedOut).Int32("matched", sum.Matched).Msg("hunt ended")
	return stream.Send(&fwv1.HuntEvent{Event: &fwv1.HuntEvent_Summary{Summary: sum}})
}

// sendHuntAnswer streams one host's answer and counts it in sum.
func (s *Server) sendHuntAnswer(stream fwv1.FleetService_HuntServer, sum *fwv1.HuntSummary, hostID, name string, r *fwv1.HuntReply) error {
	ans := &fwv1.HuntAnswer{HostId: hostID, Hostname: name, Error: r.GetError()}
	if r.GetError() != "" && len(r.GetMatches()) == 0 {
		sum.Failed++
	} else {
		sum.Answered++
	}
	for i, o := range r.GetMatches() {
		if i == limits.HostObservations {
			break
		}
		kind, _ := rules.KindOf(o)
		ans.Rows = append(ans.Rows, &fwv1.QueryRow{HostId: hostID, Hostname: name, Kind: kind, Key: o.GetKey(), Observation: o})
	}
	if len(ans.Rows) > 0 {
		sum.Matched++
	}
	return stream.Send(&fwv1.HuntEvent{Event: &fwv1.HuntEvent_Answer{Answer: ans}})
}
