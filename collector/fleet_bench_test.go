package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/farmwatch/farmwatch/internal/pgtest"
	"github.com/jackc/pgx/v5"
)

// The fleet benchmarks (make bench-fleet) run the real collector and
// collector/fleetsim as separate processes on this machine: every
// simulated agent enrols and holds its own TLS connection. They take
// minutes and load the machine: they are not part of make test.
//
//	FARMWATCH_FLEET_AGENTS    agents (default: 10000 on SQLite, 2000 on the replicas)
//	FARMWATCH_FLEET_DURATION  the steady run after every agent connected (default 3m)
//	FARMWATCH_FLEET_INTERVAL  each agent's interval (default 30s)

func fleetEnv(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

func fleetDur(name string, def time.Duration) time.Duration {
	if v, err := time.ParseDuration(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

// fleetResult is fleetsim's JSON summary (the fields used here).
type fleetResult struct {
	Agents        int     `json:"agents"`
	Connected     int     `json:"connected"`
	Errors        int     `json:"errors"`
	ConnectS      float64 `json:"connect_s"`
	MessagesAcked int     `json:"messages_acked"`
	AckP50        float64 `json:"ack_p50_ms"`
	AckP99        float64 `json:"ack_p99_ms"`
	FirstAckP99   float64 `json:"first_state_ack_p99_ms"`
	ScanP50       float64 `json:"scan_p50_ms"`
	ScanP99       float64 `json:"scan_p99_ms"`
	Scans         int     `json:"scans"`
	ScanErrors    int     `json:"scan_errors"`
	HostsMS       float64 `json:"hosts_ms"`
	HostsListed   int     `json:"hosts_listed"`
	HostsOnline   int     `json:"hosts_online"`
}

// runFleetsim runs fleetsim to its end and returns its summary.
func runFleetsim(b *testing.B, bin string, args ...string) (fleetResult, string) {
	b.Helper()
	cmd := exec.Command(bin, append(args, "--format", "json")...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		b.Fatalf("fleetsim: %v\n%s\n%s", err, out.String(), errb.String())
	}
	var r fleetResult
	if err := json.Unmarshal(out.Bytes(), &r); err != nil {
		b.Fatalf("fleetsim said %s: %v", out.String(), err)
	}
	return r, out.String()
}

// peakRSS is a process's peak resident set (VmHWM) in MB.
func peakRSS(b *testing.B, pid int) float64 {
	s, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		b.Logf("peak RSS: %v", err)
		return 0
	}
	for _, l := range strings.Split(string(s), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == "VmHWM:" {
			kb, _ := strconv.ParseFloat(f[1], 64)
			return kb / 1024
		}
	}
	return 0
}

// cpuSeconds is a process's user+system CPU time.
func cpuSeconds(pid int) float64 {
	s, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	f := strings.Fields(string(s)[strings.LastIndexByte(string(s), ')')+2:])
	u, _ := strconv.ParseFloat(f[11], 64)
	k, _ := strconv.ParseFloat(f[12], 64)
	return (u + k) / 100 // clock ticks
}

func fleetBins(b *testing.B, dir string) (collector, sim string) {
	build := func(pkg, name string) string {
		out := filepath.Join(dir, name)
		cmd := exec.Command("go", "build", "-o", out, pkg)
		cmd.Dir = ".."
		if o, err := cmd.CombinedOutput(); err != nil {
			b.Fatalf("go build %s: %v\n%s", pkg, err, o)
		}
		return out
	}
	return build("./collector", "farmwatch-collector"), build("./collector/fleetsim", "fleetsim")
}

func fleetAddr(b *testing.B) string {
	b.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// BenchmarkFleetSQLite: one collector on its SQLite store, N agents each
// on its own TLS connection at a 30 s interval; live scans and hosts
// asked of it during the run.
func BenchmarkFleetSQLite(b *testing.B) {
	agents := fleetEnv("FARMWATCH_FLEET_AGENTS", 10000)
	dur := fleetDur("FARMWATCH_FLEET_DURATION", 3*time.Minute)
	interval := fleetDur("FARMWATCH_FLEET_INTERVAL", 30*time.Second)
	dir := b.TempDir()
	collector, sim := fleetBins(b, dir)
	data := filepath.Join(dir, "data")
	if out, err := exec.Command(collector, "init", "--data", data).CombinedOutput(); err != nil {
		b.Fatalf("init: %v\n%s", err, out)
	}
	for b.Loop() {
		addr := fleetAddr(b)
		srv := exec.Command(collector, "serve", "--data", data, "--listen", addr, "--metrics", "", "--max-conns-per-peer", fmt.Sprint(agents+100))
		var log bytes.Buffer
		srv.Stdout, srv.Stderr = &log, &log
		if err := srv.Start(); err != nil {
			b.Fatal(err)
		}
		time.Sleep(time.Second)
		r, raw := runFleetsim(b, sim, "--collector", addr, "--ca", filepath.Join(data, "ca.crt"), "--enroll-secret-file", filepath.Join(data, "enroll-secret"),
			"--agents", fmt.Sprint(agents), "--duration", dur.String(), "--interval", interval.String(), "--token-file", filepath.Join(data, "admin.token"), "--scans", "30")
		rss, cpu := peakRSS(b, srv.Process.Pid), cpuSeconds(srv.Process.Pid)
		srv.Process.Signal(os.Interrupt)
		srv.Wait()
		b.Logf("fleetsim: %s", raw)
		b.Logf("collector peak RSS %.0f MB, CPU %.0f s", rss, cpu)
		perDay := historyPerHostDay(b, filepath.Join(data, dbFile), r.Agents)
		var size int64
		for _, f := range []string{dbFile, dbFile + "-wal"} {
			if fi, err := os.Stat(filepath.Join(data, f)); err == nil {
				size += fi.Size()
			}
		}
		reportFleet(b, r, rss)
		b.ReportMetric(perDay/1024, "history-KB/host/day")
		b.ReportMetric(float64(size)/float64(r.Agents)/1024, "store-KB/host")
		b.ReportMetric(cpu, "collector-cpu-s")
	}
}

func reportFleet(b *testing.B, r fleetResult, rss float64) {
	b.ReportMetric(float64(r.Connected), "connected")
	b.ReportMetric(float64(r.Errors), "errors")
	b.ReportMetric(r.ConnectS, "connect-s")
	b.ReportMetric(r.AckP50, "ack-p50-ms")
	b.ReportMetric(r.AckP99, "ack-p99-ms")
	b.ReportMetric(r.ScanP50, "scan-p50-ms")
	b.ReportMetric(r.ScanP99, "scan-p99-ms")
	b.ReportMetric(r.HostsMS, "hosts-ms")
	b.ReportMetric(float64(r.HostsOnline), "hosts-online")
	b.ReportMetric(rss, "peak-RSS-MB")
	if r.Agents > 0 {
		b.ReportMetric(rss/float64(r.Agents)*1000, "MB/1000-agents")
	}
}

// historyPerHostDay is the history the deltas of the run wrote (its
// message bodies, not the first full states), per host and day.
func historyPerHostDay(b *testing.B, path string, hosts int) float64 {
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro")
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	var sum, from, to sql.NullInt64
	if err := db.QueryRow(`SELECT sum(length(body) + 40), min(at), max(at) FROM changes WHERE seq > 1`).Scan(&sum, &from, &to); err != nil || !sum.Valid || to.Int64 <= from.Int64 {
		return 0
	}
	span := float64(to.Int64-from.Int64) / 1000
	return float64(sum.Int64) / float64(hosts) / span * 86400
}

// BenchmarkFleetReplicas: two collector replicas on one PostgreSQL
// (fsync on), N agents all connected to replica A; replica B lists them
// and is asked their live scans.
func BenchmarkFleetReplicas(b *testing.B) {
	agents := fleetEnv("FARMWATCH_FLEET_AGENTS", 2000)
	dur := fleetDur("FARMWATCH_FLEET_DURATION", 3*time.Minute)
	interval := fleetDur("FARMWATCH_FLEET_INTERVAL", 30*time.Second)
	bin, err := pgtest.Bin()
	if err != nil {
		b.Skipf("skipping: %v", err)
	}
	cl, err := pgtest.Start(bin, pgtest.Options{Durable: true})
	if err != nil {
		b.Fatal(err)
	}
	defer cl.Stop()
	dir := b.TempDir()
	collector, sim := fleetBins(b, dir)
	data := filepath.Join(dir, "data")
	if out, err := exec.Command(collector, "init", "--data", data).CombinedOutput(); err != nil {
		b.Fatalf("init: %v\n%s", err, out)
	}
	dsn, err := cl.CreateDB(context.Background(), "fleet")
	if err != nil {
		b.Fatal(err)
	}
	if out, err := exec.Command(collector, "migrate", "--from", data, "--to", dsn).CombinedOutput(); err != nil {
		b.Fatalf("migrate: %v\n%s", err, out)
	}
	for b.Loop() {
		var procs []*exec.Cmd
		addr := map[string]string{}
		for _, name := range []string{"a", "b"} {
			addr[name] = fleetAddr(b)
			p := exec.Command(collector, "serve", "--data", data, "--listen", addr[name], "--metrics", "", "--store", dsn, "--max-conns-per-peer", fmt.Sprint(agents+100))
			var log bytes.Buffer
			p.Stdout, p.Stderr = &log, &log
			if err := p.Start(); err != nil {
				b.Fatal(err)
			}
			procs = append(procs, p)
		}
		time.Sleep(2 * time.Second)
		r, raw := runFleetsim(b, sim, "--collector", addr["a"], "--scan-via", addr["b"], "--ca", filepath.Join(data, "ca.crt"), "--enroll-secret-file", filepath.Join(data, "enroll-secret"),
			"--agents", fmt.Sprint(agents), "--duration", dur.String(), "--interval", interval.String(), "--token-file", filepath.Join(data, "admin.token"), "--scans", "30",
			"--identities", filepath.Join(dir, "identities"))
		rssA, rssB := peakRSS(b, procs[0].Process.Pid), peakRSS(b, procs[1].Process.Pid)
		cpuA := cpuSeconds(procs[0].Process.Pid)
		for _, p := range procs {
			p.Process.Signal(os.Interrupt)
			p.Wait()
		}
		b.Logf("fleetsim: %s", raw)
		b.Logf("replica A peak RSS %.0f MB (CPU %.0f s), replica B %.0f MB", rssA, cpuA, rssB)
		reportFleet(b, r, rssA)
		b.ReportMetric(rssB, "B-peak-RSS-MB")
		b.ReportMetric(cpuA, "collector-cpu-s")
		conn, err := pgx.Connect(context.Background(), dsn)
		if err != nil {
			b.Fatal(err)
		}
		var sum, from, to int64
		var size int64
		conn.QueryRow(context.Background(), `SELECT coalesce(sum(length(body) + 40), 0), coalesce(min(at), 0), coalesce(max(at), 0) FROM changes WHERE seq > 1`).Scan(&sum, &from, &to)
		conn.QueryRow(context.Background(), `SELECT pg_database_size(current_database())`).Scan(&size)
		conn.Close(context.Background())
		if to > from {
			b.ReportMetric(float64(sum)/float64(r.Agents)/(float64(to-from)/1000)*86400/1024, "history-KB/host/day")
		}
		b.ReportMetric(float64(size)/float64(r.Agents)/1024, "store-KB/host")
	}
}
