package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/farmwatch/farmwatch/credential"
	"github.com/farmwatch/farmwatch/limits"
	fwv1 "github.com/farmwatch/farmwatch/proto/farmwatch/v1"
	"github.com/google/uuid"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// identity is an enrolled simulated agent.
type identity struct {
	HostID   string `json:"host_id"`
	NodeKey  string `json:"node_key"`
	Hostname string `json:"hostname"`
}

// simAgent is one simulated agent: its own TLS connection and stream.
type simAgent struct {
	i     int
	id    identity
	sim   *sim
	state *hostState

	mu      sync.Mutex
	seq     uint64               // the last sequence number used
	pending map[uint64]time.Time // sent, not yet acknowledged
	resync  chan uint64
}

func (a *simAgent) hostInfo() *fwv1.HostInfo {
	return &fwv1.HostInfo{Os: "linux", Hostname: a.id.Hostname, OsVersion: "Ubuntu 24.04", Arch: "amd64", Kernel: "6.8.0", Source: "fleetsim"}
}

// enroll gets the agent a node key, retrying while the collector says too
// many enrolments are in progress.
func (a *simAgent) enroll(ctx context.Context, cc *grpc.ClientConn) error {
	if a.id.NodeKey != "" {
		return nil
	}
	// As many at once as the collector takes from one address (its
	// MaxEnrollsPerPeer, 4): more would only be refused and retried.
	select {
	case a.sim.enrolls <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-a.sim.enrolls }()
	req := &fwv1.EnrollRequest{Host: a.hostInfo(), HostId: a.id.HostID}
	ectx := metadata.AppendToOutgoingContext(ctx, credential.MDAuthorization, credential.Enroll(a.sim.secret))
	for {
		r, err := fwv1.NewAgentServiceClient(cc).Enroll(ectx, req)
		if status.Code(err) == codes.ResourceExhausted {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(time.Duration(20+rand.IntN(80)) * time.Millisecond):
			}
			continue
		}
		if err != nil {
			return fmt.Errorf("enroll: %w", err)
		}
		a.id.NodeKey = r.GetNodeKey()
		a.sim.stats.enrolled.Add(1)
		return nil
	}
}

// run holds the agent's session until ctx ends, reconnecting after an
// error as an agent does.
func (a *simAgent) run(ctx context.Context) {
	backoff := time.Second
	for ctx.Err() == nil {
		err := a.session(ctx)
		if ctx.Err() != nil {
			return
		}
		a.sim.stats.errors.Add(1)
		a.sim.noteError(err)
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff + time.Duration(rand.Int64N(int64(backoff)))):
		}
		backoff = min(2*backoff, 30*time.Second)
	}
}

func (a *simAgent) session(ctx context.Context) error {
	cc, err := a.sim.dial()
	if err != nil {
		return err
	}
	defer cc.Close()
	if err := a.enroll(ctx, cc); err != nil {
		return err
	}
	sctx, cancel := context.WithCancel(metadata.AppendToOutgoingContext(ctx, credential.MDHost, a.id.HostID, credential.MDAuthorization, credential.Node(a.id.NodeKey)))
	defer cancel()
	st, err := fwv1.NewAgentServiceClient(cc).Connect(sctx)
	if err != nil {
		return err
	}
	var sendMu sync.Mutex
	send := func(m *fwv1.AgentMessage) error {
		sendMu.Lock()
		defer sendMu.Unlock()
		return sendChunked(st, m)
	}
	a.mu.Lock()
	last := a.seq
	a.mu.Unlock()
	hello := &fwv1.Hello{HostId: a.id.HostID, Host: a.hostInfo(), AgentVersion: "fleetsim", LastSeq: last}
	if err := send(&fwv1.AgentMessage{Sent: timestamppb.Now(), Body: &fwv1.AgentMessage_Hello{Hello: hello}}); err != nil {
		return err
	}
	a.sim.stats.connected.Add(1)
	defer a.sim.stats.connected.Add(-1)
	recvErr := make(chan error, 1)
	var wg sync.WaitGroup
	wg.Go(func() { recvErr <- a.receive(st, send) })
	defer func() { cancel(); wg.Wait() }()

	// A session starts with the full state (a real agent would resend
	// what was not acknowledged; the state is the same).
	if err := a.sendFull(send); err != nil {
		return err
	}
	// The first delta comes at a random point of the interval, so that
	// the fleet's messages spread evenly.
	t := time.NewTimer(time.Duration(rand.Int64N(int64(a.sim.interval))))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case err := <-recvErr:
			return err
		case next := <-a.resync:
			a.mu.Lock()
			a.seq = next - 1
			a.pending = map[uint64]time.Time{}
			a.mu.Unlock()
			a.sim.stats.resyncs.Add(1)
			if err := a.sendFull(send); err != nil {
				return err
			}
		case <-t.C:
			t.Reset(jitter(a.sim.interval))
			a.mu.Lock()
			up, removed := a.state.churn(a.sim.churnN)
			a.mu.Unlock()
			if err := a.sendSeq(send, &fwv1.AgentMessage{Body: &fwv1.AgentMessage_Delta{Delta: &fwv1.Delta{Upserted: up, Removed: removed}}}); err != nil {
				return err
			}
		}
	}
}

// jitter is d ± 10 %.
func jitter(d time.Duration) time.Duration {
	return d - d/10 + time.Duration(rand.Int64N(int64(d/5)+1))
}

func (a *simAgent) sendFull(send func(*fwv1.AgentMessage) error) error {
	return a.sendSeq(send, &fwv1.AgentMessage{Body: &fwv1.AgentMessage_Full{Full: &fwv1.FullState{Observations: a.snapshot()}}})
}

// sendSeq numbers m and sends it; its ack is timed.
func (a *simAgent) sendSeq(send func(*fwv1.AgentMessage) error, m *fwv1.AgentMessage) error {
	a.mu.Lock()
	a.seq++
	m.Seq = a.seq
	a.pending[m.Seq] = time.Now()
	a.mu.Unlock()
	m.Sent = timestamppb.Now()
	if err := send(m); err != nil {
		return err
	}
	a.sim.stats.sent.Add(1)
	return nil
}

// receive reads the collector's messages: acks are timed, scan requests
// answered with the current state, hunts over it (hunt.go), bundles taken.
func (a *simAgent) receive(st fwv1.AgentService_ConnectClient, send func(*fwv1.AgentMessage) error) error {
	for {
		m, err := st.Recv()
		if err != nil {
			return err
		}
		switch b := m.Body.(type) {
		case *fwv1.CollectorMessage_Ack:
			now := time.Now()
			a.mu.Lock()
			for seq, at := range a.pending {
				if seq <= b.Ack.Seq {
					a.sim.stats.ack(now.Sub(at))
					delete(a.pending, seq)
				}
			}
			a.mu.Unlock()
		case *fwv1.CollectorMessage_Scan:
			rep := &fwv1.Report{Host: a.hostInfo(), Observations: a.snapshot()}
			if err := send(&fwv1.AgentMessage{Sent: timestamppb.Now(), Body: &fwv1.AgentMessage_ScanReply{ScanReply: &fwv1.ScanReply{RequestId: b.Scan.GetRequestId(), Report: rep}}}); err != nil {
				return err
			}
			a.sim.stats.scansAnswered.Add(1)
		case *fwv1.CollectorMessage_Hunt:
			reply := a.sim.hunter.answer(b.Hunt, a.hostInfo(), a.snapshot())
			if err := send(&fwv1.AgentMessage{Sent: timestamppb.Now(), Body: &fwv1.AgentMessage_HuntReply{HuntReply: reply}}); err != nil {
				return err
			}
			a.sim.stats.huntsAnswered.Add(1)
		case *fwv1.CollectorMessage_Rules:
			a.sim.hunter.take(b.Rules)
			bs := &fwv1.BundleStatus{Version: b.Rules.GetVersion()}
			if err := send(&fwv1.AgentMessage{Sent: timestamppb.Now(), Body: &fwv1.AgentMessage_BundleStatus{BundleStatus: bs}}); err != nil {
				return err
			}
		case *fwv1.CollectorMessage_Resync:
			select {
			case a.resync <- b.Resync.GetNextSeq():
			default:
			}
		}
	}
}

// snapshot is the agent's state for a scan reply. The state belongs to the
// session's loop; a scan reads the shared bodies only through a copy of
// the map taken under the agent's lock.
func (a *simAgent) snapshot() []*fwv1.Observation {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.state.all()
}

// sendChunked sends m whole, or as chunks when it is larger than one gRPC
// message may be (as agent/stream does).
func sendChunked(st fwv1.AgentService_ConnectClient, m *fwv1.AgentMessage) error {
	if proto.Size(m) <= limits.ChunkBytes {
		return st.Send(m)
	}
	b, err := proto.Marshal(m)
	if err != nil {
		return err
	}
	for off := 0; off < len(b); off += limits.ChunkBytes {
		end := min(off+limits.ChunkBytes, len(b))
		c := &fwv1.AgentMessage{Seq: m.GetSeq(), Body: &fwv1.AgentMessage_Chunk{Chunk: &fwv1.Chunk{Data: b[off:end], Last: end == len(b)}}}
		if err := st.Send(c); err != nil {
			return err
		}
	}
	return nil
}

func newAgent(s *sim, i int, id identity) *simAgent {
	if id.HostID == "" {
		id = identity{HostID: uuid.NewString(), Hostname: fmt.Sprintf("sim-%05d", i)}
	}
	return &simAgent{i: i, id: id, sim: s, state: newHostState(i, s.processes), pending: map[uint64]time.Time{}, resync: make(chan uint64, 1)}
}
