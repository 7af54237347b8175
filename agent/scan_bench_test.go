package main

import (
	"os/exec"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/farmwatch/farmwatch/internal/proctest"
)

// scanBenchProcs is the size of the process table the goals are stated for.
const scanBenchProcs = 1000

// BenchmarkScanVsPs runs the released `farmwatch-agent scan --format json`
// and `ps -eo pid,ppid,user,comm,args` alternately on this machine, with at
// least 1000 processes running (sleeping stand-ins are started to make up
// the number), and reports each one's median start-to-exit time and their
// ratio: the goal is a scan within 2x of ps. Alternating keeps both under
// the same load.
//
//	go test -run '^$' -bench ScanVsPs -benchtime 20x ./agent
func BenchmarkScanVsPs(b *testing.B) {
	if testing.Short() {
		b.Skip("builds the agent and starts 1000 processes")
	}
	if runtime.GOOS != "linux" {
		b.Skip("counts /proc")
	}
	ps, err := exec.LookPath("ps")
	if err != nil {
		b.Skip("no ps on this machine")
	}
	agent := idleBuild(b, b.TempDir(), "./agent", "farmwatch-agent")
	n := proctest.Ensure(b, scanBenchProcs)
	run := func(bin string, args ...string) time.Duration {
		cmd := exec.Command(bin, args...)
		start := time.Now()
		err := cmd.Run()
		d := time.Since(start)
		if ee, ok := err.(*exec.ExitError); err != nil && !(ok && ee.ExitCode() == 1) {
			b.Fatalf("%s: %v", bin, err) // 1 is "findings at or above --fail-on"
		}
		return d
	}
	run(agent, "scan", "--format", "json") // warm the page cache
	run(ps, "-eo", "pid,ppid,user,comm,args")
	var scans, pss []time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		scans = append(scans, run(agent, "scan", "--format", "json"))
		pss = append(pss, run(ps, "-eo", "pid,ppid,user,comm,args"))
	}
	b.StopTimer()
	med := func(d []time.Duration) float64 {
		slices.Sort(d)
		return float64(d[len(d)/2]) / 1e6
	}
	s, p := med(scans), med(pss)
	b.ReportMetric(s, "scan-ms")
	b.ReportMetric(p, "ps-ms")
	b.ReportMetric(s/p, "scan/ps")
	b.ReportMetric(float64(n), "procs")
	b.ReportMetric(0, "ns/op")
	b.Logf("goal: scan within 2x of ps: scan %.1f ms, ps %.1f ms (%.2fx) with %d processes", s, p, s/p, n)
}
