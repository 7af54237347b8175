package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestHostGoesDark: an unprivileged user's process with a 70 KB argument
// (or a long Java class path) once made the collector refuse the agent's
// message, and the agent sent that spool record again forever, so nothing
// after it was delivered. Now the agent cuts every string to the wire's
// limits and marks the observation, the collector takes it, and later
// changes keep arriving.
func TestHostGoesDark(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binaries")
	}
	f := newFleet(t)
	f.serve("--metrics", "")
	state := filepath.Join(f.dir, "agent")
	ch := newChurn(t, f.dir, "dark-host", 3)
	ch.argLen = 70_000
	ch.write(t, 1)
	cfg := filepath.Join(f.dir, "agent.yaml")
	os.WriteFile(cfg, []byte("max_cpu_percent: 0\n"), 0o600)
	ag := startProc(t, f.agent, f.agentArgs("agent", "--snapshot", ch.file, "--config", cfg)...)
	db := f.db()
	caughtUp := func() bool { s := agentSeq(t, state); return s > 0 && lastSeq(db, "dark-host") == s }
	waitUntil(t, "the first state", 60*time.Second, caughtUp, f.srv, ag)

	out, err := f.cli("host", "dark-host")
	if err != nil {
		t.Fatal(err)
	}
	var rep struct {
		Observations []struct {
			Kind      string `json:"kind"`
			Name      string `json:"name"`
			Cmdline   string `json:"cmdline"`
			Truncated bool   `json:"truncated"`
		} `json:"observations"`
	}
	if err := json.Unmarshal(out, &rep); err != nil {
		t.Fatal(err)
	}
	found := 0
	for _, o := range rep.Observations {
		if o.Kind == "process" && strings.HasPrefix(o.Name, "fw-v1-") {
			found++
			if !o.Truncated || len(o.Cmdline) > 64<<10 || len(o.Cmdline) < 60_000 {
				t.Errorf("%s: truncated %v, command line of %d bytes", o.Name, o.Truncated, len(o.Cmdline))
			}
		}
	}
	if found != 3 {
		t.Fatalf("%d of the long-argument processes are at the collector, want 3", found)
	}
	// Delivery is not wedged: the next version arrives.
	before := agentSeq(t, state)
	ch.write(t, 2)
	waitUntil(t, "the second version", 60*time.Second, func() bool { return agentSeq(t, state) > before && caughtUp() }, f.srv, ag)
	out, _ = f.cli("hosts")
	var hs []struct {
		Hostname string `json:"hostname"`
		Refused  uint64 `json:"refused"`
	}
	json.Unmarshal(out, &hs)
	if len(hs) != 1 || hs[0].Refused != 0 {
		t.Fatalf("hosts: %s", out)
	}
}

// TestDamagedStateFiles: garbage in the agent's sequence file once stopped
// it (exit 2, a crash loop as a service), and garbage in its host id made
// it enrol in a loop. Now each damaged file is set aside as NAME.bad, the
// agent goes on, and the collector gets its state again.
func TestDamagedStateFiles(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binaries")
	}
	f := newFleet(t)
	f.serve("--metrics", "")
	state := filepath.Join(f.dir, "agent")
	ch := newChurn(t, f.dir, "damaged-host", 2)
	ch.write(t, 1)
	cfg := filepath.Join(f.dir, "agent.yaml")
	os.WriteFile(cfg, []byte("max_cpu_percent: 0\n"), 0o600)
	db := f.db()
	ag := startProc(t, f.agent, f.agentArgs("agent", "--snapshot", ch.file, "--config", cfg)...)
	caughtUp := func() bool { s := agentSeq(t, state); return s > 0 && lastSeq(db, "damaged-host") == s }
	waitUntil(t, "the first state", 60*time.Second, caughtUp, f.srv, ag)
	ag.cmd.Process.Kill()
	ag.cmd.Wait()

	// A sequence file of garbage: the agent numbers on from its spool;
	// the collector sees the numbering went back and asks for a resync.
	os.WriteFile(filepath.Join(state, "seq"), []byte("\xff\xfe not a number\n"), 0o600)
	ag = startProc(t, f.agent, f.agentArgs("agent", "--snapshot", ch.file, "--config", cfg)...)
	ch.write(t, 2)
	waitUntil(t, "the state after a damaged seq", 60*time.Second, func() bool {
		out, err := f.cli("history", "damaged-host", "--kind", "process")
		return err == nil && strings.Contains(string(out), "fw-v2-0")
	}, f.srv, ag)
	if _, err := os.Stat(filepath.Join(state, "seq.bad")); err != nil {
		t.Errorf("seq.bad: %v", err)
	}
	if !strings.Contains(ag.log.String(), "sequence file damaged") {
		t.Errorf("the damage was not logged:\n%s", ag.log)
	}
	ag.cmd.Process.Kill()
	ag.cmd.Wait()

	// A host id of garbage: set aside; the agent enrols once, as a new
	// host of the same name, and stays up.
	os.WriteFile(filepath.Join(state, "host-id"), []byte("not-a-uuid\x00\x01\n"), 0o600)
	ag = startProc(t, f.agent, f.agentArgs("agent", "--snapshot", ch.file, "--config", cfg)...)
	waitUntil(t, "a second host of that name online", 60*time.Second, func() bool {
		out, err := f.cli("hosts")
		var hs []struct {
			Hostname string `json:"hostname"`
			Online   bool   `json:"online"`
		}
		if err != nil || json.Unmarshal(out, &hs) != nil || len(hs) != 2 {
			return false
		}
		return hs[0].Online || hs[1].Online
	}, f.srv, ag)
	if _, err := os.Stat(filepath.Join(state, "host-id.bad")); err != nil {
		t.Errorf("host-id.bad: %v", err)
	}
	time.Sleep(3 * time.Second) // a looping agent would enrol again and again
	if n := strings.Count(ag.log.String(), "enrolled"); n != 1 {
		t.Errorf("enrolled %d times:\n%s", n, ag.log)
	}
	if err := ag.cmd.Process.Signal(syscall.Signal(0)); err != nil {
		t.Fatalf("the agent exited (%v):\n%s", err, ag.log)
	}
}
