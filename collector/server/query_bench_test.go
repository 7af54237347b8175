package server

import (
	"context"
	"fmt"
	"os"
	"sort"
	"strconv"
	"testing"
	"time"

	"github.com/farmwatch/farmwatch/collector/store"
	"github.com/farmwatch/farmwatch/collector/store/postgres"
	"github.com/farmwatch/farmwatch/internal/pgtest"
	"github.com/farmwatch/farmwatch/observation"
	fwv1 "github.com/farmwatch/farmwatch/proto/farmwatch/v1"
	"github.com/jackc/pgx/v5"
	"github.com/rs/zerolog"
	"google.golang.org/protobuf/proto"
)

// BenchmarkQuery: `query` (QueryObservations, as the fleet API answers it)
// over FARMWATCH_BENCH_OBS stored observations (2,000,000 by default:
// 10,000 hosts of 200) on PostgreSQL with fsync on. Filters that name an
// indexed field are timed (p50, p99 over all of them, every iteration);
// one filter on a field without an index is timed once (the scan of every
// host's observations it costs: scan-ms). A rare process runs on 50
// hosts, a Pi-based KVM's USB serial is on one, a network on 200.
func BenchmarkQuery(b *testing.B) {
	ctx := context.Background()
	total := 2_000_000
	if v, err := strconv.Atoi(os.Getenv("FARMWATCH_BENCH_OBS")); err == nil && v > 0 {
		total = v
	}
	const perHost = 200
	nHosts := total / perHost
	bin, err := pgtest.Bin()
	if err != nil {
		b.Skipf("skipping: %v", err)
	}
	cl, err := pgtest.Start(bin, pgtest.Options{Durable: true})
	if err != nil {
		b.Fatal(err)
	}
	defer cl.Stop()
	dsn, err := cl.CreateDB(ctx, "query")
	if err != nil {
		b.Fatal(err)
	}
	st, err := postgres.Open(ctx, dsn)
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	start := time.Now()
	pool := st.Pool()
	if _, err := pool.Exec(ctx, `DROP INDEX observations_terms`); err != nil { // built once, after the load
		b.Fatal(err)
	}
	now := time.Now().UnixMilli()
	var hosts [][]any
	for h := range nHosts {
		name := fmt.Sprintf("bench-%05d", h)
		info, _ := proto.Marshal(&fwv1.HostInfo{Hostname: name, Os: "linux", OsVersion: "24.04"})
		hosts = append(hosts, []any{benchID(h), name, "linux", info, []byte{0}, now, now, int64(1)})
	}
	if _, err := pool.CopyFrom(ctx, pgx.Identifier{"hosts"}, []string{"id", "hostname", "os", "info", "node_key_hash", "enrolled_at", "last_seen", "last_seq"}, pgx.CopyFromRows(hosts)); err != nil {
		b.Fatal(err)
	}
	h, j := 0, 0
	src := pgx.CopyFromFunc(func() ([]any, error) {
		if h == nHosts {
			return nil, nil
		}
		o := queryObs(h, j)
		body, err := proto.Marshal(o)
		if err != nil {
			return nil, err
		}
		row := []any{benchID(h), o.GetKey(), observation.KindOf(o), body, store.Terms(o)}
		if j++; j == perHost {
			h, j = h+1, 0
		}
		return row, nil
	})
	if _, err := pool.CopyFrom(ctx, pgx.Identifier{"observations"}, []string{"host_id", "key", "kind", "body", "terms"}, src); err != nil {
		b.Fatal(err)
	}
	for _, q := range []string{`CREATE INDEX observations_terms ON observations USING GIN (terms)`, `ANALYZE`} {
		if _, err := pool.Exec(ctx, q); err != nil {
			b.Fatal(err)
		}
	}
	b.Logf("%d observations of %d hosts loaded and indexed in %s", nHosts*perHost, nHosts, time.Since(start).Round(time.Second))
	srv, err := New(Config{Store: st, Log: zerolog.Nop(), EnrollSecret: "e"})
	if err != nil {
		b.Fatal(err)
	}
	indexed := []struct {
		kind, filter string
		rows         int
	}{
		{"process", `process.name == "anydesk"`, nHosts / 200},
		{"process", `process.exe == "/opt/anydesk/anydesk" && host.os == "linux"`, nHosts / 200},
		{"usb_device", `usb_device.serial == "E6614"`, 1},
		{"", `observation.wifi_network.ssid_hash == "ssid-7"`, nHosts / 50},
	}
	var times []time.Duration
	for b.Loop() {
		for _, q := range indexed {
			t0 := time.Now()
			r, err := srv.QueryObservations(ctx, &fwv1.QueryObservationsRequest{Kind: q.kind, Filter: q.filter})
			if err != nil || len(r.Rows) != q.rows || int(r.Hosts) != nHosts {
				b.Fatalf("%s: %d rows of %d hosts, want %d: %v", q.filter, len(r.GetRows()), r.GetHosts(), q.rows, err)
			}
			times = append(times, time.Since(t0))
		}
	}
	b.StopTimer()
	// A field without an index: every host's observations read, and the
	// filter evaluated on each process.
	t0 := time.Now()
	r, err := srv.QueryObservations(ctx, &fwv1.QueryObservationsRequest{Kind: "process", Filter: `process.cmdline.contains("anydesk")`})
	if err != nil || len(r.Rows) != nHosts/200 {
		b.Fatalf("scan: %d rows, %v", len(r.GetRows()), err)
	}
	b.ReportMetric(float64(time.Since(t0).Milliseconds()), "scan-ms")
	sort.Slice(times, func(i, j int) bool { return times[i] < times[j] })
	b.ReportMetric(float64(times[len(times)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(times[len(times)*99/100].Microseconds())/1000, "p99-ms")
	b.ReportMetric(float64(nHosts*perHost), "observations")
}

func benchID(h int) string { return fmt.Sprintf("00000000-0000-4000-8000-%012d", h) }

// queryObs is host h's j-th observation for BenchmarkQuery: 50 of 10,000
// hosts run AnyDesk, one has the KVM serial E6614, each network is on 200;
// every host runs the same 196 other processes.
func queryObs(h, j int) *fwv1.Observation {
	switch {
	case j == 0 && h%200 == 7:
		return &fwv1.Observation{Key: "process/4242@1", Kind: &fwv1.Observation_Process{Process: &fwv1.Process{Pid: 4242, Name: "anydesk", Exe: "/opt/anydesk/anydesk", Cmdline: "/opt/anydesk/anydesk --service"}}}
	case j == 1:
		return &fwv1.Observation{Key: "usb/1-9", Kind: &fwv1.Observation_UsbDevice{UsbDevice: &fwv1.UsbDevice{VendorId: 0x2e8a, ProductId: 0x000a, Serial: fmt.Sprint("E66", h)}}}
	case j == 2:
		return &fwv1.Observation{Key: "display/HDMI-1", Kind: &fwv1.Observation_Display{Display: &fwv1.Display{Edid: &fwv1.Edid{Manufacturer: "DEL", ProductCode: 0xa0c4, SerialNumber: uint32(h)}}}}
	case j == 3:
		return &fwv1.Observation{Key: "wifi_network/wlan0", Kind: &fwv1.Observation_WifiNetwork{WifiNetwork: &fwv1.WifiNetwork{SsidHash: fmt.Sprint("ssid-", h%50), BssidHash: fmt.Sprint("bssid-", h)}}}
	}
	name := fmt.Sprintf("worker-%d", j)
	exe := "/usr/lib/farmwatch-bench/bin/" + name
	return &fwv1.Observation{Key: fmt.Sprintf("process/%d@0", 10000+j), Kind: &fwv1.Observation_Process{Process: &fwv1.Process{
		Pid: int32(10000 + j), Ppid: 1, Name: name, Exe: exe, Cmdline: exe + " --config /etc/bench/" + name + ".conf --verbose",
		Args: []string{exe, "--config", "/etc/bench/" + name + ".conf", "--verbose"}, Username: fmt.Sprintf("user%d", h%50), ParentName: "systemd"}}}
}
