package replica

import (
	"context"
	"fmt"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/farmwatch/farmwatch/collector/server"
	"github.com/farmwatch/farmwatch/collector/store/postgres"
	"github.com/farmwatch/farmwatch/internal/pgtest"
	fwv1 "github.com/farmwatch/farmwatch/proto/farmwatch/v1"
	"github.com/rs/zerolog"
	"google.golang.org/grpc/codes"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// fakeServer holds the hosts it is told to, and answers their scans with
// a report of reportObs processes.
type fakeServer struct {
	mu      sync.Mutex
	held    map[string]bool
	dropped []string
	// Hunts (hunt_test.go): how many were put here, the hosts asked, how
	// many matches each answer carries, and whether to answer at all.
	hunts, asked int
	matches      int
	silent       bool
}

const reportObs = 300

func (f *fakeServer) ScanLocal(_ context.Context, hostID string, _ time.Duration) (*fwv1.Report, error) {
	f.mu.Lock()
	ok := f.held[hostID]
	f.mu.Unlock()
	if !ok {
		return nil, &server.Error{Code: codes.Unavailable, Msg: "scan: host " + hostID + " is not connected"}
	}
	rep := &fwv1.Report{Host: &fwv1.HostInfo{Hostname: hostID}}
	for i := range reportObs {
		rep.Observations = append(rep.Observations, &fwv1.Observation{Key: fmt.Sprint("process/", i),
			Kind: &fwv1.Observation_Process{Process: &fwv1.Process{Pid: int32(i), Name: "proc", Exe: "/usr/bin/proc", Cmdline: "/usr/bin/proc --flag"}}})
	}
	return rep, nil
}

func (f *fakeServer) DropSession(hostID string, reset bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.held, hostID)
	f.dropped = append(f.dropped, fmt.Sprint(hostID, reset))
}

type node struct {
	rep    *Replica
	srv    *fakeServer
	cancel context.CancelFunc
	done   chan struct{}
	leads  *atomic.Int32 // replicas running the fleet's jobs now
	led    atomic.Bool   // this one has run them
	policy atomic.Value  // the last policy version it was given
}

func start(t testing.TB, dsn string, leads *atomic.Int32) *node {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	db, err := postgres.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	n := &node{rep: New(db.Pool(), "test", zerolog.Nop()), srv: &fakeServer{held: map[string]bool{}}, cancel: cancel, done: make(chan struct{}), leads: leads}
	go func() {
		defer close(n.done)
		defer db.Close()
		n.rep.Run(ctx, n.srv, Jobs{
			Lead: func(ctx context.Context) {
				if leads.Add(1) > 1 {
					t.Errorf("two replicas run the fleet's jobs at once")
				}
				n.led.Store(true)
				<-ctx.Done()
				leads.Add(-1)
			},
			Policy: func(p FleetPolicy) { n.policy.Store(p.Bundle.GetVersion() + string(p.Files)) },
		})
	}()
	t.Cleanup(n.stop)
	return n
}

func (n *node) stop() {
	n.cancel()
	<-n.done
}

func (n *node) hold(hostID string) {
	n.srv.mu.Lock()
	n.srv.held[hostID] = true
	n.srv.mu.Unlock()
	n.rep.Attached(hostID)
}

func eventually(t testing.TB, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("%s never happened", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Two replicas: a host held by one is online for the other and scanned
// through it; when the other takes the host over, the first is told to let
// go; a published policy reaches both; the fleet's jobs run on one at a
// time, and move when it stops.
func TestReplicas(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.DSN(t)
	var leads atomic.Int32
	a, b := start(t, dsn, &leads), start(t, dsn, &leads)
	a.hold("h1")
	eventually(t, "h1 online at b", func() bool { on, err := b.rep.Online(ctx, nil); return err == nil && on["h1"] })
	if on, _ := b.rep.Online(ctx, []string{"h2"}); on["h1"] || on["h2"] {
		t.Fatalf("online among [h2]: %v", on)
	}
	rep, err := b.rep.Scan(ctx, "h1", 5*time.Second)
	if err != nil || len(rep.GetObservations()) != reportObs || rep.GetHost().GetHostname() != "h1" {
		t.Fatalf("scan through b: %d observations, %v", len(rep.GetObservations()), err)
	}
	if _, err := b.rep.Scan(ctx, "nobody", time.Second); err == nil {
		t.Fatal("a scan of a host nobody holds succeeded")
	} else if e, ok := err.(*server.Error); !ok || e.Code != codes.Unavailable {
		t.Fatalf("a scan of a host nobody holds: %v", err)
	}
	// The agent reconnects to b: a lets go of its stream.
	b.hold("h1")
	eventually(t, "a told to let go", func() bool {
		a.srv.mu.Lock()
		defer a.srv.mu.Unlock()
		return len(a.srv.dropped) == 1 && a.srv.dropped[0] == "h1false"
	})
	// A reset asked of a reaches b.
	a.rep.Reset(ctx, "h1")
	eventually(t, "b told of the reset", func() bool {
		b.srv.mu.Lock()
		defer b.srv.mu.Unlock()
		return len(b.srv.dropped) == 1 && b.srv.dropped[0] == "h1true"
	})
	// A policy published by one reaches both.
	if err := a.rep.Publish(ctx, &fwv1.RuleBundle{Version: "v7"}, &fwv1.ConfigUpdate{IntervalSeconds: 60}, []byte("+files")); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the policy at both", func() bool { return a.policy.Load() == "v7+files" && b.policy.Load() == "v7+files" })
	// One of them runs the jobs; stopped, the other takes them.
	eventually(t, "a replica running the jobs", func() bool { return leads.Load() == 1 })
	first, second := a, b
	if b.led.Load() {
		first, second = b, a
	}
	first.stop()
	eventually(t, "the other replica running the jobs", func() bool { return second.led.Load() && leads.Load() == 1 })
	// A third replica starting now gets the published policy.
	c := start(t, dsn, &leads)
	eventually(t, "the policy at a new replica", func() bool { return c.policy.Load() == "v7+files" })
}

// BenchmarkRelayScan: a live scan asked of a replica that does not hold
// the host (PostgreSQL notifications both ways, the report through a
// table), against the same scan as a direct call in the process that holds
// it. Both return a report of 300 processes at once: this is the relay's
// cost, not the agent's.
func BenchmarkRelayScan(b *testing.B) {
	ctx := context.Background()
	dsn := pgtest.DSN(b)
	var leads atomic.Int32
	x, y := start(b, dsn, &leads), start(b, dsn, &leads)
	x.hold("h1")
	eventually(b, "h1 online at y", func() bool { on, err := y.rep.Online(ctx, nil); return err == nil && on["h1"] })
	var relay, direct []time.Duration
	for b.Loop() {
		t0 := time.Now()
		if _, err := y.rep.Scan(ctx, "h1", 5*time.Second); err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		if _, err := x.srv.ScanLocal(ctx, "h1", time.Second); err != nil {
			b.Fatal(err)
		}
		relay, direct = append(relay, t1.Sub(t0)), append(direct, time.Since(t1))
	}
	reportRelayDirect(b, relay, direct)
}

// reportRelayDirect reports the medians of a relayed round trip and of the
// direct one it is measured against, and their ratio.
func reportRelayDirect(b *testing.B, relay, direct []time.Duration) {
	p50 := func(ds []time.Duration) float64 {
		slices.Sort(ds)
		return float64(ds[len(ds)/2].Microseconds()) / 1000
	}
	r, d := p50(relay), p50(direct)
	b.ReportMetric(r, "relay-p50-ms")
	b.ReportMetric(d, "direct-p50-ms")
	b.ReportMetric(r/d, "relay/direct")
}
