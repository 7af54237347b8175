package stream

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/farmwatch/farmwatch/agent/outbox"
	"github.com/farmwatch/farmwatch/credential"
	"github.com/farmwatch/farmwatch/limits"
	fwv1 "github.com/farmwatch/farmwatch/proto/farmwatch/v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// session is one connection to the collector; it says whether the
// collector answered (it took the hello).
func (s *Stream) session(ctx context.Context) (bool, error) {
	hello, err := s.c.Agent.Hello(ctx)
	if err != nil {
		return false, err
	}
	cc, err := s.c.Dial()
	if err != nil {
		return false, err
	}
	defer cc.Close()
	id, key, err := s.identity(ctx, cc, hello.GetHost())
	if err != nil {
		return false, err
	}
	sctx, cancel := context.WithCancel(metadata.AppendToOutgoingContext(ctx, credential.MDHost, id, credential.MDAuthorization, credential.Node(key)))
	defer cancel()
	st, err := fwv1.NewAgentServiceClient(cc).Connect(sctx)
	if err != nil {
		return false, err
	}
	var sendMu sync.Mutex // the receiver answers bundles while this goroutine sends
	send := func(m *fwv1.AgentMessage) error {
		sendMu.Lock()
		defer sendMu.Unlock()
		return sendChunked(st, m)
	}
	hello.HostId, hello.SpoolDropped, hello.LastSeq = id, s.c.Queue.Dropped(), s.c.Queue.LastSeq()
	// The hello is not sequenced: every sequenced message comes from the
	// queue, in order.
	if err := send(&fwv1.AgentMessage{Sent: timestamppb.Now(), Body: &fwv1.AgentMessage_Hello{Hello: hello}}); err != nil {
		return false, err
	}
	s.c.Log.Info().Str("host_id", id).Msg("connected")

	var answered atomic.Bool // the collector sent something: it took the hello
	recvErr := make(chan error, 1)
	scans := make(chan string, 8)
	hunts := make(chan *fwv1.HuntRequest, 8)
	resyncs := make(chan *fwv1.Resync, 1)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // the only receiver; the deferred cancel and Wait end it
		defer wg.Done()
		recvErr <- s.receive(st, send, scans, hunts, resyncs, &answered)
	}()
	defer func() { cancel(); wg.Wait() }()
	var sentSeq uint64
	flush := func() error {
		ms, err := s.c.Queue.After(sentSeq)
		if err != nil {
			return errQueue{err}
		}
		for _, m := range ms {
			if err := send(m); err != nil {
				return err
			}
			sentSeq = m.Seq
		}
		return nil
	}
	if err := flush(); err != nil {
		return answered.Load(), err
	}
	for {
		select {
		case <-ctx.Done():
			return answered.Load(), ctx.Err()
		case err := <-recvErr:
			return answered.Load(), err
		case r := <-resyncs:
			dropped := s.c.Queue.Dropped()
			if err := s.c.Queue.Resync(r.GetNextSeq()); err != nil {
				return answered.Load(), errQueue{err}
			}
			sentSeq = r.GetNextSeq() - 1 // the queue numbers on from next
			s.c.Log.Error().Uint64("refused_seq", r.GetRefusedSeq()).Uint64("next_seq", r.GetNextSeq()).Str("reason", r.GetReason()).
				Uint64("dropped", s.c.Queue.Dropped()-dropped).Msg("the collector refused a message: queued messages dropped, a full state follows")
		case <-s.c.Queue.Queued():
			if err := flush(); err != nil {
				return answered.Load(), err
			}
		case id := <-scans:
			rep, err := s.c.Agent.Scan(ctx)
			reply := &fwv1.ScanReply{RequestId: id, Report: rep}
			if err != nil {
				reply = &fwv1.ScanReply{RequestId: id, Error: err.Error()}
			}
			if err := send(&fwv1.AgentMessage{Sent: timestamppb.Now(), Body: &fwv1.AgentMessage_ScanReply{ScanReply: reply}}); err != nil {
				return answered.Load(), err
			}
		case req := <-hunts:
			reply := s.c.Agent.Hunt(ctx, req)
			reply.RequestId = req.GetRequestId()
			if err := send(&fwv1.AgentMessage{Sent: timestamppb.Now(), Body: &fwv1.AgentMessage_HuntReply{HuntReply: reply}}); err != nil {
				return answered.Load(), err
			}
		}
	}
}

// sendChunked sends m whole, or, when it is larger than one gRPC message
// may be, as chunks carrying its seq, the last one marked.
func sendChunked(st fwv1.AgentService_ConnectClient, m *fwv1.AgentMessage) error {
	if proto.Size(m) <= limits.ChunkBytes {
		return st.Send(m)
	}
	b, err := proto.Marshal(m)
	if err != nil {
		return fmt.Errorf("encode message #%d: %w", m.GetSeq(), err)
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

// receive reads the collector's messages until the stream ends: acks
// remove messages from the queue, scan and hunt requests go to the
// session's loop,
// bundles and settings go to the agent, a resync empties the queue.
// Nothing a collector sends can stop the agent: an impossible ack or
// resync is logged and changes nothing.
func (s *Stream) receive(st fwv1.AgentService_ConnectClient, send func(*fwv1.AgentMessage) error, scans chan<- string, hunts chan<- *fwv1.HuntRequest, resyncs chan<- *fwv1.Resync, answered *atomic.Bool) error {
	for {
		m, err := st.Recv()
		if err != nil {
			return err
		}
		answered.Store(true)
		switch b := m.Body.(type) {
		case *fwv1.CollectorMessage_Ack:
			if err := s.c.Queue.Ack(b.Ack.Seq); errors.Is(err, outbox.ErrImpossibleAck) {
				s.c.Log.Warn().Err(err).Msg("the collector's ack refused")
			} else if err != nil {
				return errQueue{err}
			}
		case *fwv1.CollectorMessage_Scan:
			select {
			case scans <- b.Scan.RequestId:
			default:
				s.c.Log.Warn().Msg("scan request dropped: too many pending")
			}
		case *fwv1.CollectorMessage_Hunt:
			select {
			case hunts <- b.Hunt:
			default:
				s.c.Log.Warn().Msg("hunt request dropped: too many pending")
			}
		case *fwv1.CollectorMessage_Rules:
			bs := s.c.Agent.ApplyBundle(b.Rules)
			if err := send(&fwv1.AgentMessage{Sent: timestamppb.Now(), Body: &fwv1.AgentMessage_BundleStatus{BundleStatus: bs}}); err != nil {
				return err
			}
		case *fwv1.CollectorMessage_Config:
			s.c.Agent.ApplyConfig(b.Config)
		case *fwv1.CollectorMessage_Resync:
			r := b.Resync
			if r.GetNextSeq() == 0 || r.GetNextSeq() > limits.MaxSeq {
				s.c.Log.Warn().Uint64("next_seq", r.GetNextSeq()).Msg("the collector's resync refused: no such message number")
				continue
			}
			select { // to the session's loop, which numbers what it sends
			case resyncs <- r:
			default:
				s.c.Log.Warn().Msg("resync dropped: one is pending already")
			}
		}
	}
}
