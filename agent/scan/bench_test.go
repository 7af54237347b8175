package scan

import (
	"context"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/farmwatch/farmwatch/agent/host"
	"github.com/farmwatch/farmwatch/agent/sensor"
	"github.com/farmwatch/farmwatch/agent/sensor/remoteaccess"
	"github.com/farmwatch/farmwatch/internal/proctest"
	"github.com/farmwatch/farmwatch/rules"
)

const benchProcs = 1000

// BenchmarkPlainRead is the baseline: read every process's /proc files that
// a scan reads (stat, status, cmdline, the exe link), and nothing more.
func BenchmarkPlainRead(b *testing.B) {
	n := proctest.Ensure(b, benchProcs)
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
	n := proctest.Ensure(b, benchProcs)
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
