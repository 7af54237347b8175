//go:build linux

package daemon

import (
	"context"
	"runtime"
	"runtime/debug"
	"syscall"
	"testing"
	"time"

	"github.com/farmwatch/farmwatch/agent/host"
	"github.com/farmwatch/farmwatch/agent/outbox"
	"github.com/farmwatch/farmwatch/agent/process"
	"github.com/farmwatch/farmwatch/agent/procevent"
	"github.com/farmwatch/farmwatch/agent/scan"
	"github.com/farmwatch/farmwatch/agent/sensor/activity"
	"github.com/farmwatch/farmwatch/agent/sensor/locale"
	"github.com/farmwatch/farmwatch/agent/wiring"
	"github.com/farmwatch/farmwatch/agent/workingset"
	"github.com/farmwatch/farmwatch/internal/proctest"
	fwv1 "github.com/farmwatch/farmwatch/proto/farmwatch/v1"
)

// BenchmarkResidentScan is one scan of the resident agent, as
// farmwatch-agentd runs it between its first and its next: every sensor
// with the caches the agent keeps (processes, dpkg's packages), the
// built-in rules, the outbox's delta and spool write, and what the scan
// loop does after (memory given back, the executable's pages unmapped),
// on this machine with at least 1,000 processes. cpu-ms/scan is the CPU
// the process used (all its threads: the sensors run side by side, and
// the collector of garbage beside them), the figure behind the agent's
// CPU at the default interval; BenchmarkAgentIdleAt60s (./agent) measures
// the running agent, process events included.
//
//	go test -run '^$' -bench ResidentScan -benchmem ./agent/daemon
func BenchmarkResidentScan(b *testing.B) {
	if runtime.GOOS != "linux" {
		b.Skip("scans this machine live: Linux only")
	}
	n := proctest.Ensure(b, 1000)
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
	defer ob.Close()
	cfg := wiring.DefaultConfig()
	res := wiring.Resident{Activity: activity.NewCounts(dir), Procs: process.NewCache(), Packages: locale.NewPackages()}
	// Process events, as the agent has them: the cache trusts them once a
	// listing that read every process began after they settled.
	live, err := host.Live()
	if err != nil {
		b.Fatal(err)
	}
	res.Events = procevent.New(procevent.Config{Host: live, Processes: res.Procs,
		Judge: func(*fwv1.Process) bool { return false }, Notify: func() {}})
	ctx, cancel := context.WithCancel(context.Background())
	watched := make(chan error, 1)
	go func() { watched <- res.Events.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-watched; err != nil {
			b.Error(err)
		}
	}()
	time.Sleep(process.FollowSettle + time.Second)
	sc := scan.Scanner{Sensors: wiring.Sensors(cfg, res), Rules: set, Timeout: cfg.SensorTimeout, Org: cfg.Org()}
	tr, err := workingset.New()
	if err != nil {
		b.Fatal(err)
	}
	once := func() {
		h, err := host.Live()
		if err != nil {
			b.Fatal(err)
		}
		defer h.Close()
		rep := sc.Scan(context.Background(), h)
		if len(rep.GetObservations()) < n/2 {
			b.Fatalf("the scan saw %d observations with %d processes running", len(rep.GetObservations()), n)
		}
		if err := ob.Put(rep); err != nil {
			b.Fatal(err)
		}
		debug.FreeOSMemory()
		if _, err := tr.Trim(false); err != nil {
			b.Fatal(err)
		}
	}
	once() // the first scan fills the caches, as the agent's first does
	b.Logf("process events: %s; the last listing took %+v", res.Events.Mode(), res.Procs.Stats())
	cpu0 := cpuTime(b)
	b.ResetTimer()
	for range b.N {
		once()
	}
	b.StopTimer()
	b.ReportMetric(float64(cpuTime(b)-cpu0)/float64(b.N)/1e6, "cpu-ms/scan")
	b.ReportMetric(float64(n), "procs")
}

// cpuTime is the CPU time this process used so far, user and system.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
