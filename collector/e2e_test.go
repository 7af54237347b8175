package main

import (
	"encoding/json"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// build builds a command of this module into dir.
func build(t *testing.T, dir, pkg, name string) string {
	t.Helper()
	out := filepath.Join(dir, name)
	cmd := exec.Command("go", "build", "-o", out, pkg)
	cmd.Dir = ".."
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build %s: %v\n%s", pkg, err, b)
	}
	return out
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

type proc struct {
	cmd *exec.Cmd
	log *syncBuffer // exec writes it while a test reads it
}

func startProc(t *testing.T, bin string, args ...string) *proc {
	t.Helper()
	p := &proc{cmd: exec.Command(bin, args...), log: &syncBuffer{}}
	p.cmd.Stdout, p.cmd.Stderr = p.log, p.log
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.cmd.Process.Kill(); p.cmd.Wait() })
	return p
}

// TestCollectorAndAgents runs the real binaries: a collector made by init,
// an agent on this machine and one replaying a PiKVM host, the fleet
// commands, and a collector restart the agents survive.
func TestCollectorAndAgents(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binaries")
	}
	dir := t.TempDir()
	collector := build(t, dir, "./collector", "farmwatch-collector")
	agent := build(t, dir, "./agent/cmd/farmwatch-agentd", "farmwatch-agentd")
	data := filepath.Join(dir, "data")
	if out, err := exec.Command(collector, "init", "--data", data).CombinedOutput(); err != nil {
		t.Fatalf("init: %v\n%s", err, out)
	}
	if out, err := exec.Command(collector, "init", "--data", data).CombinedOutput(); err == nil || !strings.Contains(string(out), "refusing to overwrite") {
		t.Fatalf("second init: %v\n%s", err, out)
	}
	addr, maddr := freeAddr(t), freeAddr(t)
	srv := startProc(t, collector, "serve", "--data", data, "--listen", addr, "--metrics", maddr)
	agentArgs := func(state string, extra ...string) []string {
		return append([]string{"run", "--collector", addr, "--ca", filepath.Join(data, "ca.crt"),
			"--enroll-secret-file", filepath.Join(data, "enroll-secret"), "--state", filepath.Join(dir, state), "--interval", "1s"}, extra...)
	}
	a1 := startProc(t, agent, agentArgs("a1")...)
	a2 := startProc(t, agent, agentArgs("a2", "--snapshot", "../testdata/hosts/linux-pikvm-v4plus.txtar")...)
	env := append(os.Environ(), "FARMWATCH_COLLECTOR="+addr, "FARMWATCH_CA="+filepath.Join(data, "ca.crt"))
	cli := func(args ...string) ([]byte, error) {
		cmd := exec.Command(collector, append(args, "--token-file", filepath.Join(data, "admin.token"), "--format", "json")...)
		cmd.Env = env
		return cmd.Output()
	}
	type hostRow struct {
		Hostname string `json:"hostname"`
		Online   bool   `json:"online"`
		Findings int    `json:"findings"`
		Worst    string `json:"worst"`
	}
	waitHosts := func(what string) []hostRow {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for {
			out, err := cli("hosts")
			var hs []hostRow
			// Both online, and each has sent its first state (the
			// replayed PiKVM host has findings from it).
			if err == nil && json.Unmarshal(out, &hs) == nil && len(hs) == 2 && hs[0].Online && hs[1].Online && slices.ContainsFunc(hs, func(h hostRow) bool { return h.Hostname == "linux-pikvm-v4plus" && h.Findings > 0 }) {
				return hs
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: hosts never both online: %v %s\ncollector:\n%s", what, err, out, srv.log)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	hs := waitHosts("start")
	var pikvm *hostRow
	for i := range hs {
		if hs[i].Hostname == "linux-pikvm-v4plus" {
			pikvm = &hs[i]
		}
	}
	if pikvm == nil || pikvm.Worst != "critical" || pikvm.Findings == 0 {
		t.Fatalf("hosts = %+v", hs)
	}
	out, err := cli("findings", "--host", "linux-pikvm-v4plus")
	if err != nil || !strings.Contains(string(out), `"rule": "ipkvm-usb-and-display"`) || !strings.Contains(string(out), `"state": "open"`) {
		t.Fatalf("findings: %v\n%s", err, out)
	}
	out, err = cli("findings", "--severity", "critical")
	var crit []map[string]any
	if err != nil || json.Unmarshal(out, &crit) != nil || len(crit) == 0 {
		t.Fatalf("findings --severity critical: %v\n%s", err, out)
	}
	for _, f := range crit {
		if f["severity"] != "critical" {
			t.Fatalf("findings --severity critical gave %v", f)
		}
	}
	bad := exec.Command(collector, "findings", "--severity", "dire", "--token-file", filepath.Join(data, "admin.token"))
	bad.Env = env
	if b, err := bad.CombinedOutput(); err == nil || !strings.Contains(string(b), `findings: --severity: `) || !strings.Contains(string(b), "dire") {
		t.Fatalf("a bad severity: %v %s", err, b)
	}
	// Settled agents give back what they touched only to start
	// (agent/workingset); what follows runs on trimmed agents.
	for _, a := range []*proc{a1, a2} {
		waitUntil(t, "the agent evicts its working set", 30*time.Second, func() bool {
			return strings.Contains(a.log.String(), "working set evicted")
		}, a)
	}
	start := time.Now()
	out, err = cli("scan", "linux-pikvm-v4plus")
	if err != nil || !strings.Contains(string(out), `"verdict": "REMOTE-CONTROLLED? likely`) {
		t.Fatalf("scan: %v\n%s", err, out)
	}
	t.Logf("scan round trip through the CLI: %s", time.Since(start))
	get := func(path string) string { return httpGet(t, "http://"+maddr+path) }
	if h := get("/healthz"); h != "ok\n" {
		t.Fatalf("healthz %q", h)
	}
	if m := get("/metrics"); !strings.Contains(m, "farmwatch_agents_connected 2") || !strings.Contains(m, `farmwatch_agent_messages_total{type="full"}`) {
		t.Fatalf("metrics:\n%s", m)
	}
	// A helpdesk token may not make tokens.
	out, err = cli("token", "create", "--role", "helpdesk")
	var tok map[string]string
	if err != nil || json.Unmarshal(out, &tok) != nil || tok["token"] == "" {
		t.Fatalf("token create: %v %s", err, out)
	}
	os.WriteFile(filepath.Join(dir, "helpdesk.token"), []byte(tok["token"]+"\n"), 0o600)
	cmd := exec.Command(collector, "token", "create", "--role", "admin", "--token-file", filepath.Join(dir, "helpdesk.token"))
	cmd.Env = env
	if b, err := cmd.CombinedOutput(); err == nil || !strings.Contains(string(b), "needs the admin role") {
		t.Fatalf("helpdesk made an admin token: %v %s", err, b)
	}
	// The collector stops and comes back: the agents reconnect by themselves.
	srv.cmd.Process.Signal(os.Interrupt)
	srv.cmd.Wait()
	startProc(t, collector, "serve", "--data", data, "--listen", addr, "--metrics", maddr)
	waitHosts("after the collector restarted")
}

// TestLossless: changes made while the collector is killed (-9) reach it
// after it restarts, from the agent's spool; an agent killed (-9) and
// restarted goes on with its sequence and its spool.
func TestLossless(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binaries")
	}
	f := newFleet(t)
	dir := f.dir
	f.serve("--metrics", "")
	args := f.agentArgs("agent")
	ag := startProc(t, f.agent, args...)
	hostname, _ := os.Hostname()
	waitFor := func(what string, ok func(string) bool) {
		t.Helper()
		waitUntil(t, what, 30*time.Second, func() bool {
			out, _ := f.cli("host", hostname)
			return ok(string(out))
		}, f.srv, ag)
	}
	standin := func(name string) *exec.Cmd {
		p := filepath.Join(dir, name)
		b, err := os.ReadFile("/bin/sleep")
		if err != nil {
			t.Skip("no /bin/sleep to copy")
		}
		os.WriteFile(p, b, 0o755)
		c := exec.Command(p, "300")
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Process.Kill(); c.Wait() })
		return c
	}
	waitFor("the first state", func(j string) bool { return strings.Contains(j, `"kind": "process"`) })

	// kill -9 the collector; a remote-access tool starts while it is down.
	f.kill()
	standin("anydesk")
	time.Sleep(3 * time.Second) // several scans land in the spool only
	f.serve("--metrics", "")
	waitFor("the change made while the collector was down", func(j string) bool {
		return strings.Contains(j, `"name": "anydesk"`) && strings.Contains(j, `"rule": "remote-access-tool"`)
	})

	// kill -9 the agent; a second tool starts; the restarted agent reports it.
	ag.cmd.Process.Kill()
	ag.cmd.Wait()
	standin("rustdesk")
	ag = startProc(t, f.agent, args...)
	waitFor("the change made while the agent was down", func(j string) bool { return strings.Contains(j, `"name": "rustdesk"`) })
	if strings.Contains(ag.log.String(), "spool damaged") {
		t.Errorf("a kill -9 between fsyncs damaged the spool:\n%s", ag.log)
	}
}
