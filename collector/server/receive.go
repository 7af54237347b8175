package server

import (
	"context"
	"errors"
	"fmt"
	"io"

	fwv1 "github.com/farmwatch/farmwatch/proto/farmwatch/v1"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

// inbound is one agent message for the apply worker, or the refusal of
// one: a sequenced message over the limits is answered with a resync,
// never applied in part.
type inbound struct {
	m       *fwv1.AgentMessage
	seq     uint64
	refused error
}

// joiner joins the chunks of one agent message.
type joiner struct {
	seq  uint64
	b    []byte
	over bool // past the limit: the rest of its chunks are dropped
}

// receive reads the stream until it ends; it closes queue when it does.
// Chunks are joined into the message they carry; scan replies go at once
// to the scan waiting for them; everything else goes, in order, to the
// apply worker.
func (s *Server) receive(ctx context.Context, stream fwv1.AgentService_ConnectServer, hostID string, queue chan<- inbound) error {
	defer close(queue)
	var j *joiner
	put := func(in inbound) bool {
		select {
		case queue <- in:
			return true
		case <-ctx.Done():
			return false
		}
	}
	for {
		m, err := stream.Recv()
		if err != nil {
			if status.Code(err) == codes.Canceled || errors.Is(err, context.Canceled) || errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
		if c := m.GetChunk(); c != nil {
			switch {
			case j == nil:
				j = &joiner{seq: m.GetSeq()}
			case j.seq != m.GetSeq():
				return invalid("connect: a chunk of message #%d inside message #%d", m.GetSeq(), j.seq)
			}
			if !j.over && len(j.b)+len(c.GetData()) > s.limits.MaxMessageBytes {
				j.over, j.b = true, nil
			}
			if !j.over {
				j.b = append(j.b, c.GetData()...)
			}
			if !c.GetLast() {
				continue
			}
			joined, seq := j, j.seq
			j = nil
			if joined.over {
				if !s.refuse(seq, fmt.Errorf("over %d bytes", s.limits.MaxMessageBytes), put) {
					return nil
				}
				continue
			}
			m = &fwv1.AgentMessage{}
			if err := proto.Unmarshal(joined.b, m); err != nil {
				if !s.refuse(seq, fmt.Errorf("its chunks do not make a message: %w", err), put) {
					return nil
				}
				continue
			}
			if m.GetSeq() != seq {
				return invalid("connect: chunks of message #%d carry message #%d", seq, m.GetSeq())
			}
		} else if j != nil {
			return invalid("connect: message #%d inside the chunks of message #%d", m.GetSeq(), j.seq)
		}
		if err := s.limits.CheckAgentMessage(m); err != nil {
			if r := m.GetHuntReply(); r != nil {
				s.metrics.refuse("limits")
				s.deliverHunt(hostID, &fwv1.HuntReply{RequestId: r.GetRequestId(), Error: "the agent's answer is over the collector's limits: " + err.Error()})
				continue
			}
			if r := m.GetScanReply(); r != nil {
				s.metrics.refuse("limits")
				s.deliverScan(&fwv1.ScanReply{RequestId: r.GetRequestId(), Error: "the agent's report is over the collector's limits: " + err.Error()})
				continue
			}
			if !s.refuse(m.GetSeq(), err, put) {
				return nil
			}
			continue
		}
		if r := m.GetScanReply(); r != nil {
			s.metrics.message("scan_reply")
			s.deliverScan(r)
			continue
		}
		if r := m.GetHuntReply(); r != nil {
			s.metrics.message("hunt_reply")
			s.deliverHunt(hostID, r)
			continue
		}
		if !put(inbound{m: m, seq: m.GetSeq()}) {
			return nil
		}
	}
}

// refuse hands the refusal of message seq to the apply worker, which
// answers it with a resync; an unsequenced message (a hello) cannot be
// resent, so its refusal ends the stream.
func (s *Server) refuse(seq uint64, why error, put func(inbound) bool) bool {
	s.metrics.refuse("limits")
	if seq == 0 {
		put(inbound{refused: invalid("connect: message refused: %v", why)})
		return false
	}
	return put(inbound{seq: seq, refused: why})
}
