// Package stream is the agent's connection to a collector: it enrols once
// (keeping the host id and node key in its state directory), then holds one
// gRPC stream over TLS on which it sends a full state after each connect and
// deltas after each scan, and answers the collector's scan requests.
//
// Sequence numbers are persisted in the state directory, so a restarted
// agent never reuses one (the collector ignores a number it has applied).
// What is not acknowledged when a stream breaks is covered by the full
// state that opens the next stream. The on-disk spool of unacknowledged
// messages (issue #5) is not built yet.
package stream

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/farmwatch/farmwatch/agent/host"
	"github.com/farmwatch/farmwatch/agent/scan"
	fwv1 "github.com/farmwatch/farmwatch/proto/farmwatch/v1"
	"github.com/google/uuid"
	"github.com/rs/zerolog"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// Config is what a Client needs.
type Config struct {
	Collector    string
	TLS          *tls.Config
	EnrollSecret string
	StateDir     string
	Interval     time.Duration
	Version      string
	Log          zerolog.Logger
	Scanner      *scan.Scanner
	// Open returns the host to scan (live, or a snapshot replayed as a
	// simulated host) and a function to release it.
	Open func() (*host.Host, func(), error)
}

// Client is one agent's link to its collector.
type Client struct {
	c Config

	mu   sync.Mutex
	seq  uint64
	sent map[string]*fwv1.Observation // the state the collector was last sent, by key
}

// New makes a Client; its state directory is created 0700.
func New(c Config) (*Client, error) {
	if c.Collector == "" || c.TLS == nil || c.StateDir == "" || c.Scanner == nil || c.Open == nil {
		return nil, errors.New("stream: collector, TLS, state directory, scanner and host are required")
	}
	if c.Interval <= 0 {
		c.Interval = time.Minute
	}
	if err := os.MkdirAll(c.StateDir, 0o700); err != nil {
		return nil, fmt.Errorf("state %s: %w", c.StateDir, err)
	}
	seq, err := readSeq(c.StateDir)
	if err != nil {
		return nil, err
	}
	return &Client{c: c, seq: seq}, nil
}

// readSeq reads the last sequence number used; 0 when there is none yet.
func readSeq(dir string) (uint64, error) {
	b, err := os.ReadFile(filepath.Join(dir, "seq"))
	if errors.Is(err, os.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("state %s: %w", dir, err)
	}
	n, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("state %s: seq: %w", dir, err)
	}
	return n, nil
}

// nextSeq returns the next sequence number, persisted before it is used.
func (cl *Client) nextSeq() (uint64, error) {
	cl.mu.Lock()
	defer cl.mu.Unlock()
	cl.seq++
	if err := writeFileSync(filepath.Join(cl.c.StateDir, "seq"), []byte(strconv.FormatUint(cl.seq, 10)+"\n"), 0o600); err != nil {
		return 0, err
	}
	return cl.seq, nil
}

func writeFileSync(p string, b []byte, mode os.FileMode) error {
	tmp := p + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, mode)
	if err != nil {
		return fmt.Errorf("write %s: %w", p, err)
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", p, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", p, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write %s: %w", p, err)
	}
	return os.Rename(tmp, p)
}

func (cl *Client) dial() (*grpc.ClientConn, error) {
	return grpc.NewClient(cl.c.Collector, grpc.WithTransportCredentials(credentials.NewTLS(cl.c.TLS)))
}

// identity returns the host id and node key, enrolling first when the
// state directory has none.
func (cl *Client) identity(ctx context.Context, cc *grpc.ClientConn, hi *fwv1.HostInfo) (string, string, error) {
	idFile, keyFile := filepath.Join(cl.c.StateDir, "host-id"), filepath.Join(cl.c.StateDir, "node.key")
	id, _ := os.ReadFile(idFile)
	key, _ := os.ReadFile(keyFile)
	if len(id) > 0 && len(key) > 0 {
		return strings.TrimSpace(string(id)), strings.TrimSpace(string(key)), nil
	}
	hostID := strings.TrimSpace(string(id))
	if hostID == "" {
		hostID = uuid.NewString()
		if err := writeFileSync(idFile, []byte(hostID+"\n"), 0o600); err != nil {
			return "", "", err
		}
	}
	r, err := fwv1.NewAgentServiceClient(cc).Enroll(ctx, &fwv1.EnrollRequest{EnrollSecret: cl.c.EnrollSecret, Host: hi, HostId: hostID})
	if err != nil {
		return "", "", fmt.Errorf("enroll: %w", err)
	}
	if err := writeFileSync(keyFile, []byte(r.NodeKey+"\n"), 0o600); err != nil {
		return "", "", err
	}
	cl.c.Log.Info().Str("host_id", r.HostId).Msg("enrolled")
	return r.HostId, r.NodeKey, nil
}

func (cl *Client) scanOnce(ctx context.Context) (*fwv1.Report, error) {
	h, release, err := cl.c.Open()
	if err != nil {
		return nil, err
	}
	defer release()
	return cl.c.Scanner.Scan(ctx, h), nil
}

// Run keeps the agent connected until ctx ends, reconnecting with backoff.
func (cl *Client) Run(ctx context.Context) error {
	backoff := time.Second
	for {
		err := cl.session(ctx)
		if ctx.Err() != nil {
			return nil
		}
		cl.c.Log.Warn().Err(err).Dur("retry_in", backoff).Msg("collector connection lost")
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(backoff + time.Duration(rand.Int64N(int64(backoff/2+1)))):
		}
		if backoff *= 2; backoff > time.Minute {
			backoff = time.Minute
		}
	}
}

func (cl *Client) session(ctx context.Context) error {
	rep, err := cl.scanOnce(ctx)
	if err != nil {
		return err
	}
	cc, err := cl.dial()
	if err != nil {
		return err
	}
	defer cc.Close()
	id, key, err := cl.identity(ctx, cc, rep.Host)
	if err != nil {
		return err
	}
	sctx, cancel := context.WithCancel(metadata.AppendToOutgoingContext(ctx, "x-farmwatch-host", id, "authorization", "Node "+key))
	defer cancel()
	st, err := fwv1.NewAgentServiceClient(cc).Connect(sctx)
	if err != nil {
		return err
	}
	var sendMu sync.Mutex
	send := func(m *fwv1.AgentMessage) error {
		sendMu.Lock()
		defer sendMu.Unlock()
		m.Sent = timestamppb.Now()
		return st.Send(m)
	}
	seqd := func(m *fwv1.AgentMessage) error {
		seq, err := cl.nextSeq()
		if err != nil {
			return err
		}
		m.Seq = seq
		return send(m)
	}
	if err := seqd(&fwv1.AgentMessage{Body: &fwv1.AgentMessage_Hello{Hello: &fwv1.Hello{HostId: id, Host: rep.Host, AgentVersion: cl.c.Version}}}); err != nil {
		return err
	}
	if err := seqd(&fwv1.AgentMessage{Body: &fwv1.AgentMessage_Full{Full: &fwv1.FullState{Observations: rep.Observations, Findings: rep.Findings, Sensors: rep.Sensors}}}); err != nil {
		return err
	}
	cl.remember(rep.Observations)
	cl.c.Log.Info().Str("host_id", id).Int("observations", len(rep.Observations)).Msg("connected; full state sent")

	recvErr := make(chan error, 1)
	scans := make(chan string, 8)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // the only receiver
		defer wg.Done()
		for {
			m, err := st.Recv()
			if err != nil {
				recvErr <- err
				return
			}
			if q, ok := m.Body.(*fwv1.CollectorMessage_Scan); ok {
				select {
				case scans <- q.Scan.RequestId:
				default:
					cl.c.Log.Warn().Msg("scan request dropped: too many pending")
				}
			}
		}
	}()
	defer func() { cancel(); wg.Wait() }()
	tick := time.NewTimer(jitter(cl.c.Interval))
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case err := <-recvErr:
			return err
		case id := <-scans:
			rep, err := cl.scanOnce(ctx)
			reply := &fwv1.ScanReply{RequestId: id, Report: rep}
			if err != nil {
				reply = &fwv1.ScanReply{RequestId: id, Error: err.Error()}
			}
			if err := send(&fwv1.AgentMessage{Body: &fwv1.AgentMessage_ScanReply{ScanReply: reply}}); err != nil {
				return err
			}
		case <-tick.C:
			tick.Reset(jitter(cl.c.Interval))
			rep, err := cl.scanOnce(ctx)
			if err != nil {
				cl.c.Log.Warn().Err(err).Msg("scan failed")
				continue
			}
			if err := seqd(&fwv1.AgentMessage{Body: &fwv1.AgentMessage_Delta{Delta: cl.delta(rep)}}); err != nil {
				return err
			}
		}
	}
}

// jitter spreads periodic scans over ±10% of the interval.
func jitter(d time.Duration) time.Duration {
	return d - d/10 + time.Duration(rand.Int64N(int64(d/5)+1))
}

func (cl *Client) remember(obs []*fwv1.Observation) {
	m := make(map[string]*fwv1.Observation, len(obs))
	for _, o := range obs {
		m[o.Key] = o
	}
	cl.mu.Lock()
	cl.sent = m
	cl.mu.Unlock()
}

// delta is what changed since the state last sent.
func (cl *Client) delta(rep *fwv1.Report) *fwv1.Delta {
	cl.mu.Lock()
	prev := cl.sent
	cl.mu.Unlock()
	d := &fwv1.Delta{Findings: rep.Findings, Sensors: rep.Sensors}
	now := make(map[string]bool, len(rep.Observations))
	for _, o := range rep.Observations {
		now[o.Key] = true
		if old, ok := prev[o.Key]; !ok || !proto.Equal(old, o) {
			d.Upserted = append(d.Upserted, o)
		}
	}
	for k := range prev {
		if !now[k] {
			d.Removed = append(d.Removed, k)
		}
	}
	cl.remember(rep.Observations)
	return d
}

// ClientTLS trusts the CA in caFile, and nothing else, for the collector.
func ClientTLS(caFile string) (*tls.Config, error) {
	b, err := os.ReadFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("ca %s: %w", caFile, err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		return nil, fmt.Errorf("ca %s: no PEM certificate in it", caFile)
	}
	return &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}, nil
}

// ReadSecret reads a one-line secret file.
func ReadSecret(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("read %s: %w", path, err)
	}
	s := strings.TrimSpace(string(b))
	if s == "" {
		return "", fmt.Errorf("read %s: empty", path)
	}
	return s, nil
}
