package server

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/farmwatch/farmwatch/collector/pki"
	"github.com/farmwatch/farmwatch/collector/store"
	"github.com/farmwatch/farmwatch/collector/store/sqlite"
	"github.com/farmwatch/farmwatch/credential"
	fwv1 "github.com/farmwatch/farmwatch/proto/farmwatch/v1"
	"github.com/rs/zerolog"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// The fleet of the benchmarks (the collector benchmarks of make bench): benchAgents simulated
// agents, each its own Connect stream, multiplexed over benchConns shared
// TLS connections (so 1000 agents need a handful of file descriptors, not
// 1000). Every agent enrolls, says Hello and sends a FullState of
// benchFull process observations before the clock runs. The sizes match
// collector/store/sqlite's BenchmarkApplyDeltas and BenchmarkRawInsert, so
// obs/s here can be divided by obs/s there.
const (
	benchAgents = 1000
	benchConns  = 8
	benchFull   = 100
	benchDelta  = 20
)

// benchFleet is a real collector on a loopback TLS socket and its agents.
type benchFleet struct {
	addr   string
	dir    string
	in     *pki.Install
	srv    *Server
	conns  []*grpc.ClientConn
	agents []*benchAgent
	fleet  *grpc.ClientConn // the operator's own connection
}

// benchAgent is one simulated agent: its stream, and a receive loop that
// hands acks to acks and answers scan requests with a small report.
type benchAgent struct {
	i      int
	id     string
	name   string
	stream fwv1.AgentService_ConnectClient
	sendMu sync.Mutex // SendMsg may not be called from two goroutines at once
	seq    uint64     // the last seq sent; only the driving goroutine touches it
	acks   chan uint64
}

func (a *benchAgent) send(m *fwv1.AgentMessage) error {
	a.sendMu.Lock()
	defer a.sendMu.Unlock()
	return a.stream.Send(m)
}

// await waits for the ack of seq (acks are in order on one stream).
func (a *benchAgent) await(seq uint64) error {
	timeout := time.NewTimer(60 * time.Second)
	defer timeout.Stop()
	for {
		select {
		case s, ok := <-a.acks:
			if !ok {
				return fmt.Errorf("agent %d: stream closed before ack %d", a.i, seq)
			}
			if s == seq {
				return nil
			}
			if s > seq {
				return fmt.Errorf("agent %d: ack %d, want %d", a.i, s, seq)
			}
		case <-timeout.C:
			return fmt.Errorf("agent %d: no ack %d within 60s", a.i, seq)
		}
	}
}

// sendAwait sends one sequenced message and waits for its ack.
func (a *benchAgent) sendAwait(m *fwv1.AgentMessage) error {
	a.seq++
	m.Seq = a.seq
	m.Sent = timestamppb.Now()
	if err := a.send(m); err != nil {
		return fmt.Errorf("agent %d: send #%d: %w", a.i, a.seq, err)
	}
	return a.await(a.seq)
}

// recvLoop runs until the stream ends (the fleet's teardown cancels it).
func (a *benchAgent) recvLoop() {
	defer close(a.acks)
	for {
		m, err := a.stream.Recv()
		if err != nil {
			return
		}
		switch b := m.Body.(type) {
		case *fwv1.CollectorMessage_Ack:
			select {
			case a.acks <- b.Ack.Seq:
			case <-a.stream.Context().Done():
				return
			}
		case *fwv1.CollectorMessage_Scan:
			rep := &fwv1.Report{
				Host:         &fwv1.HostInfo{Os: "linux", Hostname: a.name},
				Observations: []*fwv1.Observation{benchProc(a.i, 0, 0), benchProc(a.i, 0, 1)},
				Verdict:      "REMOTE-CONTROLLED? no sign found",
			}
			a.send(&fwv1.AgentMessage{Body: &fwv1.AgentMessage_ScanReply{ScanReply: &fwv1.ScanReply{RequestId: b.Scan.RequestId, Report: rep}}})
		}
	}
}

// benchProc is a process observation of a realistic size (~250 bytes),
// the same as in collector/store/sqlite's benchmarks.
func benchProc(host, round, j int) *fwv1.Observation {
	pid := int32(10000 + round*benchDelta + j)
	name := fmt.Sprintf("worker-%d-%d", round, j)
	exe := "/usr/lib/farmwatch-bench/bin/" + name
	return &fwv1.Observation{
		Key:    fmt.Sprintf("process/%s/%d", name, pid),
		Sensor: "process",
		Kind: &fwv1.Observation_Process{Process: &fwv1.Process{
			Pid: pid, Ppid: 1, Name: name, Exe: exe, ExeName: name,
			Cmdline:    exe + " --config /etc/bench/" + name + ".conf --verbose",
			Args:       []string{exe, "--config", "/etc/bench/" + name + ".conf", "--verbose"},
			Username:   fmt.Sprintf("user%d", host%50),
			StartTime:  timestamppb.New(time.Unix(1_790_000_000+int64(round), 0)),
			ParentName: "systemd",
		}},
	}
}

// benchParallel runs f(i) for i in [0, n) on workers goroutines and returns
// the first error.
func benchParallel(n, workers int, f func(i int) error) error {
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		first error
		next  = make(chan int)
	)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				if err := f(i); err != nil {
					mu.Lock()
					if first == nil {
						first = err
					}
					mu.Unlock()
				}
			}
		}()
	}
	for i := 0; i < n; i++ {
		next <- i
	}
	close(next)
	wg.Wait()
	return first
}

// startBenchFleet serves a collector as server_test.go's start does (real
// TLS on loopback, SQLite file, default limits) and brings benchAgents
// agents up to date with a Hello and a FullState. Everything is torn down
// by b.Cleanup: agents' streams, the connections, the server, the store.
func startBenchFleet(b *testing.B) *benchFleet {
	b.Helper()
	ctx := context.Background()
	dir := b.TempDir()
	in, err := pki.Init(dir, []string{"localhost", "127.0.0.1"}, time.Now())
	if err != nil {
		b.Fatal(err)
	}
	st, err := sqlite.Open(ctx, filepath.Join(dir, "farmwatch.db"))
	if err != nil {
		b.Fatal(err)
	}
	if err := st.PutToken(ctx, store.Token{Hash: pki.Hash(in.AdminToken), Name: "init", Role: store.RoleAdmin, Created: time.Now()}); err != nil {
		b.Fatal(err)
	}
	// benchConns connections carry every agent's stream, many more than
	// a real agent's one or two each, and 32 enrol at once from one
	// address.
	edge := Edge{MaxStreamsPerConn: benchAgents/benchConns + 8, MaxEnrollsPerPeer: 32}
	srv, err := New(Config{Store: st, Log: zerolog.Nop(), EnrollSecret: in.EnrollSecret, Edge: edge})
	if err != nil {
		b.Fatal(err)
	}
	tlsCfg, err := pki.ServerTLS(dir)
	if err != nil {
		b.Fatal(err)
	}
	// WaitForHandlers: Stop returns only when every Connect handler has
	// returned, so the store is not closed under one.
	g := grpc.NewServer(append(srv.GRPCOptions(), grpc.Creds(credentials.NewTLS(tlsCfg)), grpc.WaitForHandlers(true))...)
	srv.Register(g)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	served := make(chan struct{})
	go func() { defer close(served); g.Serve(ln) }()

	f := &benchFleet{addr: ln.Addr().String(), dir: dir, in: in, srv: srv}
	streamCtx, cancelStreams := context.WithCancel(ctx)
	var recvWG sync.WaitGroup
	// Cleanups run last-in first-out; this one is registered first so it
	// runs last, after the agents' and connections' teardown below.
	b.Cleanup(func() {
		cancelStreams()
		recvWG.Wait()
		for _, cc := range f.conns {
			cc.Close()
		}
		if f.fleet != nil {
			f.fleet.Close()
		}
		g.Stop()
		<-served
		st.Close()
	})

	dial := func() *grpc.ClientConn {
		cfg, err := credential.ClientTLS(filepath.Join(dir, pki.CAFile))
		if err != nil {
			b.Fatal(err)
		}
		cfg.ServerName = "localhost"
		cc, err := grpc.NewClient(f.addr, grpc.WithTransportCredentials(credentials.NewTLS(cfg)))
		if err != nil {
			b.Fatal(err)
		}
		return cc
	}
	for range benchConns {
		f.conns = append(f.conns, dial())
	}
	f.fleet = dial()

	f.agents = make([]*benchAgent, benchAgents)
	var mu sync.Mutex
	err = benchParallel(benchAgents, 32, func(i int) error {
		cc := f.conns[i%benchConns]
		name := fmt.Sprintf("bench-%04d", i)
		r, err := fwv1.NewAgentServiceClient(cc).Enroll(enrollCtx(ctx, in.EnrollSecret), &fwv1.EnrollRequest{Host: &fwv1.HostInfo{Os: "linux", Hostname: name}})
		if err != nil {
			return fmt.Errorf("enroll %d: %w", i, err)
		}
		sctx := metadata.AppendToOutgoingContext(streamCtx, credential.MDHost, r.HostId, credential.MDAuthorization, credential.Node(r.NodeKey))
		stream, err := fwv1.NewAgentServiceClient(cc).Connect(sctx)
		if err != nil {
			return fmt.Errorf("connect %d: %w", i, err)
		}
		a := &benchAgent{i: i, id: r.HostId, name: name, stream: stream, acks: make(chan uint64, 16)}
		mu.Lock()
		f.agents[i] = a
		recvWG.Add(1)
		mu.Unlock()
		go func() { defer recvWG.Done(); a.recvLoop() }()
		if err := a.sendAwait(&fwv1.AgentMessage{Body: &fwv1.AgentMessage_Hello{Hello: &fwv1.Hello{HostId: r.HostId, AgentVersion: "bench"}}}); err != nil {
			return err
		}
		full := make([]*fwv1.Observation, benchFull)
		for j := range full {
			full[j] = benchProc(i, -1000-j, 0) // distinct from every delta's keys
		}
		return a.sendAwait(&fwv1.AgentMessage{Body: &fwv1.AgentMessage_Full{Full: &fwv1.FullState{Observations: full}}})
	})
	if err != nil {
		b.Fatal(err)
	}
	return f
}

// BenchmarkIngest1000Agents: one iteration is one round in which every
// agent sends a delta of benchDelta changed process observations at once
// and waits for its ack (sent by the collector after the commit). obs/s is
// the observations of all rounds over the rounds' wall time; ack-p50-ms and
// ack-p99-ms are per delta, from Send to the ack.
func BenchmarkIngest1000Agents(b *testing.B) {
	f := startBenchFleet(b)
	var (
		round int
		obs   int
		lat   []time.Duration
		msgs  = make([]*fwv1.AgentMessage, benchAgents)
	)
	build := func() { // the agents' deltas are ready before they send them
		for i := range msgs {
			up := make([]*fwv1.Observation, benchDelta)
			for j := range up {
				up[j] = benchProc(i, round, j)
			}
			msgs[i] = &fwv1.AgentMessage{Body: &fwv1.AgentMessage_Delta{Delta: &fwv1.Delta{Upserted: up, BaseSeq: f.agents[i].seq}}}
		}
	}
	build()
	raw := newBenchRaw(b, f.agents)
	var rawObs int
	var rawTime time.Duration
	for b.Loop() {
		var (
			wg      sync.WaitGroup
			mu      sync.Mutex
			firstEr error
			l       = make([]time.Duration, benchAgents)
		)
		for i, a := range f.agents {
			wg.Add(1)
			go func() {
				defer wg.Done()
				t0 := time.Now()
				if err := a.sendAwait(msgs[i]); err != nil {
					mu.Lock()
					firstEr = errors.Join(firstEr, err)
					mu.Unlock()
					return
				}
				l[i] = time.Since(t0)
			}()
		}
		wg.Wait()
		if firstEr != nil {
			b.Fatal(firstEr)
		}
		obs += benchAgents * benchDelta
		b.StopTimer()
		lat = append(lat, l...)
		rawTime += raw.round(b, msgs)
		rawObs += benchAgents * benchDelta
		round++
		build()
		b.StartTimer()
	}
	rate, rawRate := float64(obs)/b.Elapsed().Seconds(), float64(rawObs)/rawTime.Seconds()
	b.ReportMetric(rate, "obs/s")
	b.ReportMetric(rawRate, "raw-obs/s")
	b.ReportMetric(rate/rawRate, "ingest/raw")
	benchPercentiles(b, lat, "ack")
	// Every delta is in the store.
	if got, err := f.srv.store.Observations(context.Background(), f.agents[benchAgents-1].id); err != nil || len(got) != benchFull+round*benchDelta {
		b.Fatalf("last agent holds %d observations (%v), want %d", len(got), err, benchFull+round*benchDelta)
	}
}

// benchRaw is the ingest baseline in the same run: the same rows written
// straight into a second SQLite file of the same schema and contents,
// opened with the store's pragmas, one prepared INSERT per row and one
// transaction per agent and round (as collector/store/sqlite's
// BenchmarkRawInsert). Its rounds alternate with the ingest rounds, so that
// both see the same machine.
type benchRaw struct {
	db  *sql.DB
	ids []string
}

func newBenchRaw(b *testing.B, agents []*benchAgent) *benchRaw {
	b.Helper()
	ctx := context.Background()
	path := filepath.Join(b.TempDir(), "raw.db")
	s, err := sqlite.Open(ctx, path) // the schema
	if err != nil {
		b.Fatal(err)
	}
	s.Close()
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(10000)&_pragma=foreign_keys(1)&_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	db.SetMaxOpenConns(1)
	r := &benchRaw{db: db}
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer tx.Rollback()
	for _, a := range agents {
		r.ids = append(r.ids, a.id)
		if _, err := tx.ExecContext(ctx, `INSERT INTO hosts (id, hostname, os, node_key_hash, enrolled_at, last_seq) VALUES (?, ?, 'linux', x'00', 0, 2)`, a.id, a.name); err != nil {
			b.Fatal(err)
		}
		for j := 0; j < benchFull; j++ {
			o := benchProc(a.i, -1000-j, 0)
			body, err := proto.MarshalOptions{Deterministic: true}.Marshal(o)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO observations (host_id, key, kind, body) VALUES (?, ?, 'process', ?)`, a.id, o.GetKey(), body); err != nil {
				b.Fatal(err)
			}
		}
	}
	if err := tx.Commit(); err != nil {
		b.Fatal(err)
	}
	return r
}

// round writes the upserted observations of msgs (agent i's delta at i)
// and returns the time the writes took (encoding is done before).
func (r *benchRaw) round(b *testing.B, msgs []*fwv1.AgentMessage) time.Duration {
	ctx := context.Background()
	type row struct {
		key  string
		body []byte
	}
	rows := make([][]row, len(msgs))
	for i, m := range msgs {
		for _, o := range m.GetDelta().GetUpserted() {
			body, err := proto.MarshalOptions{Deterministic: true}.Marshal(o)
			if err != nil {
				b.Fatal(err)
			}
			rows[i] = append(rows[i], row{o.GetKey(), body})
		}
	}
	t0 := time.Now()
	for i, rs := range rows {
		tx, err := r.db.BeginTx(ctx, nil)
		if err != nil {
			b.Fatal(err)
		}
		st, err := tx.PrepareContext(ctx, `INSERT INTO observations (host_id, key, kind, body) VALUES (?, ?, 'process', ?)`)
		if err != nil {
			b.Fatal(err)
		}
		for _, x := range rs {
			if _, err := st.ExecContext(ctx, r.ids[i], x.key, x.body); err != nil {
				b.Fatal(err)
			}
		}
		st.Close()
		if err := tx.Commit(); err != nil {
			b.Fatal(err)
		}
	}
	return time.Since(t0)
}

// BenchmarkScanRoundTrip1000: with benchAgents agents connected and idle,
// one iteration is benchScans FleetService.ScanHost calls, one after the
// other, each naming a random host by hostname as `farmwatch-collector scan
// HOSTNAME` does, over the operator's own TLS connection with an admin
// token. Each call's latency, from the call to the result, is kept.
func BenchmarkScanRoundTrip1000(b *testing.B) { benchScan(b, false) }

// BenchmarkScanRoundTrip1000Busy is the same while every agent streams
// deltas back to back (each waits for its ack, then sends the next), so
// the scans share the store with the ingest. Before the store read on
// connections of its own and scan replies skipped the agent's apply queue,
// each scan took seconds (p50 6.4 s); this runs only with
// FARMWATCH_BENCH_BUSY=1, for its 1000 streaming agents.
func BenchmarkScanRoundTrip1000Busy(b *testing.B) {
	if os.Getenv("FARMWATCH_BENCH_BUSY") != "1" {
		b.Skip("slow (seconds per scan); set FARMWATCH_BENCH_BUSY=1 to run")
	}
	benchScan(b, true)
}

func benchScan(b *testing.B, busy bool) {
	benchScans := 100
	if busy {
		benchScans = 10 // each waits behind the ingest for the store: slow
	}
	f := startBenchFleet(b)
	fleet := fwv1.NewFleetServiceClient(f.fleet)
	ctx := withToken(context.Background(), f.in.AdminToken)
	rng := rand.New(rand.NewPCG(1, 2))
	var (
		lat     []time.Duration
		stop    = make(chan struct{})
		loadWG  sync.WaitGroup
		loadMu  sync.Mutex
		loadErr error
		deltas  int
	)
	loadStart := time.Now()
	if busy {
		for _, a := range f.agents {
			loadWG.Add(1)
			go func() {
				defer loadWG.Done()
				for r := 0; ; r++ {
					select {
					case <-stop:
						return
					default:
					}
					up := make([]*fwv1.Observation, benchDelta)
					for j := range up {
						up[j] = benchProc(a.i, r, j)
					}
					if err := a.sendAwait(&fwv1.AgentMessage{Body: &fwv1.AgentMessage_Delta{Delta: &fwv1.Delta{Upserted: up}}}); err != nil {
						loadMu.Lock()
						loadErr = errors.Join(loadErr, err)
						loadMu.Unlock()
						return
					}
					loadMu.Lock()
					deltas++
					loadMu.Unlock()
				}
			}()
		}
		time.Sleep(2 * time.Second) // let the load reach its steady state
	}
	stopLoad := func() {
		close(stop)
		loadWG.Wait()
	}
	var scanErr error
	for b.Loop() {
		for range benchScans {
			a := f.agents[rng.IntN(benchAgents)]
			t0 := time.Now()
			resp, err := fleet.ScanHost(ctx, &fwv1.ScanHostRequest{Hostname: a.name, TimeoutMs: 30_000})
			d := time.Since(t0)
			if err == nil && resp.GetReport().GetHost().GetHostname() != a.name {
				err = fmt.Errorf("report of %v", resp.GetReport().GetHost())
			}
			if err != nil {
				scanErr = fmt.Errorf("scan %s: %w", a.name, err)
				break
			}
			lat = append(lat, d)
		}
		if scanErr != nil {
			break
		}
	}
	stopLoad()
	loadTime := time.Since(loadStart)
	if scanErr != nil {
		b.Fatal(scanErr)
	}
	if loadErr != nil {
		b.Fatal(loadErr)
	}
	benchPercentiles(b, lat, "")
	b.ReportMetric(float64(len(lat)), "scans")
	if busy {
		b.ReportMetric(float64(deltas*benchDelta)/loadTime.Seconds(), "bg-obs/s")
	}
}

// benchPercentiles reports p50 and p99 of lat in milliseconds, as
// "p50-ms" and "p99-ms" (prefixed with prefix+"-" when prefix is set).
func benchPercentiles(b *testing.B, lat []time.Duration, prefix string) {
	if len(lat) == 0 {
		return
	}
	slices.Sort(lat)
	pct := func(p float64) float64 {
		i := int(p*float64(len(lat))+0.5) - 1
		i = max(0, min(len(lat)-1, i))
		return float64(lat[i]) / float64(time.Millisecond)
	}
	if prefix != "" {
		prefix += "-"
	}
	b.ReportMetric(pct(0.50), prefix+"p50-ms")
	b.ReportMetric(pct(0.99), prefix+"p99-ms")
}
