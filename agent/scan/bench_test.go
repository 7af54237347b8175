package scan

import (
	"context"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/farmwatch/farmwatch/agent/host"
	"github.com/farmwatch/farmwatch/agent/sensor"
	"github.com/farmwatch/farmwatch/agent/sensor/remoteaccess"
	"github.com/farmwatch/farmwatch/rules"
)

const benchProcs = 1000

// ensureProcesses starts sleeping processes until the machine runs at least
// n, and stops them when the benchmark ends.
func ensureProcesses(b *testing.B, n int) int {
	b.Helper()
	if runtime.GOOS != "linux" {
		b.Skip("the /proc baseline is Linux only")
	}
	count := func() int {
		ents, err := os.ReadDir("/proc")
		if err != nil {
			b.Fatal(err)
		}
		c := 0
		for _, e := range ents {
			if _, err := strconv.Atoi(e.Name()); err == nil {
				c++
			}
		}
		return c
	}
	var cmds []*exec.Cmd
	b.Cleanup(func() {
		for _, c := range cmds {
			c.Process.Kill()
			c.Wait()
		}
	})
	for have := count(); have < n; have++ {
		c := exec.Command("/bin/sleep", "600")
		if err := c.Start(); err != nil {
			b.Fatal(err)
		}
		cmds = append(cmds, c)
	}
	time.Sleep(50 * time.Millisecond)
	return count()
}

// BenchmarkPlainRead is the baseline: read every process's /proc files that
// a scan reads (stat, status, cmdline, the exe link), and nothing more.
func BenchmarkPlainRead(b *testing.B) {
	n := ensureProcesses(b, benchProcs)
	b.ResetTimer()
	defer func() { b.ReportMetric(float64(n), "procs") }()
	for i := 0; i < b.N; i++ {
		ents, _ := os.ReadDir("/proc")
		for _, e := range ents {
			if _, err := strconv.Atoi(e.Name()); err != nil {
				continue
			}
			d := "/proc/" + e.Name()
			os.ReadFile(d + "/stat")
			os.ReadFile(d + "/status")
			os.ReadFile(d + "/cmdline")
			os.Readlink(d + "/exe")
		}
	}
}

// BenchmarkScan is a full live scan as `farmwatch-agent scan` runs it:
// every sensor, every built-in rule, the verdict.
func BenchmarkScan(b *testing.B) {
	n := ensureProcesses(b, benchProcs)
	set, err := rules.Load(rules.Builtin(), rules.Options{})
	if err != nil {
		b.Fatal(err)
	}
	h, err := host.Live()
	if err != nil {
		b.Fatal(err)
	}
	sc := &Scanner{Sensors: []sensor.Sensor{remoteaccess.Sensor{}}, Rules: set, Timeout: time.Minute}
	b.ResetTimer()
	defer func() { b.ReportMetric(float64(n), "procs") }()
	for i := 0; i < b.N; i++ {
		rep := sc.Scan(context.Background(), h)
		if len(rep.Observations) < benchProcs/2 {
			b.Fatalf("scan saw %d observations", len(rep.Observations))
		}
	}
}
