package main

import (
	"bufio"
	"cmp"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/farmwatch/farmwatch/rules"
	_ "modernc.org/sqlite" // read the collector's store from the test
)

// churn writes simulated hosts whose processes change from one version to
// the next: version v runs k processes of its own (pids 100000+v*1000+i), each
// with a long command line, on top of a captured clean host. An agent run
// with --snapshot reads the file again at every scan, so rewriting it
// (atomically) changes what the agent sees.
type churn struct {
	file     string
	base     string
	hostname string
	k        int
	argLen   int // of each process's argument; 1500 when zero
}

func newChurn(t *testing.T, dir, hostname string, k int) *churn {
	t.Helper()
	b, err := os.ReadFile("../testdata/hosts/linux-clean.txtar")
	if err != nil {
		t.Fatal(err)
	}
	base := strings.Replace(string(b), `"hostname": "vm"`, `"hostname": "`+hostname+`"`, 1)
	if base == string(b) {
		t.Fatal("linux-clean.txtar: hostname not found")
	}
	return &churn{file: filepath.Join(dir, hostname+".txtar"), base: base, hostname: hostname, k: k}
}

func (c *churn) pid(v, i int) int { return 100000 + v*1000 + i }

func (c *churn) name(v, i int) string { return fmt.Sprintf("fw-v%d-%d", v, i) }

// write makes version v the host's state.
func (c *churn) write(t *testing.T, v int) {
	t.Helper()
	var sb strings.Builder
	sb.WriteString(c.base)
	arg := strings.Repeat("x", cmp.Or(c.argLen, 1500))
	for i := 0; i < c.k; i++ {
		pid, name := c.pid(v, i), c.name(v, i)
		fmt.Fprintf(&sb, "-- root/proc/%d/stat --\n%d (%s) S 1 %d 0 0 -1 4194560 0 0 0 0 0 0 0 0 20 0 1 0 %d 1000 10 18446744073709551615 0 0 0 0 0 0 0 0 0 0 0 0 17 0 0 0 0 0 0 0 0 0 0 0 0 0 0\n",
			pid, pid, name, pid, 100+v)
		fmt.Fprintf(&sb, "-- root/proc/%d/status --\nName:\t%s\nPid:\t%d\nPPid:\t1\nUid:\t1000\t1000\t1000\t1000\nGid:\t1000\t1000\t1000\t1000\n", pid, name, pid)
		enc := base64.StdEncoding.EncodeToString([]byte("/opt/churn/" + name + "\x00--payload=" + arg + "\x00"))
		sb.WriteString(fmt.Sprintf("-- root/proc/%d/cmdline (base64) --\n", pid))
		for len(enc) > 76 {
			sb.WriteString(enc[:76] + "\n")
			enc = enc[76:]
		}
		sb.WriteString(enc + "\n")
	}
	tmp := c.file + ".tmp"
	if err := os.WriteFile(tmp, []byte(sb.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, c.file); err != nil {
		t.Fatal(err)
	}
}

// fleet is a collector install and the real binaries, for the tests below.
type fleet struct {
	t                  *testing.T
	dir, data, addr    string
	collector, agent   string // agent: farmwatch-agentd
	agentCmd           string // farmwatch-agent, built by command()
	srv                *proc
	env                []string
	collectorExtraArgs []string
}

func newFleet(t *testing.T) *fleet {
	t.Helper()
	dir := t.TempDir()
	f := &fleet{t: t, dir: dir, data: filepath.Join(dir, "data")}
	f.collector = build(t, dir, "./collector", "farmwatch-collector")
	f.agent = build(t, dir, "./agent/cmd/farmwatch-agentd", "farmwatch-agentd")
	if out, err := exec.Command(f.collector, "init", "--data", f.data).CombinedOutput(); err != nil {
		t.Fatalf("init: %v\n%s", err, out)
	}
	f.addr = freeAddr(t)
	f.env = append(os.Environ(), "FARMWATCH_COLLECTOR="+f.addr, "FARMWATCH_CA="+filepath.Join(f.data, "ca.crt"))
	return f
}

func (f *fleet) serve(extra ...string) {
	f.srv = startProc(f.t, f.collector, append([]string{"serve", "--data", f.data, "--listen", f.addr}, extra...)...)
}

func (f *fleet) kill() {
	f.srv.cmd.Process.Kill()
	f.srv.cmd.Wait()
}

// command builds farmwatch-agent, the agent's command (helpdesk scan,
// status), once per fleet; f.agent is farmwatch-agentd, what the service
// runs.
func (f *fleet) command() string {
	f.t.Helper()
	if f.agentCmd == "" {
		f.agentCmd = build(f.t, f.dir, "./agent", "farmwatch-agent")
	}
	return f.agentCmd
}

func (f *fleet) agentArgs(state string, extra ...string) []string {
	return append([]string{"run", "--collector", f.addr, "--ca", filepath.Join(f.data, "ca.crt"),
		"--enroll-secret-file", filepath.Join(f.data, "enroll-secret"), "--state", filepath.Join(f.dir, state), "--interval", "1s"}, extra...)
}

func (f *fleet) cli(args ...string) ([]byte, error) {
	cmd := exec.Command(f.collector, append(args, "--token-file", filepath.Join(f.data, "admin.token"), "--format", "json")...)
	cmd.Env = f.env
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return out, fmt.Errorf("%v: %s", err, stderr.String())
	}
	return out, nil
}

// db opens the collector's store read-only, as a second process would.
func (f *fleet) db() *sql.DB {
	f.t.Helper()
	db, err := sql.Open("sqlite", "file:"+filepath.Join(f.data, "farmwatch.db")+"?mode=ro&_pragma=busy_timeout(5000)")
	if err != nil {
		f.t.Fatal(err)
	}
	f.t.Cleanup(func() { db.Close() })
	return db
}

// lastSeq is the highest message of hostname the store has applied.
func lastSeq(db *sql.DB, hostname string) uint64 {
	var n uint64
	db.QueryRow(`SELECT last_seq FROM hosts WHERE hostname = ?`, hostname).Scan(&n)
	return n
}

// agentSeq is the last sequence number the agent used.
func agentSeq(t *testing.T, state string) uint64 {
	b, err := os.ReadFile(filepath.Join(state, "seq"))
	if err != nil {
		return 0
	}
	n, _ := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
	return n
}

func waitUntil(t *testing.T, what string, d time.Duration, ok func() bool, logs ...*proc) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !ok() {
		if time.Now().After(deadline) {
			var sb strings.Builder
			for _, p := range logs {
				sb.WriteString(p.log.String())
				sb.WriteString("\n----\n")
			}
			t.Fatalf("%s never happened\n%s", what, sb.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

type change struct {
	Seq  uint64 `json:"seq"`
	Op   string `json:"op"`
	Key  string `json:"key"`
	Kind string `json:"kind"`
	What string `json:"what"`
}

// TestExactlyOnce: an agent streams changing observations while the
// collector is killed (-9) while down, killed again in the middle of
// ingesting the agent's backlog, and the agent is killed (-9) too. Every
// change the agent saw is in the store's history exactly once.
func TestExactlyOnce(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binaries")
	}
	f := newFleet(t)
	f.serve("--metrics", "")
	state := filepath.Join(f.dir, "agent")
	ch := newChurn(t, f.dir, "churn-host", 150)
	ch.write(t, 1)
	// Unpacking this simulated host takes a tenth of a second of CPU,
	// which at a 1 s interval would trip the agent's CPU self-limit.
	cfg := filepath.Join(f.dir, "agent.yaml")
	if err := os.WriteFile(cfg, []byte("max_cpu_percent: 0\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ag := startProc(t, f.agent, f.agentArgs("agent", "--snapshot", ch.file, "--config", cfg)...)
	db := f.db()
	hold := func(v int) { // each version lives until the agent has queued it
		before := agentSeq(t, state)
		ch.write(t, v)
		waitUntil(t, fmt.Sprintf("version %d queued", v), 30*time.Second, func() bool { return agentSeq(t, state) > before }, ag)
		time.Sleep(time.Second) // and through about one more scan
	}
	// Caught up: everything the agent queued is applied.
	caughtUp := func() bool {
		s := agentSeq(t, state)
		return s > 0 && lastSeq(db, "churn-host") == s
	}
	waitUntil(t, "the first state", 30*time.Second, caughtUp, f.srv, ag)
	hold(2)
	hold(3)

	// The collector is killed; the agent spools versions 4 to 9.
	f.kill()
	for v := 4; v <= 9; v++ {
		hold(v)
	}
	backlogFrom, backlogTo := lastSeq(db, "churn-host"), agentSeq(t, state)
	if backlogTo-backlogFrom < 5 {
		t.Fatalf("backlog of %d messages (%d..%d); want one per version", backlogTo-backlogFrom, backlogFrom, backlogTo)
	}
	// Killed again as soon as it has applied part of the backlog, twice.
	midway := 0
	for round := 0; round < 2; round++ {
		before := lastSeq(db, "churn-host")
		f.serve("--metrics", "")
		waitUntil(t, "ingest of the backlog", 30*time.Second, func() bool { return lastSeq(db, "churn-host") > before }, f.srv, ag)
		f.kill()
		if at := lastSeq(db, "churn-host"); at < backlogTo {
			midway++
			t.Logf("collector killed mid-ingest at #%d of %d..%d", at, backlogFrom, backlogTo)
		}
	}
	if midway == 0 {
		t.Logf("the kills came after the whole backlog was applied (no mid-ingest kill this run)")
	}
	f.serve("--metrics", "")
	waitUntil(t, "the backlog applied", 30*time.Second, caughtUp, f.srv, ag)

	// The agent is killed; it comes back with its sequence and spool.
	ag.cmd.Process.Kill()
	ag.cmd.Wait()
	killedAt := agentSeq(t, state)
	ag = startProc(t, f.agent, f.agentArgs("agent", "--snapshot", ch.file, "--config", cfg)...)
	waitUntil(t, "the restarted agent's first scan", 30*time.Second, func() bool { return agentSeq(t, state) > killedAt }, ag)
	for v := 10; v <= 12; v++ {
		hold(v)
	}
	waitUntil(t, "the last version", 30*time.Second, caughtUp, f.srv, ag)

	out, err := f.cli("history", "churn-host", "--kind", "process", "--limit", "100000")
	if err != nil {
		t.Fatal(err)
	}
	var cs []change
	if err := json.Unmarshal(out, &cs); err != nil {
		t.Fatal(err)
	}
	count := map[string]int{}
	for _, c := range cs {
		count[c.Op+" "+c.Key]++
	}
	keys := map[string]string{} // process name -> its key
	for _, c := range cs {
		if name, _, ok := strings.Cut(strings.TrimPrefix(c.What, "process "), " (pid"); ok {
			keys[name] = c.Key
		}
	}
	keyOf := func(v, i int) string { return keys[ch.name(v, i)] }
	for v := 1; v <= 12; v++ {
		for i := 0; i < ch.k; i++ {
			k := keyOf(v, i)
			if k == "" {
				t.Fatalf("version %d process %d never arrived", v, i)
			}
			if n := count["added "+k]; n != 1 {
				t.Errorf("%s added %d times", k, n)
			}
			wantRemoved := 1
			if v == 12 {
				wantRemoved = 0
			}
			if n := count["removed "+k]; n != wantRemoved {
				t.Errorf("%s removed %d times, want %d", k, n, wantRemoved)
			}
		}
	}
	for k, n := range count {
		if n != 1 {
			t.Errorf("%s: %d times", k, n)
		}
	}
	if strings.Contains(ag.log.String(), "spool damaged") {
		t.Errorf("a kill -9 damaged the spool:\n%s", ag.log)
	}
}

// TestSpoolFull: with the collector away and a small spool, the agent drops
// its oldest messages, counts them, and the collector shows the count once
// it is back; the host's state is still the agent's latest.
func TestSpoolFull(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binaries")
	}
	f := newFleet(t)
	ch := newChurn(t, f.dir, "spool-host", 150)
	ch.write(t, 1)
	cfg := filepath.Join(f.dir, "agent.yaml")
	if err := os.WriteFile(cfg, []byte("spool_mb: 1\nmax_cpu_percent: 0\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	// The collector is not there yet: the agent cannot even enrol, and
	// spools what it sees.
	ag := startProc(t, f.agent, f.agentArgs("agent", "--snapshot", ch.file, "--config", cfg)...)
	for v := 2; v <= 6; v++ {
		time.Sleep(2500 * time.Millisecond)
		ch.write(t, v)
	}
	time.Sleep(2500 * time.Millisecond)
	maddr := freeAddr(t)
	f.serve("--metrics", maddr)
	type hostRow struct {
		Hostname     string `json:"hostname"`
		SpoolDropped uint64 `json:"spool_dropped"`
	}
	var row hostRow
	waitUntil(t, "the dropped count at the collector", 30*time.Second, func() bool {
		out, err := f.cli("hosts")
		var hs []hostRow
		if err != nil || json.Unmarshal(out, &hs) != nil || len(hs) != 1 {
			return false
		}
		row = hs[0]
		return row.SpoolDropped > 0
	}, f.srv, ag)
	// The state is the latest version, whatever was dropped.
	waitUntil(t, "the latest state", 30*time.Second, func() bool {
		out, err := f.cli("host", "spool-host")
		return err == nil && strings.Contains(string(out), ch.name(6, 0)) && !strings.Contains(string(out), ch.name(5, 0))
	}, f.srv, ag)
	out, err := f.cli("hosts")
	var hs []hostRow
	if err != nil || json.Unmarshal(out, &hs) != nil || len(hs) != 1 {
		t.Fatalf("hosts: %v %s", err, out)
	}
	row = hs[0]
	t.Logf("agent reported %d messages dropped", row.SpoolDropped)
	// Six versions of ~0.5 MB each through a 1 MB spool: some messages
	// dropped, never more than the agent made. It scans at most once a
	// second (1 s interval, ±10 %), and ran about 17.5 s without the
	// collector and a few seconds with it: at most 25 messages. (A delta
	// whose base was dropped is refused at the collector, and the agent
	// then drops what it still had queued, counted, for a full state: so
	// the count is of messages, not of versions.)
	if row.SpoolDropped < 2 || row.SpoolDropped > 25 {
		t.Errorf("%d messages dropped; want some, and no more than the agent can have made", row.SpoolDropped)
	}
	m := httpGet(t, "http://"+maddr+"/metrics")
	if !strings.Contains(m, "farmwatch_agent_spool_dropped_max "+strconv.FormatUint(row.SpoolDropped, 10)) {
		t.Fatalf("metrics do not show the drops:\n%s", m)
	}
}

func httpGet(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("%s: %s %s", url, resp.Status, b)
	}
	return string(b)
}

// TestRuleBundle: the organisation's rules reach a running agent, are kept
// in its state directory (so a helpdesk scan with the agent's config uses
// them), are pushed again when the files change, and a broken file is
// refused at the collector without disturbing the agents.
func TestRuleBundle(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binaries")
	}
	f := newFleet(t)
	ruleDir := filepath.Join(f.dir, "org-rules")
	os.MkdirAll(ruleDir, 0o755)
	rule := func(id string) string {
		return fmt.Sprintf("  - id: %s\n    title: bash runs\n    severity: medium\n    scope: process\n    description: d\n    tags: []\n    sources: [test]\n    when: process.name == \"bash\"\n", id)
	}
	writeRules := func(body string) string {
		t.Helper()
		if err := os.WriteFile(filepath.Join(ruleDir, "org.yaml"), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		b, err := rules.NewBundle([]rules.Source{{Name: "org-rules/org.yaml", Data: []byte(body)}})
		if err != nil {
			t.Fatal(err)
		}
		return b.Version
	}
	v1 := writeRules("rules:\n" + rule("org-bash"))
	maddr := freeAddr(t)
	f.serve("--rules", ruleDir, "--reload", "500ms", "--metrics", maddr)
	ch := newChurn(t, f.dir, "bundle-host", 0)
	ch.write(t, 1)
	state := filepath.Join(f.dir, "agent")
	ag := startProc(t, f.agent, f.agentArgs("agent", "--snapshot", ch.file)...)
	type hostRow struct {
		RulesVersion string `json:"rules_version"`
		RulesError   string `json:"rules_error"`
	}
	waitVersion := func(want string) {
		t.Helper()
		waitUntil(t, "rules "+want+" at the agent", 30*time.Second, func() bool {
			out, err := f.cli("hosts")
			var hs []hostRow
			return err == nil && json.Unmarshal(out, &hs) == nil && len(hs) == 1 && hs[0].RulesVersion == want && hs[0].RulesError == ""
		}, f.srv, ag)
	}
	waitVersion(v1)
	waitUntil(t, "the org's finding", 30*time.Second, func() bool {
		out, err := f.cli("findings", "--host", "bundle-host")
		return err == nil && strings.Contains(string(out), `"rule": "org-bash"`)
	}, f.srv, ag)
	// A helpdesk scan with the agent's config judges by the same rules.
	cfg := filepath.Join(f.dir, "agent.yaml")
	os.WriteFile(cfg, []byte("state: "+state+"\n"), 0o600)
	out, err := exec.Command(f.command(), "scan", "--snapshot", ch.file, "--config", cfg, "--format", "json").Output()
	if err != nil || !strings.Contains(string(out), `"rule": "org-bash"`) {
		t.Fatalf("helpdesk scan with the agent's config: %v\n%s", err, out)
	}

	// The files change: every agent gets the new bundle.
	v2 := writeRules("rules:\n" + rule("org-bash") + rule("org-bash-again"))
	waitVersion(v2)
	waitUntil(t, "the new rule's finding", 30*time.Second, func() bool {
		out, err := f.cli("findings", "--host", "bundle-host")
		return err == nil && strings.Contains(string(out), `"rule": "org-bash-again"`)
	}, f.srv, ag)

	// A broken file is refused at the collector; the agents keep v2.
	writeRules("rules:\n  - id: broken\n    when: process.nme == 1\n")
	waitUntil(t, "the collector's refusal", 10*time.Second, func() bool {
		return strings.Contains(f.srv.log.String(), "rules not reloaded")
	}, f.srv, ag)
	waitVersion(v2)
	if m := httpGet(t, "http://"+maddr+"/metrics"); !strings.Contains(m, `farmwatch_rule_bundles_total{result="applied"} 2`) {
		t.Fatalf("metrics:\n%s", m)
	}
}

// TestReenroll: when the collector no longer accepts an agent's node key
// (its store was restored from a backup, say), the agent enrols again as
// the same host and goes on streaming.
func TestReenroll(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binaries")
	}
	f := newFleet(t)
	f.serve("--metrics", "")
	ch := newChurn(t, f.dir, "reenroll-host", 0)
	ch.write(t, 1)
	ag := startProc(t, f.agent, f.agentArgs("agent", "--snapshot", ch.file)...)
	type hostRow struct {
		HostID string `json:"host_id"`
		Online bool   `json:"online"`
	}
	hosts := func() []hostRow {
		out, err := f.cli("hosts")
		var hs []hostRow
		if err != nil || json.Unmarshal(out, &hs) != nil {
			return nil
		}
		return hs
	}
	online := func() bool { hs := hosts(); return len(hs) == 1 && hs[0].Online }
	waitUntil(t, "the agent online", 30*time.Second, online, f.srv, ag)
	id := hosts()[0].HostID
	f.kill()
	db, err := sql.Open("sqlite", "file:"+filepath.Join(f.data, "farmwatch.db"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`UPDATE hosts SET node_key_hash = x'00'`); err != nil {
		t.Fatal(err)
	}
	db.Close()
	f.serve("--metrics", "")
	// Its key no longer matches: the enroll secret alone must not give it
	// a new one, so it waits for an admin, once logged, without looping.
	waitUntil(t, "the agent waiting for approval", 30*time.Second, func() bool {
		return strings.Contains(ag.log.String(), "enrolling again") && strings.Contains(ag.log.String(), "waiting for an admin")
	}, f.srv, ag)
	if online() {
		t.Fatal("the agent got in without its key or an approval")
	}
	out, err := f.cli("host", "approve", id)
	if err != nil {
		t.Fatalf("host approve: %v %s", err, out)
	}
	waitUntil(t, "the agent enrolled again", 60*time.Second, online, f.srv, ag)
	if hs := hosts(); len(hs) != 1 || hs[0].HostID != id {
		t.Fatalf("after re-enrolling: %+v, want the one host %s", hs, id)
	}
	if n := strings.Count(ag.log.String(), "waiting for an admin"); n != 1 {
		t.Errorf("the wait was logged %d times", n)
	}
	// Reset: the agent's key is refused at once, and it enrols again as
	// the same host without an approval.
	if out, err := f.cli("host", "reset", id); err != nil {
		t.Fatalf("host reset: %v %s", err, out)
	}
	enrolled := strings.Count(ag.log.String(), "INF enrolled")
	waitUntil(t, "the agent enrolled after the reset", 60*time.Second, func() bool {
		return strings.Count(ag.log.String(), "INF enrolled") > enrolled && online()
	}, f.srv, ag)
	if hs := hosts(); len(hs) != 1 || hs[0].HostID != id {
		t.Fatalf("after the reset: %+v, want the one host %s", hs, id)
	}
}

// connectProxy is an HTTP CONNECT proxy that records where it was asked
// to go.
type connectProxy struct {
	addr    string
	mu      sync.Mutex
	targets []string
}

func startConnectProxy(t *testing.T) *connectProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &connectProxy{addr: ln.Addr().String()}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go p.serve(c)
		}
	}()
	return p
}

func (p *connectProxy) serve(c net.Conn) {
	defer c.Close()
	br := bufio.NewReader(c)
	req, err := http.ReadRequest(br)
	if err != nil || req.Method != http.MethodConnect {
		io.WriteString(c, "HTTP/1.1 405 Method Not Allowed\r\n\r\n")
		return
	}
	p.mu.Lock()
	p.targets = append(p.targets, req.Host)
	p.mu.Unlock()
	up, err := net.Dial("tcp", req.Host)
	if err != nil {
		io.WriteString(c, "HTTP/1.1 502 Bad Gateway\r\n\r\n")
		return
	}
	defer up.Close()
	io.WriteString(c, "HTTP/1.1 200 Connection established\r\n\r\n")
	go func() { io.Copy(up, br); up.(*net.TCPConn).CloseWrite() }()
	io.Copy(c, up)
}

func (p *connectProxy) seen() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.targets...)
}

// TestHTTPSProxy: the agent reaches its collector through the proxy that
// HTTPS_PROXY names, as IT sets it for the machine.
func TestHTTPSProxy(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binaries")
	}
	// Go's proxy rules never proxy loopback addresses, so the collector is
	// reached on this machine's own non-loopback address.
	var ip string
	addrs, _ := net.InterfaceAddrs()
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && n.IP.To4() != nil && !n.IP.IsLoopback() && !n.IP.IsLinkLocalUnicast() {
			ip = n.IP.String()
			break
		}
	}
	if ip == "" {
		t.Skip("no non-loopback IPv4 address on this machine")
	}
	dir := t.TempDir()
	f := &fleet{t: t, dir: dir, data: filepath.Join(dir, "data")}
	f.collector = build(t, dir, "./collector", "farmwatch-collector")
	f.agent = build(t, dir, "./agent/cmd/farmwatch-agentd", "farmwatch-agentd")
	if out, err := exec.Command(f.collector, "init", "--data", f.data, "--name", ip).CombinedOutput(); err != nil {
		t.Fatalf("init: %v\n%s", err, out)
	}
	ln, err := net.Listen("tcp", ip+":0")
	if err != nil {
		t.Skipf("cannot listen on %s: %v", ip, err)
	}
	f.addr = ln.Addr().String()
	ln.Close()
	f.env = append(os.Environ(), "FARMWATCH_COLLECTOR="+f.addr, "FARMWATCH_CA="+filepath.Join(f.data, "ca.crt"), "NO_PROXY=", "no_proxy=")
	f.serve("--metrics", "")
	proxy := startConnectProxy(t)
	ch := newChurn(t, dir, "proxied-host", 0)
	ch.write(t, 1)
	ag := &proc{cmd: exec.Command(f.agent, f.agentArgs("agent", "--snapshot", ch.file)...), log: &syncBuffer{}}
	ag.cmd.Env = append(os.Environ(), "HTTPS_PROXY=http://"+proxy.addr, "https_proxy=", "NO_PROXY=", "no_proxy=")
	ag.cmd.Stdout, ag.cmd.Stderr = ag.log, ag.log
	if err := ag.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ag.cmd.Process.Kill(); ag.cmd.Wait() })
	waitUntil(t, "the proxied agent online", 30*time.Second, func() bool {
		out, err := f.cli("hosts")
		return err == nil && strings.Contains(string(out), `"online": true`)
	}, f.srv, ag)
	if seen := proxy.seen(); len(seen) == 0 || seen[0] != f.addr {
		t.Fatalf("the proxy saw %v, want CONNECT %s", seen, f.addr)
	}
}

// TestOrgPush: the organisation's expectations (--org) judge every host
// and reach the agents; when they change, findings follow.
func TestOrgPush(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binaries")
	}
	f := newFleet(t)
	org := filepath.Join(f.dir, "org.yaml")
	os.WriteFile(org, []byte("countries: [US]\nlocales: [en_US]\ntimezones: [America/New_York]\n"), 0o644)
	f.serve("--org", org, "--reload", "500ms", "--metrics", "")
	ag := startProc(t, f.agent, f.agentArgs("agent", "--snapshot", "../testdata/hosts/linux-korean-fcitx5.txtar", "--hostname", "kr-host")...)
	korean := func() (bool, error) {
		out, err := f.cli("findings", "--host", "kr-host")
		return strings.Contains(string(out), `"rule": "korean-input`), err
	}
	waitUntil(t, "Korean input reported for a US organisation", 30*time.Second, func() bool { k, err := korean(); return err == nil && k }, f.srv, ag)
	// The organisation now works in Korea: the same host is unremarkable.
	os.WriteFile(org, []byte("countries: [KR]\nlocales: [ko_KR]\n"), 0o644)
	waitUntil(t, "Korean input silent for a Korean organisation", 30*time.Second, func() bool {
		out, err := f.cli("findings", "--host", "kr-host")
		return err == nil && !strings.Contains(string(out), `"rule": "korean-input`) && strings.HasPrefix(strings.TrimSpace(string(out)), "[")
	}, f.srv, ag)
}
