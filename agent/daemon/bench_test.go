//go:build linux

package daemon

import (
	"context"
	"os/exec"
	"runtime/debug"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/farmwatch/farmwatch/agent/host"
	"github.com/farmwatch/farmwatch/agent/outbox"
	"github.com/farmwatch/farmwatch/agent/process"
	"github.com/farmwatch/farmwatch/agent/procevent"
	"github.com/farmwatch/farmwatch/agent/resident"
	"github.com/farmwatch/farmwatch/agent/scan"
	"github.com/farmwatch/farmwatch/agent/sensor/activity"
	"github.com/farmwatch/farmwatch/agent/sensor/locale"
	"github.com/farmwatch/farmwatch/agent/wiring"
	"github.com/farmwatch/farmwatch/agent/workingset"
	"github.com/farmwatch/farmwatch/internal/proctest"
	fwv1 "github.com/farmwatch/farmwatch/proto/farmwatch/v1"
	"github.com/farmwatch/farmwatch/rules"
	"github.com/rs/zerolog"
)

// benchAgent is the resident agent as farmwatch-agentd wires it (Run),
// scanning this machine live, with process events from the machine's
// source (the process connector, where this runs as root) once they have
// settled: the process cache trusts them, as the agent's does.
type benchAgent struct {
	agent *resident.Agent
	ob    *outbox.Outbox
	res   wiring.Resident
	trim  *workingset.Trimmer
}

func newBenchAgent(b *testing.B) *benchAgent {
	b.Helper()
	defer debug.SetGCPercent(debug.SetGCPercent(gcPercent))
	dir := b.TempDir()
	set, err := residentRules(nil)
	if err != nil {
		b.Fatal(err)
	}
	ob, _, err := outbox.Open(dir, 64<<20)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { ob.Close() })
	cfg := wiring.DefaultConfig()
	ba := &benchAgent{ob: ob, res: wiring.Resident{Activity: activity.NewCounts(dir), Procs: process.NewCache(), Packages: locale.NewPackages()}}
	live, err := host.Live()
	if err != nil {
		b.Fatal(err)
	}
	ba.res.Events = procevent.New(procevent.Config{Host: live, Processes: ba.res.Procs,
		Judge: func(p *fwv1.Process) bool { return ba.agent.Judge(p) }, Notify: func() {}})
	ba.agent, err = resident.New(resident.Config{
		Scanner:   scan.Scanner{Sensors: wiring.Sensors(cfg, ba.res), Rules: set, Timeout: cfg.SensorTimeout, Org: cfg.Org()},
		LoadRules: func(bundle []rules.Source) (*rules.Set, error) { return residentRules(nil, bundle...) },
		Open: func() (*host.Host, func(), error) {
			h, err := host.Live()
			if err != nil {
				return nil, nil, err
			}
			return h, func() { h.Close() }, nil
		},
		Outbox: ob, StateDir: dir, Log: zerolog.Nop(),
	})
	if err != nil {
		b.Fatal(err)
	}
	if ba.trim, err = workingset.New(); err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	watched := make(chan error, 1)
	go func() { watched <- ba.res.Events.Run(ctx) }()
	b.Cleanup(func() {
		cancel()
		if err := <-watched; err != nil {
			b.Error(err)
		}
	})
	time.Sleep(process.FollowSettle + time.Second)
	return ba
}

// scan is one pass of the scan loop (resident.Agent.Run): the scan, the
// outbox's Put, the memory given back, the executable's pages unmapped.
func (ba *benchAgent) scan(b *testing.B) *fwv1.Report {
	b.Helper()
	rep, err := ba.agent.Scan(context.Background())
	if err != nil {
		b.Fatal(err)
	}
	if err := ba.ob.Put(rep); err != nil {
		b.Fatal(err)
	}
	debug.FreeOSMemory()
	if _, err := ba.trim.Trim(false); err != nil {
		b.Fatal(err)
	}
	return rep
}

// BenchmarkResidentScan is one scan of the resident agent, as
// farmwatch-agentd runs it between its first and its next: every sensor
// with the caches the agent keeps (processes, dpkg's packages), the
// built-in rules, the outbox's delta and spool write, and what the scan
// loop does after (memory given back, the executable's pages unmapped),
// on this machine with at least 1,000 processes. cpu-ms/scan is the CPU
// the process used (all its threads: the sensors run side by side, and
// the collector of garbage beside them), the figure behind the agent's
// CPU at the default interval; BenchmarkAgentIdleAt60s (./agent) measures
// the running agent.
//
//	go test -run '^$' -bench ResidentScan -benchmem ./agent/daemon
func BenchmarkResidentScan(b *testing.B) {
	n := proctest.Ensure(b, 1000)
	ba := newBenchAgent(b)
	defer debug.SetGCPercent(debug.SetGCPercent(gcPercent))
	ba.scan(b) // the first scan reads every process, and the cache trusts the events from then on
	cpu0 := cpuTime(b)
	b.ResetTimer()
	for range b.N {
		if rep := ba.scan(b); len(rep.GetObservations()) < n/2 {
			b.Fatalf("the scan saw %d observations with %d processes running", len(rep.GetObservations()), n)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(cpuTime(b)-cpu0)/float64(b.N)/1e6, "cpu-ms/scan")
	b.ReportMetric(float64(n), "procs")
	b.Logf("process events: %s; the last listing: %+v", ba.res.Events.Mode(), ba.res.Procs.Stats())
}

// BenchmarkProcessEvent is what a program started on the machine costs the
// resident agent between scans: the process connector's exec and exit
// events, the new process read and judged by the built-in rules
// (resident.Agent.Judge), as farmwatch-agentd does. A shell, another
// process, starts /bin/true and sleep 0.01 in turn, b.N starts in all (at
// most 100 a second: the agent judges up to procevent.MaxJudgedPerSecond
// and counts the rest unread); "agent" runs the agent's process events in
// this process meanwhile, "baseline" does not. cpu-us/start is this
// process's CPU over the starts, a start.
//
//	go test -run '^$' -bench ProcessEvent ./agent/daemon
func BenchmarkProcessEvent(b *testing.B) {
	start := func(b *testing.B) {
		b.Helper()
		sh := exec.Command("/bin/sh", "-c", `i=0; while [ $i -lt "$1" ]; do /bin/true; sleep 0.01; i=$((i+2)); done`, "sh", strconv.Itoa(b.N))
		cpu0 := cpuTime(b)
		b.ResetTimer()
		if out, err := sh.CombinedOutput(); err != nil {
			b.Fatalf("%v: %s", err, out)
		}
		time.Sleep(100 * time.Millisecond) // the last events read
		b.StopTimer()
		b.ReportMetric(float64(cpuTime(b)-cpu0)/float64(b.N)/1e3, "cpu-us/start")
	}
	b.Run("baseline", start)
	b.Run("agent", func(b *testing.B) {
		ba := newBenchAgent(b)
		ba.scan(b)
		before := ba.res.Events.Stats()
		start(b)
		if st := ba.res.Events.Stats(); st.Judged-before.Judged < uint64(b.N)/2 {
			b.Fatalf("%d starts judged of %d (%s): the events were not seen", st.Judged-before.Judged, b.N, ba.res.Events.Mode())
		}
	})
}

// cpuTime is the CPU time this process used so far, user and system.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
