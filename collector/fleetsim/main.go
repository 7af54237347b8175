// Command fleetsim simulates a fleet of farmwatch agents against a real
// collector, to measure what one collector (or several replicas) holds:
//
//	go run ./collector/fleetsim --collector ADDR --ca FILE --enroll-secret-file FILE \
//	    --agents N --duration D --interval D [--processes N] [--churn F] [--format json] \
//	    [--token-file FILE [--scans N] [--scan-via ADDR]] [--identities FILE]
//
// Each simulated agent enrols (the enroll secret in its metadata), holds
// its own TLS connection and Connect stream (its node key in the
// metadata), sends a full state of about --processes processes plus USB,
// displays, network, netid and locale observations (in chunks when large,
// as agents do), then a delta every --interval (±10 %) in which --churn of
// its processes end and as many start, and answers live scans with its
// state and hunts over it as a real agent does (hunt.go). Each message's time from send to the collector's ack (which comes
// after its commit) is measured.
//
// With --token-file (a helpdesk or admin token) it also asks --scans live
// scans of random connected agents, spread over the run (through
// --scan-via when set: another replica), and times `hosts` (ListHosts) at
// the end.
//
// The collector caps connections per address (--max-conns-per-peer,
// default 64): serve it with a value above --agents for a run from one
// address. fleetsim raises its own file descriptor limit to what --agents
// needs, and refuses to start when it cannot.
//
// It prints one summary: connected (at the end), errors, messages_sent,
// messages_acked, ack_p50_ms, ack_p99_ms, scan_p50_ms, scan_p99_ms,
// hunts_answered, hosts_ms and more.
package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/signal"
	"sort"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/farmwatch/farmwatch/internal/agentconn"

	"github.com/farmwatch/farmwatch/credential"
	fwv1 "github.com/farmwatch/farmwatch/proto/farmwatch/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintf(os.Stderr, "fleetsim: %v\n", err)
		os.Exit(2)
	}
}

// config is fleetsim's one configuration, from its flags.
type config struct {
	collector, scanVia, ca, secretFile, tokenFile, identities, format string
	agents, processes, scans                                          int
	duration, interval, ramp                                          time.Duration
	churn                                                             float64
}

func parseFlags(args []string, stderr io.Writer) (config, error) {
	var c config
	fs := flag.NewFlagSet("fleetsim", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&c.collector, "collector", "127.0.0.1:7443", "the collector's address")
	fs.StringVar(&c.ca, "ca", "", "the collector's CA certificate")
	fs.StringVar(&c.secretFile, "enroll-secret-file", "", "the fleet's enroll secret")
	fs.IntVar(&c.agents, "agents", 100, "simulated agents, each with its own connection")
	fs.DurationVar(&c.duration, "duration", time.Minute, "how long to run once every agent has connected")
	fs.DurationVar(&c.interval, "interval", 30*time.Second, "time between each agent's deltas")
	fs.DurationVar(&c.ramp, "ramp", 0, "spread the agents' first connections over this long (default: as fast as the collector takes them)")
	fs.IntVar(&c.processes, "processes", 300, "processes on each simulated host")
	fs.Float64Var(&c.churn, "churn", 0.02, "the fraction of its processes an agent replaces each interval")
	fs.StringVar(&c.format, "format", "text", "text or json")
	fs.StringVar(&c.tokenFile, "token-file", "", "a helpdesk or admin token: ask live scans and time hosts")
	fs.IntVar(&c.scans, "scans", 30, "with --token-file: live scans to ask, spread over the run")
	fs.StringVar(&c.scanVia, "scan-via", "", "with --token-file: ask scans and hosts of this collector (another replica; default --collector)")
	fs.StringVar(&c.identities, "identities", "", "a file that keeps the agents' host ids and keys between runs (created)")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	switch {
	case c.ca == "" || c.secretFile == "":
		return c, errors.New("--ca and --enroll-secret-file are required")
	case c.agents < 1 || c.processes < 0 || c.churn < 0 || c.churn > 1:
		return c, errors.New("--agents must be positive, --processes not negative, --churn from 0 to 1")
	case c.interval < 100*time.Millisecond || c.duration <= 0:
		return c, errors.New("--interval must be at least 100ms and --duration positive")
	case c.format != "text" && c.format != "json":
		return c, fmt.Errorf("--format %q: want text or json", c.format)
	}
	if c.scanVia == "" {
		c.scanVia = c.collector
	}
	return c, nil
}

// sim is one run.
type sim struct {
	config
	secret  string
	tlsCfg  *tls.Config
	churnN  int
	stats   stats
	hunter  hunter
	enrolls chan struct{} // enrolments in progress

	errMu   sync.Mutex
	lastErr map[string]int // the errors met, by message (a few)
}

// dial connects as an agent does (agentconn.DialOptions: the same buffers
// and TLS record sizes, which the collector's memory depends on).
func (s *sim) dial() (*grpc.ClientConn, error) {
	return grpc.NewClient(s.collector, agentconn.DialOptions(credentials.NewTLS(s.tlsCfg))...)
}

func (s *sim) noteError(err error) {
	s.errMu.Lock()
	defer s.errMu.Unlock()
	if len(s.lastErr) < 20 {
		s.lastErr[err.Error()]++
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	c, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	// Each agent holds a connection; the scans and the operator one more.
	need := uint64(c.agents) + 256
	limit, err := raiseFDLimit(need)
	if err != nil {
		return fmt.Errorf("refusing to start: %d agents need %d file descriptors: %w", c.agents, need, err)
	}
	s := &sim{config: c, lastErr: map[string]int{}, enrolls: make(chan struct{}, 4)}
	s.churnN = int(float64(c.processes)*c.churn + 0.5)
	if s.tlsCfg, err = credential.ClientTLS(c.ca); err != nil {
		return err
	}
	if s.secret, err = credential.ReadSecret(c.secretFile); err != nil {
		return err
	}
	ids, err := loadIdentities(c.identities)
	if err != nil {
		return err
	}
	agents := make([]*simAgent, c.agents)
	for i := range agents {
		var id identity
		if i < len(ids) {
			id = ids[i]
		}
		agents[i] = newAgent(s, i, id)
	}
	started := time.Now()
	runCtx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	for i, a := range agents {
		if c.ramp > 0 {
			select {
			case <-time.After(time.Duration(int64(c.ramp) / int64(len(agents)))):
			case <-ctx.Done():
			}
		}
		wg.Go(func() { a.run(runCtx) })
		if i%1000 == 999 && c.format == "text" {
			fmt.Fprintf(stderr, "fleetsim: %d agents started, %d connected\n", i+1, s.stats.connected.Load())
		}
	}
	// Connected: every agent holds its stream and its first state is
	// acknowledged.
	for ctx.Err() == nil && (s.stats.connected.Load() < int64(c.agents) || s.stats.acked.Load() < int64(c.agents)) {
		if time.Since(started) > 30*time.Minute {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	s.stats.connectTime = time.Since(started)
	if c.format == "text" {
		fmt.Fprintf(stderr, "fleetsim: %d agents connected and their full states acknowledged in %s; running %s\n",
			s.stats.connected.Load(), s.stats.connectTime.Round(time.Millisecond), c.duration)
	}
	if err := saveIdentities(c.identities, agents); err != nil {
		fmt.Fprintf(stderr, "fleetsim: identities not kept: %v\n", err)
	}
	s.stats.resetAcks() // the steady state: the first states are not counted
	steady := time.Now()
	var scanWG sync.WaitGroup
	if c.tokenFile != "" && c.scans > 0 {
		scanWG.Go(func() { s.askScans(runCtx, agents) })
	}
	select {
	case <-ctx.Done():
	case <-time.After(c.duration):
	}
	scanWG.Wait()
	if c.tokenFile != "" {
		s.timeHosts(ctx)
	}
	s.stats.steady = time.Since(steady)
	connected := s.stats.connected.Load()
	cancel()
	wg.Wait()
	sum := s.summary(connected, limit)
	if c.format == "json" {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(sum)
	}
	return printText(stdout, sum)
}

// fleetClient is the operator's connection, with its token.
func (s *sim) fleetClient(ctx context.Context) (fwv1.FleetServiceClient, context.Context, func(), error) {
	tok, err := credential.ReadSecret(s.tokenFile)
	if err != nil {
		return nil, nil, nil, err
	}
	cc, err := grpc.NewClient(s.scanVia, grpc.WithTransportCredentials(credentials.NewTLS(s.tlsCfg)),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(1<<30)))
	if err != nil {
		return nil, nil, nil, err
	}
	return fwv1.NewFleetServiceClient(cc), metadata.AppendToOutgoingContext(ctx, credential.MDAuthorization, credential.Bearer(tok)), func() { cc.Close() }, nil
}

// askScans asks live scans of random agents, one at a time, spread over
// the run.
func (s *sim) askScans(ctx context.Context, agents []*simAgent) {
	fc, fctx, done, err := s.fleetClient(ctx)
	if err != nil {
		s.noteError(err)
		return
	}
	defer done()
	gap := s.duration / time.Duration(s.scans+1)
	for range s.scans {
		select {
		case <-ctx.Done():
			return
		case <-time.After(gap):
		}
		a := agents[rand.IntN(len(agents))]
		start := time.Now()
		_, err := fc.ScanHost(fctx, &fwv1.ScanHostRequest{Hostname: a.id.HostID, TimeoutMs: 30000})
		if err != nil {
			s.stats.scanErrors.Add(1)
			s.noteError(fmt.Errorf("scan: %w", err))
			continue
		}
		s.stats.scan(time.Since(start))
	}
}

// timeHosts times one `hosts` (ListHosts) call.
func (s *sim) timeHosts(ctx context.Context) {
	fc, fctx, done, err := s.fleetClient(ctx)
	if err != nil {
		s.noteError(err)
		return
	}
	defer done()
	start := time.Now()
	r, err := fc.ListHosts(fctx, &fwv1.ListHostsRequest{})
	if err != nil {
		s.noteError(fmt.Errorf("hosts: %w", err))
		return
	}
	s.stats.hostsTime = time.Since(start)
	for _, h := range r.GetHosts() {
		s.stats.hostsListed++
		if h.GetOnline() {
			s.stats.hostsOnline++
		}
	}
}

func loadIdentities(path string) ([]identity, error) {
	if path == "" {
		return nil, nil
	}
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []identity
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var id identity
		if err := json.Unmarshal(sc.Bytes(), &id); err != nil {
			return nil, fmt.Errorf("identities %s: %w", path, err)
		}
		out = append(out, id)
	}
	return out, sc.Err()
}

func saveIdentities(path string, agents []*simAgent) error {
	if path == "" {
		return nil
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	w := bufio.NewWriter(f)
	for _, a := range agents {
		b, _ := json.Marshal(a.id)
		w.Write(append(b, '\n'))
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// stats are the run's counters and latencies.
type stats struct {
	connected, enrolled, sent, acked, errors, resyncs, scansAnswered, scanErrors, huntsAnswered atomic.Int64

	mu    sync.Mutex
	acks  []time.Duration
	scans []time.Duration

	connectTime, steady, hostsTime        time.Duration
	hostsListed, hostsOnline              int
	firstAcks                             int64
	firstAckP50, firstAckP99, firstAckMax float64
	ackedSteady                           int64
}

func (s *stats) ack(d time.Duration) {
	s.acked.Add(1)
	s.mu.Lock()
	s.acks = append(s.acks, d)
	s.mu.Unlock()
}

func (s *stats) scan(d time.Duration) {
	s.mu.Lock()
	s.scans = append(s.scans, d)
	s.mu.Unlock()
}

// resetAcks keeps the first states' latencies apart from the steady
// state's.
func (s *stats) resetAcks() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.firstAcks = int64(len(s.acks))
	s.firstAckP50, s.firstAckP99, s.firstAckMax = pct(s.acks, 0.5), pct(s.acks, 0.99), pct(s.acks, 1)
	s.acks = nil
	s.ackedSteady = s.acked.Load()
}

// pct is the q-quantile of ds in milliseconds.
func pct(ds []time.Duration, q float64) float64 {
	if len(ds) == 0 {
		return 0
	}
	c := append([]time.Duration(nil), ds...)
	sort.Slice(c, func(i, j int) bool { return c[i] < c[j] })
	i := int(q*float64(len(c)-1) + 0.5)
	return float64(c[i].Microseconds()) / 1000
}

// summary is what a run prints.
type summary struct {
	Agents           int            `json:"agents"`
	Connected        int64          `json:"connected"`
	Enrolled         int64          `json:"enrolled"`
	Errors           int64          `json:"errors"`
	ErrorSamples     map[string]int `json:"error_samples,omitempty"`
	Resyncs          int64          `json:"resyncs"`
	ConnectSeconds   float64        `json:"connect_s"`
	SteadySeconds    float64        `json:"steady_s"`
	IntervalSeconds  float64        `json:"interval_s"`
	Processes        int            `json:"processes"`
	ChurnPerInterval int            `json:"churn_per_interval"`
	MessagesSent     int64          `json:"messages_sent"`
	MessagesAcked    int64          `json:"messages_acked"`
	FirstStateAcks   int64          `json:"first_state_acks"`
	FirstAckP50      float64        `json:"first_state_ack_p50_ms"`
	FirstAckP99      float64        `json:"first_state_ack_p99_ms"`
	AckSamples       int            `json:"ack_samples"`
	AckP50           float64        `json:"ack_p50_ms"`
	AckP99           float64        `json:"ack_p99_ms"`
	AckMax           float64        `json:"ack_max_ms"`
	Scans            int            `json:"scans"`
	ScanErrors       int64          `json:"scan_errors"`
	ScanP50          float64        `json:"scan_p50_ms"`
	ScanP99          float64        `json:"scan_p99_ms"`
	HuntsAnswered    int64          `json:"hunts_answered"`
	HostsMS          float64        `json:"hosts_ms"`
	HostsListed      int            `json:"hosts_listed"`
	HostsOnline      int            `json:"hosts_online"`
	FDLimit          uint64         `json:"fd_limit"`
}

func (s *sim) summary(connected int64, limit uint64) summary {
	st := &s.stats
	st.mu.Lock()
	defer st.mu.Unlock()
	s.errMu.Lock()
	defer s.errMu.Unlock()
	return summary{
		Agents: s.agents, Connected: connected, Enrolled: st.enrolled.Load(), Errors: st.errors.Load(), ErrorSamples: s.lastErr,
		Resyncs: st.resyncs.Load(), ConnectSeconds: st.connectTime.Seconds(), SteadySeconds: st.steady.Seconds(),
		IntervalSeconds: s.interval.Seconds(), Processes: s.processes, ChurnPerInterval: s.churnN,
		MessagesSent: st.sent.Load(), MessagesAcked: st.acked.Load(),
		FirstStateAcks: st.firstAcks, FirstAckP50: st.firstAckP50, FirstAckP99: st.firstAckP99,
		AckSamples: len(st.acks), AckP50: pct(st.acks, 0.5), AckP99: pct(st.acks, 0.99), AckMax: pct(st.acks, 1),
		Scans: len(st.scans), ScanErrors: st.scanErrors.Load(), ScanP50: pct(st.scans, 0.5), ScanP99: pct(st.scans, 0.99),
		HuntsAnswered: st.huntsAnswered.Load(), HostsMS: float64(st.hostsTime.Microseconds()) / 1000, HostsListed: st.hostsListed, HostsOnline: st.hostsOnline,
		FDLimit: limit,
	}
}

func printText(w io.Writer, s summary) error {
	_, err := fmt.Fprintf(w, `agents %d: connected %d, enrolled %d, errors %d, resyncs %d (connect %.1fs, steady %.1fs)
messages sent %d, acked %d; first states: p50 %.1f ms, p99 %.1f ms
steady ack: p50 %.1f ms, p99 %.1f ms, max %.1f ms (%d samples)
live scans: %d (%d failed), p50 %.1f ms, p99 %.1f ms; hunts answered %d
hosts: %d listed (%d online) in %.1f ms
`, s.Agents, s.Connected, s.Enrolled, s.Errors, s.Resyncs, s.ConnectSeconds, s.SteadySeconds,
		s.MessagesSent, s.MessagesAcked, s.FirstAckP50, s.FirstAckP99, s.AckP50, s.AckP99, s.AckMax, s.AckSamples,
		s.Scans, s.ScanErrors, s.ScanP50, s.ScanP99, s.HuntsAnswered, s.HostsListed, s.HostsOnline, s.HostsMS)
	for e, n := range s.ErrorSamples {
		fmt.Fprintf(w, "  error x%d: %s\n", n, e)
	}
	return err
}
