//go:build linux

package netstate

import (
	"bytes"
	"context"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/farmwatch/farmwatch/agent/host"
	fwv1 "github.com/farmwatch/farmwatch/proto/farmwatch/v1"
)

// cpuNow is the CPU time of this process and of its waited-for children
// (the ip commands).
func cpuNow(b *testing.B) time.Duration {
	var self, kids syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &self); err != nil {
		b.Fatal(err)
	}
	if err := syscall.Getrusage(syscall.RUSAGE_CHILDREN, &kids); err != nil {
		b.Fatal(err)
	}
	tv := func(t syscall.Timeval) time.Duration { return time.Duration(t.Nano()) }
	return tv(self.Utime) + tv(self.Stime) + tv(kids.Utime) + tv(kids.Stime)
}

// scanBefore is what the network and netid sensors read of netstate in one
// scan before the netlink reading: network's Read with the four ip
// commands, then netid's Routes, read again.
func scanBefore(ctx context.Context, h *host.Host) error {
	if _, err := readLinuxWith(ctx, h, func(ctx context.Context, h *host.Host) ([]*fwv1.Route, error) {
		out, errs := policyCommands(ctx, h)
		return out, absentOK(errs)
	}); err != nil {
		return err
	}
	_, err := routesLinux(ctx, h)
	return err
}

// scanAfter is what they read now: one shared reading, netlink.
func scanAfter(ctx context.Context, h *host.Host) error {
	if _, err := Read(ctx, h); err != nil {
		return err
	}
	_, err := Routes(ctx, h)
	return err
}

// BenchmarkScanNetstate compares, on this machine, the CPU time (this
// process and its children) and the wall time of the network and netid
// sensors' netstate reading in one scan, before and after, alternating on
// a new live Host each time as the agent opens one per scan; it reports
// the medians, their ratio and the programs each scan starts.
//
//	go test -run '^$' -bench ScanNetstate -benchtime 200x ./agent/netstate
func BenchmarkScanNetstate(b *testing.B) {
	ctx := context.Background()
	execs := func(scan func(context.Context, *host.Host) error) float64 {
		h, err := host.Live()
		if err != nil {
			b.Fatal(err)
		}
		h.Record()
		if err := scan(ctx, h); err != nil {
			b.Fatal(err)
		}
		var buf bytes.Buffer
		if err := h.WriteSnapshot(&buf); err != nil {
			b.Fatal(err)
		}
		return float64(strings.Count(buf.String(), "\n-- cmd/"))
	}
	eb, ea := execs(scanBefore), execs(scanAfter)
	var cpuB, cpuA, wallB, wallA []time.Duration
	run := func(scan func(context.Context, *host.Host) error, cpu, wall *[]time.Duration) {
		h, err := host.Live()
		if err != nil {
			b.Fatal(err)
		}
		c0, w0 := cpuNow(b), time.Now()
		if err := scan(ctx, h); err != nil {
			b.Fatal(err)
		}
		*cpu, *wall = append(*cpu, cpuNow(b)-c0), append(*wall, time.Since(w0))
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		run(scanBefore, &cpuB, &wallB)
		run(scanAfter, &cpuA, &wallA)
	}
	b.StopTimer()
	med := func(d []time.Duration) float64 {
		slices.Sort(d)
		return float64(d[len(d)/2]) / 1e3
	}
	b.ReportMetric(med(cpuB), "before-cpu-us")
	b.ReportMetric(med(cpuA), "after-cpu-us")
	b.ReportMetric(med(cpuB)/max(med(cpuA), 1), "cpu-before/after")
	b.ReportMetric(med(wallB), "before-wall-us")
	b.ReportMetric(med(wallA), "after-wall-us")
	b.ReportMetric(eb, "before-execs/scan")
	b.ReportMetric(ea, "after-execs/scan")
	b.ReportMetric(0, "ns/op")
}

// BenchmarkLivePolicy is the netlink reading alone (five dumps).
func BenchmarkLivePolicy(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := livePolicy(context.Background()); err != nil {
			b.Fatal(err)
		}
	}
}
