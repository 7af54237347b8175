package postgres

import (
	"context"
	"fmt"
	"os"
	"sort"
	"strconv"
	"sync"
	"testing"
	"time"

	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/common/types"
	"github.com/farmwatch/farmwatch/collector/store"
	"github.com/farmwatch/farmwatch/internal/pgtest"
	"github.com/farmwatch/farmwatch/observation"
	fwv1 "github.com/farmwatch/farmwatch/proto/farmwatch/v1"
	"github.com/jackc/pgx/v5"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// The benchmarks run on a cluster of their own with fsync and synchronous
// commit on, as in production (the tests' cluster has them off).
var (
	durableOnce sync.Once
	durable     *pgtest.Cluster
	durableErr  error
	durableN    int
)

func benchDB(b *testing.B) string {
	b.Helper()
	bin, err := pgtest.Bin()
	if err != nil {
		b.Skipf("skipping: %v", err)
	}
	durableOnce.Do(func() { durable, durableErr = pgtest.Start(bin, pgtest.Options{Durable: true}) })
	if durableErr != nil {
		b.Fatal(durableErr)
	}
	durableN++
	dsn, err := durable.CreateDB(context.Background(), fmt.Sprintf("bench%d", durableN))
	if err != nil {
		b.Fatal(err)
	}
	return dsn
}

func stopDurable() {
	if durable != nil {
		durable.Stop()
	}
}

// The shape of the ingest benchmark, as the SQLite store's
// (sqlite/bench_test.go): benchHosts hosts of benchFull observations, each
// applying one delta of benchDelta new process observations per round.
const (
	benchHosts = 1000
	benchFull  = 100
	benchDelta = 20
)

func benchHostID(i int) string { return fmt.Sprintf("00000000-0000-4000-8000-%012d", i) }

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

// benchSetup fills a database with benchHosts hosts of benchFull
// observations (COPY: setup, not measured).
func benchSetup(b *testing.B, s *DB) {
	b.Helper()
	ctx := context.Background()
	now := time.Now().UnixMilli()
	var hosts, obs [][]any
	for h := 0; h < benchHosts; h++ {
		hosts = append(hosts, []any{benchHostID(h), fmt.Sprintf("bench-%04d", h), "linux", []byte{0}, now, now, int64(1)})
		for j := 0; j < benchFull; j++ {
			o := benchProc(h, -1000-j, 0)
			body, err := marshal.Marshal(o)
			if err != nil {
				b.Fatal(err)
			}
			obs = append(obs, []any{benchHostID(h), o.GetKey(), observation.KindOf(o), body, store.Terms(o)})
		}
	}
	if _, err := s.pool.CopyFrom(ctx, pgx.Identifier{"hosts"}, []string{"id", "hostname", "os", "node_key_hash", "enrolled_at", "last_seen", "last_seq"}, pgx.CopyFromRows(hosts)); err != nil {
		b.Fatal(err)
	}
	if _, err := s.pool.CopyFrom(ctx, pgx.Identifier{"observations"}, []string{"host_id", "key", "kind", "body", "terms"}, pgx.CopyFromRows(obs)); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkPostgresApplyVsRaw alternates one round through ApplyMessage and one
// round of plain INSERTs of the same (encoded) rows, one transaction per
// host, on two databases of the same contents: the store's work per
// message over the floor. Both are sequential, one message at a time; with
// many agents PostgreSQL commits many at once (BenchmarkPostgresApplyParallel).
func BenchmarkPostgresApplyVsRaw(b *testing.B) {
	ctx := context.Background()
	s, err := Open(ctx, benchDB(b))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	raw, err := Open(ctx, benchDB(b))
	if err != nil {
		b.Fatal(err)
	}
	defer raw.Close()
	benchSetup(b, s)
	benchSetup(b, raw)
	var (
		round              int
		obs                int
		storeTime, rawTime time.Duration
	)
	for b.Loop() {
		b.StopTimer()
		msgs := make([][]*fwv1.Observation, benchHosts)
		bodies := make([][][]byte, benchHosts)
		for h := range msgs {
			for j := 0; j < benchDelta; j++ {
				o := benchProc(h, round, j)
				msgs[h] = append(msgs[h], o)
				body, _ := marshal.Marshal(o)
				bodies[h] = append(bodies[h], body)
			}
		}
		b.StartTimer()
		t0 := time.Now()
		for h := 0; h < benchHosts; h++ {
			ok, err := s.ApplyMessage(ctx, benchHostID(h), uint64(round+2), store.Apply{Upserted: msgs[h], Seen: t0, EgressIP: "127.0.0.1"})
			if err != nil || !ok {
				b.Fatalf("apply host %d round %d: %v, %v", h, round, ok, err)
			}
		}
		t1 := time.Now()
		for h := 0; h < benchHosts; h++ {
			err := pgx.BeginFunc(ctx, raw.pool, func(tx pgx.Tx) error {
				for j, o := range msgs[h] {
					if _, err := tx.Exec(ctx, `INSERT INTO observations (host_id, key, kind, body) VALUES ($1, $2, $3, $4)`,
						benchHostID(h), o.GetKey(), "process", bodies[h][j]); err != nil {
						return err
					}
				}
				return nil
			})
			if err != nil {
				b.Fatal(err)
			}
		}
		storeTime += t1.Sub(t0)
		rawTime += time.Since(t1)
		obs += benchHosts * benchDelta
		round++
	}
	storeRate, rawRate := float64(obs)/storeTime.Seconds(), float64(obs)/rawTime.Seconds()
	b.ReportMetric(storeRate, "store-obs/s")
	b.ReportMetric(rawRate, "raw-obs/s")
	b.ReportMetric(storeRate/rawRate, "store/raw")
}

// BenchmarkPostgresApplyParallel: the same deltas from 32 hosts at once (32
// agents' streams), the pool's connections in parallel.
func BenchmarkPostgresApplyParallel(b *testing.B) {
	ctx := context.Background()
	s, err := Open(ctx, benchDB(b))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	benchSetup(b, s)
	var round, obs int
	for b.Loop() {
		var wg sync.WaitGroup
		work := make(chan int)
		for range 32 {
			wg.Go(func() {
				for h := range work {
					msg := make([]*fwv1.Observation, benchDelta)
					for j := range msg {
						msg[j] = benchProc(h, round, j)
					}
					if ok, err := s.ApplyMessage(ctx, benchHostID(h), uint64(round+2), store.Apply{Upserted: msg, Seen: time.Now()}); err != nil || !ok {
						b.Errorf("apply host %d: %v, %v", h, ok, err)
					}
				}
			})
		}
		for h := 0; h < benchHosts; h++ {
			work <- h
		}
		close(work)
		wg.Wait()
		obs += benchHosts * benchDelta
		round++
	}
	b.ReportMetric(float64(obs)/b.Elapsed().Seconds(), "obs/s")
}

// BenchmarkFindObservations: fleet lookups of indexed fields over
// FARMWATCH_BENCH_OBS stored observations (2,000,000 by default: 10,000
// hosts of 200), each as the store answers it (index, join with the host,
// decoding). A rare process runs on 50 hosts, a KVM's USB id is on 20, a
// network on 200, a monitor serial on one.
func BenchmarkFindObservations(b *testing.B) {
	ctx := context.Background()
	total := 2_000_000
	if v, err := strconv.Atoi(os.Getenv("FARMWATCH_BENCH_OBS")); err == nil && v > 0 {
		total = v
	}
	const perHost = 200
	nHosts := total / perHost
	s, err := Open(ctx, benchDB(b))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	start := time.Now()
	if _, err := s.pool.Exec(ctx, `DROP INDEX observations_terms`); err != nil { // built once, after the load
		b.Fatal(err)
	}
	now := time.Now().UnixMilli()
	var hosts [][]any
	for h := 0; h < nHosts; h++ {
		hosts = append(hosts, []any{benchHostID(h), fmt.Sprintf("bench-%05d", h), "linux", []byte{0}, now, now, int64(1)})
	}
	if _, err := s.pool.CopyFrom(ctx, pgx.Identifier{"hosts"}, []string{"id", "hostname", "os", "node_key_hash", "enrolled_at", "last_seen", "last_seq"}, pgx.CopyFromRows(hosts)); err != nil {
		b.Fatal(err)
	}
	h, j := 0, 0
	src := pgx.CopyFromFunc(func() ([]any, error) {
		if h == nHosts {
			return nil, nil
		}
		o := findObs(h, j)
		body, err := marshal.Marshal(o)
		if err != nil {
			return nil, err
		}
		row := []any{benchHostID(h), o.GetKey(), observation.KindOf(o), body, store.Terms(o)}
		if j++; j == perHost {
			h, j = h+1, 0
		}
		return row, nil
	})
	if _, err := s.pool.CopyFrom(ctx, pgx.Identifier{"observations"}, []string{"host_id", "key", "kind", "body", "terms"}, src); err != nil {
		b.Fatal(err)
	}
	if _, err := s.pool.Exec(ctx, `CREATE INDEX observations_terms ON observations USING GIN (terms)`); err != nil {
		b.Fatal(err)
	}
	if _, err := s.pool.Exec(ctx, `ANALYZE`); err != nil {
		b.Fatal(err)
	}
	var size int64
	s.pool.QueryRow(ctx, `SELECT pg_database_size(current_database())`).Scan(&size)
	b.Logf("%d observations of %d hosts loaded and indexed in %s; database %d MB", nHosts*perHost, nHosts, time.Since(start).Round(time.Second), size>>20)
	lookups := []struct{ field, value string }{
		{store.FieldProcessName, "anydesk"},
		{store.FieldProcessExe, "/opt/anydesk/anydesk"},
		{store.FieldUSBID, "2e8a:000a"},
		{store.FieldEDIDSerial, "777"},
		{store.FieldNetSSID, "ssid-7"},
	}
	var times []time.Duration
	for b.Loop() {
		for _, l := range lookups {
			t0 := time.Now()
			ms, err := s.FindObservations(ctx, l.field, l.value, 0)
			if err != nil || len(ms) == 0 {
				b.Fatalf("%s=%s: %d found, %v", l.field, l.value, len(ms), err)
			}
			times = append(times, time.Since(t0))
		}
	}
	// What a filter on a field without an index costs: every observation
	// of the kind, decoded, and a CEL expression evaluated on each.
	t0, n := time.Now(), 0
	if err := s.EachOfKind(ctx, "process", func(string, *fwv1.Observation) error { n++; return nil }); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(time.Since(t0).Milliseconds()), "scan-process-ms")
	env, err := cel.NewEnv(cel.Types(&fwv1.Process{}, &fwv1.UsbDevice{}),
		cel.Variable("process", cel.ObjectType("farmwatch.v1.Process")), cel.Variable("usb_device", cel.ObjectType("farmwatch.v1.UsbDevice")))
	if err != nil {
		b.Fatal(err)
	}
	for _, f := range []struct{ kind, expr string }{
		{"usb_device", `usb_device.serial.endsWith("503")`},
		{"process", `process.cmdline.contains("anydesk") || process.username == "user7"`},
	} {
		ast, iss := env.Compile(f.expr)
		if iss.Err() != nil {
			b.Fatal(iss.Err())
		}
		prg, err := env.Program(ast)
		if err != nil {
			b.Fatal(err)
		}
		t0, n, hits := time.Now(), 0, 0
		err = s.EachOfKind(ctx, f.kind, func(_ string, o *fwv1.Observation) error {
			n++
			var msg any = o.GetProcess()
			if f.kind == "usb_device" {
				msg = o.GetUsbDevice()
			}
			v, _, err := prg.Eval(map[string]any{f.kind: msg})
			if err != nil {
				return err
			}
			if v == types.True {
				hits++
			}
			return nil
		})
		if err != nil || hits == 0 {
			b.Fatalf("%s: %d of %d, %v", f.expr, hits, n, err)
		}
		b.ReportMetric(float64(time.Since(t0).Milliseconds()), "cel-"+f.kind+"-ms")
		b.ReportMetric(float64(n), "cel-"+f.kind+"-rows")
	}
	sort.Slice(times, func(i, j int) bool { return times[i] < times[j] })
	b.ReportMetric(float64(times[len(times)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(times[len(times)*99/100].Microseconds())/1000, "p99-ms")
	b.ReportMetric(float64(nHosts*perHost), "observations")
}

// findObs is host h's j-th observation for BenchmarkFindObservations.
func findObs(h, j int) *fwv1.Observation {
	switch {
	case j == 0 && h%200 == 7: // 50 hosts of 10,000 run AnyDesk
		return &fwv1.Observation{Key: "process/4242@1", Kind: &fwv1.Observation_Process{Process: &fwv1.Process{Pid: 4242, Name: "anydesk", Exe: "/opt/anydesk/anydesk"}}}
	case j == 1 && h%500 == 3: // 20 hosts have a Pi-based KVM
		return &fwv1.Observation{Key: "usb/1-9", Kind: &fwv1.Observation_UsbDevice{UsbDevice: &fwv1.UsbDevice{VendorId: 0x2e8a, ProductId: 0x000a, Serial: fmt.Sprint("E66", h)}}}
	case j == 2:
		return &fwv1.Observation{Key: "display/HDMI-1", Kind: &fwv1.Observation_Display{Display: &fwv1.Display{Edid: &fwv1.Edid{Manufacturer: "DEL", ProductCode: 0xa0c4, SerialNumber: uint32(h)}}}}
	case j == 3:
		return &fwv1.Observation{Key: "wifi_network/wlan0", Kind: &fwv1.Observation_WifiNetwork{WifiNetwork: &fwv1.WifiNetwork{SsidHash: fmt.Sprint("ssid-", h%50), BssidHash: fmt.Sprint("bssid-", h)}}}
	}
	return benchProc(h, 0, j) // worker-0-j: every host runs the same 196
}
