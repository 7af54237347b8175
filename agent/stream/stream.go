// Package stream is the agent's connection to a collector. It enrols once
// (keeping the host id and node key in its state directory) and then runs
// two loops:
//
//   - the scanner scans every interval (with jitter), whether or not the
//     collector is reachable, and appends a sequenced message to the
//     on-disk spool (agent/spool): a full state first and after any spool
//     drop, a delta against the last state it queued otherwise;
//   - the sender holds one gRPC stream over TLS; after each connect it
//     sends every unacknowledged spooled message in order, then new ones as
//     they are queued; an ack from the collector (sent only after its
//     commit) removes messages from the spool. It answers scan requests.
//
// So changes made while the collector is down or the agent restarts arrive
// once each: the collector ignores a sequence number it has applied.
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
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/farmwatch/farmwatch/agent/host"
	"github.com/farmwatch/farmwatch/agent/scan"
	"github.com/farmwatch/farmwatch/agent/spool"
	fwv1 "github.com/farmwatch/farmwatch/proto/farmwatch/v1"
	"github.com/farmwatch/farmwatch/rules"
	"github.com/google/uuid"
	"github.com/rs/zerolog"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
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
	// Scanner scans with the agent's own rules and expectations; the
	// collector's rule bundle and settings change them while running.
	Scanner *scan.Scanner
	// LoadRules compiles the agent's rules with a bundle's files on top
	// (none: the agent's own rules alone).
	LoadRules func(bundle []rules.Source) (*rules.Set, error)
	// Open returns the host to scan (live, or a snapshot replayed as a
	// simulated host) and a function to release it.
	Open func() (*host.Host, func(), error)
	// SpoolBytes bounds the on-disk spool; 64 MiB when zero.
	SpoolBytes int64
	// MaxHeapBytes and MaxCPUPercent are the agent's self-limits: a
	// periodic scan is skipped, and logged, while the Go heap is above the
	// first or the agent used more than the second share of one core since
	// the last scan. Zero means no limit.
	MaxHeapBytes  uint64
	MaxCPUPercent float64
	// CPUTime returns the process's CPU time so far (for MaxCPUPercent).
	CPUTime func() time.Duration
}

// Client is one agent's link to its collector.
type Client struct {
	c Config

	mu           sync.Mutex // guards everything below, and the spool
	sp           *spool.Spool
	seq          uint64
	sent         map[string]*fwv1.Observation // the state last queued, by key; nil: queue a full state next
	lastDropped  uint64
	lastFindings []*fwv1.Finding
	wake         chan struct{} // a message was queued

	lastWall time.Time // for the CPU limit; only the scan loop uses these
	lastCPU  time.Duration

	pmu       sync.Mutex   // guards the policy below
	scanner   scan.Scanner // the rules and expectations in use
	ownOrg    *fwv1.OrgPolicy
	bundleVer string // the collector's bundle in use; "" for none
	bundleErr string // why the last bundle was refused
	interval  time.Duration
	rescan    chan struct{} // scan soon: the rules changed
}

// bundleFile is where the agent keeps the collector's rule bundle, so a
// restarted agent (and a helpdesk scan) uses it before it reconnects.
const bundleFile = "rules.bundle"

// StoredBundle returns the rule bundle kept in a state directory; nil when
// there is none.
func StoredBundle(stateDir string) (*fwv1.RuleBundle, error) {
	p := filepath.Join(stateDir, bundleFile)
	b, err := os.ReadFile(p)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("rule bundle %s: %w", p, err)
	}
	var rb fwv1.RuleBundle
	if err := proto.Unmarshal(b, &rb); err != nil {
		return nil, fmt.Errorf("rule bundle %s: %w", p, err)
	}
	return &rb, nil
}

// New makes a Client; its state directory is created 0700.
func New(c Config) (*Client, error) {
	if c.Collector == "" || c.TLS == nil || c.StateDir == "" || c.Scanner == nil || c.Open == nil || c.LoadRules == nil {
		return nil, errors.New("stream: collector, TLS, state directory, scanner, rule loader and host are required")
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
	if c.SpoolBytes <= 0 {
		c.SpoolBytes = 64 << 20
	}
	sp, err := spool.Open(filepath.Join(c.StateDir, "spool"), c.SpoolBytes)
	if err != nil {
		return nil, err
	}
	if last := sp.LastSeq(); last > seq {
		seq = last // never reuse a number the spool holds
	}
	if r := sp.Recovered(); r.Records > 0 || r.StateLost {
		c.Log.Error().Int("records", r.Records).Int64("bytes", r.Bytes).Bool("state_lost", r.StateLost).Msg("spool damaged: the damaged part was cut and counted as dropped")
	}
	cl := &Client{c: c, sp: sp, seq: seq, lastDropped: sp.Dropped(), wake: make(chan struct{}, 1),
		scanner: *c.Scanner, ownOrg: c.Scanner.Org, interval: c.Interval, rescan: make(chan struct{}, 1)}
	// The bundle kept from the last run: used until the collector says
	// otherwise. One that no longer loads (an older agent binary) is
	// reported in the hello, and the collector sends it again.
	if rb, err := StoredBundle(c.StateDir); err != nil {
		cl.bundleErr = err.Error()
		c.Log.Error().Err(err).Msg("stored rule bundle unreadable: using the agent's own rules")
	} else if rb != nil {
		if err := cl.useBundle(rb); err != nil {
			cl.bundleErr = err.Error()
			c.Log.Error().Err(err).Str("version", rb.GetVersion()).Msg("stored rule bundle does not load: using the agent's own rules")
		}
	}
	return cl, nil
}

// useBundle loads a rule bundle and, when it loads, makes it the one in use.
func (cl *Client) useBundle(rb *fwv1.RuleBundle) error {
	srcs, err := rules.BundleSources(rb)
	if err != nil {
		return err
	}
	set, err := cl.c.LoadRules(srcs)
	if err != nil {
		return err
	}
	cl.pmu.Lock()
	cl.scanner.Rules, cl.bundleVer, cl.bundleErr = set, rb.GetVersion(), ""
	cl.pmu.Unlock()
	return nil
}

// applyBundle answers a bundle from the collector: it is loaded, kept on
// disk and used, or refused (the rules in use stay) and the refusal
// reported.
func (cl *Client) applyBundle(rb *fwv1.RuleBundle) *fwv1.BundleStatus {
	refuse := func(err error) *fwv1.BundleStatus {
		cl.pmu.Lock()
		cl.bundleErr = err.Error()
		cur := cl.bundleVer
		cl.pmu.Unlock()
		cl.c.Log.Error().Err(err).Str("version", rb.GetVersion()).Str("keeping", cur).Msg("rule bundle refused")
		return &fwv1.BundleStatus{Version: cur, RefusedVersion: rb.GetVersion(), Error: err.Error()}
	}
	if err := cl.useBundle(rb); err != nil {
		return refuse(err)
	}
	p := filepath.Join(cl.c.StateDir, bundleFile)
	if rb.GetVersion() == "" {
		if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
			cl.c.Log.Warn().Err(err).Msg("withdrawn rule bundle not removed from the state directory")
		}
	} else if b, err := proto.Marshal(rb); err != nil {
		return refuse(err)
	} else if err := writeFileSync(p, b, 0o600); err != nil {
		cl.c.Log.Warn().Err(err).Msg("rule bundle in use but not kept: a restarted agent waits for it again")
	}
	cl.c.Log.Info().Str("version", rb.GetVersion()).Int("files", len(rb.GetFiles())).Msg("rule bundle in use")
	select {
	case cl.rescan <- struct{}{}:
	default:
	}
	return &fwv1.BundleStatus{Version: rb.GetVersion()}
}

// applyConfig takes the collector's settings: its scan interval and
// expectations, when it sets them.
func (cl *Client) applyConfig(c *fwv1.ConfigUpdate) {
	cl.pmu.Lock()
	defer cl.pmu.Unlock()
	if s := c.GetIntervalSeconds(); s > 0 {
		cl.interval = time.Duration(s) * time.Second
	} else {
		cl.interval = cl.c.Interval
	}
	if c.GetOrg() != nil {
		cl.scanner.Org = c.GetOrg()
	} else {
		cl.scanner.Org = cl.ownOrg
	}
}

// Policy is what the agent now uses: its interval and the collector's
// bundle version ("" for none).
func (cl *Client) Policy() (time.Duration, string) {
	cl.pmu.Lock()
	defer cl.pmu.Unlock()
	return cl.interval, cl.bundleVer
}

// Close releases the spool.
func (cl *Client) Close() error {
	cl.mu.Lock()
	defer cl.mu.Unlock()
	return cl.sp.Close()
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
	return cl.nextSeqLocked()
}

func (cl *Client) nextSeqLocked() (uint64, error) {
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
	cl.pmu.Lock()
	sc := cl.scanner
	cl.pmu.Unlock()
	return sc.Scan(ctx, h), nil
}

// Run scans and streams until ctx ends. It returns only then, or when the
// spool fails (the agent cannot keep its promise not to lose data).
func (cl *Client) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	scanErr := make(chan error, 1)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		scanErr <- cl.scanLoop(ctx)
	}()
	defer wg.Wait()
	backoff := time.Second
	for {
		connected, err := cl.session(ctx)
		if connected {
			backoff = time.Second // the collector was there: retry soon
		}
		select {
		case err := <-scanErr:
			return err
		default:
		}
		if ctx.Err() != nil {
			return nil
		}
		if status.Code(err) == codes.Unauthenticated && !connected {
			// The collector does not know this agent's node key (its store
			// was replaced, or the host was removed): enrol again, as the
			// same host id.
			if rmErr := os.Remove(filepath.Join(cl.c.StateDir, "node.key")); rmErr == nil {
				cl.c.Log.Warn().Err(err).Msg("the collector refused this agent's node key: enrolling again")
			}
		}
		cl.c.Log.Warn().Err(err).Dur("retry_in", backoff).Msg("collector connection lost")
		select {
		case <-ctx.Done():
			return nil
		case err := <-scanErr:
			return err
		case <-time.After(backoff + time.Duration(rand.Int64N(int64(backoff/2+1)))):
		}
		if backoff *= 2; backoff > time.Minute {
			backoff = time.Minute
		}
	}
}

// scanLoop queues a message after every scan until ctx ends.
func (cl *Client) scanLoop(ctx context.Context) error {
	tick := time.NewTimer(0)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		case <-cl.rescan:
			tick.Stop() // since Go 1.23 no stale tick is left to drain
		}
		interval, _ := cl.Policy()
		tick.Reset(jitter(interval))
		if why := cl.overLimit(); why != "" {
			cl.c.Log.Warn().Str("reason", why).Msg("scan skipped: over the agent's resource limit")
			continue
		}
		rep, err := cl.scanOnce(ctx)
		if err != nil {
			cl.c.Log.Warn().Err(err).Msg("scan failed")
			continue
		}
		if err := cl.enqueue(rep); err != nil {
			return err
		}
		// A scan's garbage is most of the agent's memory; between scans an
		// idle agent gives it back (issue #5: idle RSS is a goal).
		debug.FreeOSMemory()
	}
}

// overLimit says why the agent should not scan now, or "".
func (cl *Client) overLimit() string {
	if cl.c.MaxHeapBytes > 0 {
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		if ms.HeapAlloc > cl.c.MaxHeapBytes {
			return fmt.Sprintf("heap %d MiB over the limit of %d MiB", ms.HeapAlloc>>20, cl.c.MaxHeapBytes>>20)
		}
	}
	if cl.c.MaxCPUPercent > 0 && cl.c.CPUTime != nil {
		now, cpu := time.Now(), cl.c.CPUTime()
		defer func() { cl.lastWall, cl.lastCPU = now, cpu }()
		if !cl.lastWall.IsZero() {
			if wall := now.Sub(cl.lastWall); wall > 0 {
				if pct := 100 * float64(cpu-cl.lastCPU) / float64(wall); pct > cl.c.MaxCPUPercent {
					return fmt.Sprintf("%.1f%% of a core since the last scan, over the limit of %.1f%%", pct, cl.c.MaxCPUPercent)
				}
			}
		}
	}
	return ""
}

// enqueue turns a scan into a sequenced message on the spool: a full state
// when nothing was queued yet or the spool dropped messages since, a delta
// otherwise (nothing when nothing changed).
func (cl *Client) enqueue(rep *fwv1.Report) error {
	cl.mu.Lock()
	defer cl.mu.Unlock()
	dropped := cl.sp.Dropped()
	var m *fwv1.AgentMessage
	if cl.sent == nil || dropped != cl.lastDropped {
		m = &fwv1.AgentMessage{Body: &fwv1.AgentMessage_Full{Full: &fwv1.FullState{
			Observations: rep.Observations, Findings: rep.Findings, Sensors: rep.Sensors, SpoolDropped: dropped}}}
		cl.rememberLocked(rep.Observations)
	} else {
		d := cl.deltaLocked(rep)
		if len(d.Upserted) == 0 && len(d.Removed) == 0 && sameFindings(d.Findings, cl.lastFindings) {
			return nil
		}
		d.SpoolDropped = dropped
		m = &fwv1.AgentMessage{Body: &fwv1.AgentMessage_Delta{Delta: d}}
	}
	cl.lastFindings = rep.Findings
	cl.lastDropped = dropped
	seq, err := cl.nextSeqLocked()
	if err != nil {
		return err
	}
	m.Seq, m.Sent = seq, timestamppb.Now()
	b, err := proto.Marshal(m)
	if err != nil {
		return fmt.Errorf("spool: encode #%d: %w", seq, err)
	}
	if err := cl.sp.Append(seq, b); err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	// Messages a full state's append dropped to make room came before it,
	// and it supersedes them: only later drops call for the next full
	// state (otherwise a full spool would queue a full state at every scan
	// while the collector is away). A delta's drops may have taken its
	// base, so they do call for one.
	if m.GetFull() != nil {
		cl.lastDropped = cl.sp.Dropped()
	}
	select {
	case cl.wake <- struct{}{}:
	default:
	}
	return nil
}

func sameFindings(a, b []*fwv1.Finding) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !proto.Equal(a[i], b[i]) {
			return false
		}
	}
	return true
}

// pendingAfter returns the spooled messages with a sequence above seq.
func (cl *Client) pendingAfter(seq uint64) ([]*fwv1.AgentMessage, error) {
	cl.mu.Lock()
	recs, err := cl.sp.Pending()
	cl.mu.Unlock()
	if err != nil {
		return nil, fmt.Errorf("spool: %w", err)
	}
	var out []*fwv1.AgentMessage
	for _, r := range recs {
		if r.Seq <= seq {
			continue
		}
		m := &fwv1.AgentMessage{}
		if err := proto.Unmarshal(r.Payload, m); err != nil {
			return nil, fmt.Errorf("spool: record #%d: %w", r.Seq, err)
		}
		out = append(out, m)
	}
	return out, nil
}

// session is one connection to the collector; it says whether the
// collector took the hello.
func (cl *Client) session(ctx context.Context) (bool, error) {
	rep, err := cl.scanOnce(ctx) // the host facts for enrollment and hello
	if err != nil {
		return false, err
	}
	cc, err := cl.dial()
	if err != nil {
		return false, err
	}
	defer cc.Close()
	id, key, err := cl.identity(ctx, cc, rep.Host)
	if err != nil {
		return false, err
	}
	sctx, cancel := context.WithCancel(metadata.AppendToOutgoingContext(ctx, "x-farmwatch-host", id, "authorization", "Node "+key))
	defer cancel()
	st, err := fwv1.NewAgentServiceClient(cc).Connect(sctx)
	if err != nil {
		return false, err
	}
	var sendMu sync.Mutex
	send := func(m *fwv1.AgentMessage) error {
		sendMu.Lock()
		defer sendMu.Unlock()
		return st.Send(m)
	}
	cl.mu.Lock()
	dropped := cl.sp.Dropped()
	cl.mu.Unlock()
	cl.pmu.Lock()
	hello := &fwv1.Hello{HostId: id, Host: rep.Host, AgentVersion: cl.c.Version, SpoolDropped: dropped,
		RulesVersion: cl.bundleVer, RulesError: cl.bundleErr, Org: cl.ownOrg}
	cl.pmu.Unlock()
	// The hello is not sequenced: every sequenced message goes through the
	// spool, in order.
	if err := send(&fwv1.AgentMessage{Sent: timestamppb.Now(), Body: &fwv1.AgentMessage_Hello{Hello: hello}}); err != nil {
		return false, err
	}
	cl.c.Log.Info().Str("host_id", id).Msg("connected")

	var answered atomic.Bool // the collector sent something: it took the hello
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
			answered.Store(true)
			switch b := m.Body.(type) {
			case *fwv1.CollectorMessage_Ack:
				cl.mu.Lock()
				err := cl.sp.Ack(b.Ack.Seq)
				cl.mu.Unlock()
				if err != nil {
					recvErr <- fmt.Errorf("spool: %w", err)
					return
				}
			case *fwv1.CollectorMessage_Scan:
				select {
				case scans <- b.Scan.RequestId:
				default:
					cl.c.Log.Warn().Msg("scan request dropped: too many pending")
				}
			case *fwv1.CollectorMessage_Rules:
				st := cl.applyBundle(b.Rules)
				if err := send(&fwv1.AgentMessage{Sent: timestamppb.Now(), Body: &fwv1.AgentMessage_BundleStatus{BundleStatus: st}}); err != nil {
					recvErr <- err
					return
				}
			case *fwv1.CollectorMessage_Config:
				cl.applyConfig(b.Config)
			}
		}
	}()
	defer func() { cancel(); wg.Wait() }()
	var sentSeq uint64
	flush := func() error {
		ms, err := cl.pendingAfter(sentSeq)
		if err != nil {
			return err
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
		case <-cl.wake:
			if err := flush(); err != nil {
				return answered.Load(), err
			}
		case id := <-scans:
			rep, err := cl.scanOnce(ctx)
			reply := &fwv1.ScanReply{RequestId: id, Report: rep}
			if err != nil {
				reply = &fwv1.ScanReply{RequestId: id, Error: err.Error()}
			}
			if err := send(&fwv1.AgentMessage{Sent: timestamppb.Now(), Body: &fwv1.AgentMessage_ScanReply{ScanReply: reply}}); err != nil {
				return answered.Load(), err
			}
		}
	}
}

// jitter spreads periodic scans over ±10% of the interval.
func jitter(d time.Duration) time.Duration {
	return d - d/10 + time.Duration(rand.Int64N(int64(d/5)+1))
}

func (cl *Client) rememberLocked(obs []*fwv1.Observation) {
	m := make(map[string]*fwv1.Observation, len(obs))
	for _, o := range obs {
		m[o.Key] = o
	}
	cl.sent = m
}

// deltaLocked is what changed since the state last queued.
func (cl *Client) deltaLocked(rep *fwv1.Report) *fwv1.Delta {
	prev := cl.sent
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
	cl.rememberLocked(rep.Observations)
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
