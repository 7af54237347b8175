package main

import (
	"encoding/json"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestFleetsim runs collector/fleetsim against the real collector: a few
// simulated agents, each enrolled and on its own connection, send their
// states and deltas, answer live scans asked of the collector, and are
// listed by hosts. Its JSON summary carries the fields the issue names,
// and its counts agree with what the collector stored. No figure of speed
// is checked here: those are BenchmarkFleetSQLite's.
func TestFleetsim(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binaries")
	}
	dir := t.TempDir()
	collector := build(t, dir, "./collector", "farmwatch-collector")
	sim := build(t, dir, "./collector/fleetsim", "fleetsim")
	data := filepath.Join(dir, "data")
	if out, err := exec.Command(collector, "init", "--data", data).CombinedOutput(); err != nil {
		t.Fatalf("init: %v\n%s", err, out)
	}
	addr := freeAddr(t)
	srv := startProc(t, collector, "serve", "--data", data, "--listen", addr, "--metrics", "")
	const agents = 12
	args := []string{"--collector", addr, "--ca", filepath.Join(data, "ca.crt"), "--enroll-secret-file", filepath.Join(data, "enroll-secret"),
		"--agents", fmt.Sprint(agents), "--duration", "4s", "--interval", "1s", "--processes", "60", "--churn", "0.1",
		"--token-file", filepath.Join(data, "admin.token"), "--scans", "3", "--format", "json"}
	var out []byte
	waitUntil(t, "the collector serving", 20*time.Second, func() bool {
		c := exec.Command(collector, "hosts", "--collector", addr, "--ca", filepath.Join(data, "ca.crt"), "--token-file", filepath.Join(data, "admin.token"))
		return c.Run() == nil
	}, srv)
	cmd := exec.Command(sim, args...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("fleetsim: %v\n%s\n%s\ncollector:\n%s", err, out, stderr.String(), srv.log)
	}
	var sum map[string]any
	if err := json.Unmarshal(out, &sum); err != nil {
		t.Fatalf("fleetsim printed %s: %v", out, err)
	}
	for _, k := range []string{"connected", "errors", "messages_acked", "ack_p50_ms", "ack_p99_ms", "scan_p50_ms", "scan_p99_ms", "hosts_ms", "fd_limit"} {
		if _, ok := sum[k].(float64); !ok {
			t.Errorf("the summary has no number %q: %s", k, out)
		}
	}
	num := func(k string) int { v, _ := sum[k].(float64); return int(v) }
	if num("connected") != agents || num("errors") != 0 || num("hosts_listed") != agents || num("hosts_online") != agents {
		t.Errorf("want %d connected, listed and online, no errors: %s", agents, out)
	}
	// Each first state is acknowledged, and then deltas are (4 s at a 1 s
	// interval: at least one more per agent).
	if num("first_state_acks") < agents || num("messages_acked") < num("first_state_acks")+agents {
		t.Errorf("too few acknowledgements: %s", out)
	}
	if num("scans") != 3 || num("scan_errors") != 0 || sum["scan_p50_ms"].(float64) <= 0 {
		t.Errorf("want 3 live scans answered: %s", out)
	}
	if num("fd_limit") < agents {
		t.Errorf("fd limit %d below the agents: %s", num("fd_limit"), out)
	}
	// The collector stored every agent's messages: its history of one
	// simulated host has the first state and deltas.
	hosts, err := exec.Command(collector, "hosts", "--collector", addr, "--ca", filepath.Join(data, "ca.crt"),
		"--token-file", filepath.Join(data, "admin.token"), "--format", "json").Output()
	var hs []struct {
		Hostname string `json:"hostname"`
	}
	if err != nil || json.Unmarshal(hosts, &hs) != nil || len(hs) != agents {
		t.Fatalf("hosts: %v %s", err, hosts)
	}
	hist, err := exec.Command(collector, "history", hs[0].Hostname, "--collector", addr, "--ca", filepath.Join(data, "ca.crt"),
		"--token-file", filepath.Join(data, "admin.token"), "--format", "json", "--limit", "100000").Output()
	if err != nil || !strings.Contains(string(hist), `"added"`) || !strings.Contains(string(hist), `"removed"`) {
		t.Errorf("history of %s: %v\n%.2000s", hs[0].Hostname, err, hist)
	}
}
