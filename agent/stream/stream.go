// Package stream is the agent's transport to its collector, and only that:
// it enrols once (keeping the host id and node key in the state
// directory), holds one gRPC stream at a time, sends a hello, then every
// queued message in order, removes what the collector acknowledges (which
// it does only after its commit), and hands the collector's requests to the
// agent: scan now, a rule bundle, settings. When the stream breaks it
// reconnects with backoff and resends whatever is still unacknowledged, so
// every message arrives once (the collector ignores a sequence number it
// has applied).
//
// What to send and when is not decided here: the agent (agent/resident)
// scans on its schedule and puts each scan into the outbox (agent/outbox),
// which this package drains.
package stream

import (
	"context"
	"crypto/tls"
	"errors"
	"math/rand/v2"
	"os"
	"time"

	"github.com/farmwatch/farmwatch/internal/agentconn"

	fwv1 "github.com/farmwatch/farmwatch/proto/farmwatch/v1"
	"github.com/rs/zerolog"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/status"
)

// Agent is what the stream asks of the agent it carries.
type Agent interface {
	// Hello says what the agent is and runs: the host facts, its
	// version, the rule bundle in use (or why the last was refused), its
	// own expectations. The stream fills in the host id and the spool's
	// drop count.
	Hello(ctx context.Context) (*fwv1.Hello, error)
	// Scan scans now, for the collector's scan request.
	Scan(ctx context.Context) (*fwv1.Report, error)
	// ApplyBundle takes the collector's rule bundle and says whether it
	// is in use.
	ApplyBundle(*fwv1.RuleBundle) *fwv1.BundleStatus
	// ApplyConfig takes the collector's settings.
	ApplyConfig(*fwv1.ConfigUpdate)
	// Hunt scans now and answers a fleet hunt with what matches its
	// filter.
	Hunt(ctx context.Context, req *fwv1.HuntRequest) *fwv1.HuntReply
}

// Queue is the agent's messages to deliver, in sequence (agent/outbox).
type Queue interface {
	// After returns the queued messages with a sequence above seq.
	After(seq uint64) ([]*fwv1.AgentMessage, error)
	// Ack removes every message up to and including seq. An ack it
	// refuses (of a number never used) is an error wrapping
	// outbox.ErrImpossibleAck; any other error is the queue's failure.
	Ack(seq uint64) error
	// Resync drops everything queued (counted as dropped) and goes on
	// numbering at next, with a full state.
	Resync(next uint64) error
	// Dropped is how many messages the queue ever had to drop.
	Dropped() uint64
	// LastSeq is the last sequence number used.
	LastSeq() uint64
	// Queued is signalled when a message was queued.
	Queued() <-chan struct{}
}

// Dialer opens a client connection to the collector.
type Dialer func() (*grpc.ClientConn, error)

// TLS dials the collector at addr over TLS.
func TLS(addr string, cfg *tls.Config) Dialer {
	return func() (*grpc.ClientConn, error) {
		return grpc.NewClient(addr, agentconn.DialOptions(credentials.NewTLS(cfg))...)
	}
}

// Config is what a Stream needs.
type Config struct {
	Dial         Dialer
	EnrollSecret string
	StateDir     string // host-id and node.key
	Agent        Agent
	Queue        Queue
	Log          zerolog.Logger
	// MinBackoff and MaxBackoff bound the wait before a reconnect; 1 s
	// and 1 min when zero.
	MinBackoff, MaxBackoff time.Duration
}

// Stream is one agent's link to its collector.
type Stream struct {
	c Config
	// Used only by Run's goroutine.
	reenrol       bool // the collector refused the node key: enrol again
	pendingLogged bool // the wait for an admin's approval was logged
}

// New makes a Stream; its state directory is created 0700.
func New(c Config) (*Stream, error) {
	if c.Dial == nil || c.StateDir == "" || c.Agent == nil || c.Queue == nil {
		return nil, errors.New("stream: a dialer, a state directory, an agent and a queue are required")
	}
	if c.MinBackoff <= 0 {
		c.MinBackoff = time.Second
	}
	if c.MaxBackoff < c.MinBackoff {
		c.MaxBackoff = max(time.Minute, c.MinBackoff)
	}
	if err := os.MkdirAll(c.StateDir, 0o700); err != nil {
		return nil, err
	}
	return &Stream{c: c}, nil
}

// errQueue marks a failure of the queue: the agent can no longer keep its
// promise not to lose data, so Run returns it.
type errQueue struct{ error }

func (e errQueue) Unwrap() error { return e.error }

// Run holds a session with the collector until ctx ends, reconnecting with
// backoff. It returns nil when ctx ends, or the queue's failure.
func (s *Stream) Run(ctx context.Context) error {
	backoff := s.c.MinBackoff
	for {
		connected, err := s.session(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if qe := (errQueue{}); errors.As(err, &qe) {
			return qe.error
		}
		if connected {
			backoff = s.c.MinBackoff // the collector was there: retry soon
		}
		if status.Code(err) == codes.Unauthenticated && !connected && !s.reenrol {
			// The collector does not know this agent's node key (its store
			// was replaced, or the host was reset): enrol again, as the same
			// host id, presenting the key.
			s.reenrol = true
			s.c.Log.Warn().Err(err).Msg("the collector refused this agent's node key: enrolling again")
		}
		if !errors.Is(err, errPending) {
			s.c.Log.Warn().Err(err).Dur("retry_in", backoff).Msg("collector connection lost")
		}
		t := time.NewTimer(backoff + time.Duration(rand.Int64N(int64(backoff/2+1))))
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
		backoff = min(2*backoff, s.c.MaxBackoff)
	}
}
