package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// TestShortLivedTool (issue 15): the agent scans every 10 minutes; a copy
// of sleep named anydesk lives for 3 seconds between two scans; the
// collector records it with its start and end. Once with the OS's process
// events (the process connector, where this machine lets the agent
// subscribe; else the agent says so and polls), once polling only.
func TestShortLivedTool(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binaries")
	}
	if runtime.GOOS != "linux" {
		t.Skip("process events are tested live on linux; ETW and the macOS poll on recordings")
	}
	sleep, err := os.ReadFile("/bin/sleep")
	if err != nil {
		t.Skip("no /bin/sleep to copy")
	}
	hostname, _ := os.Hostname()
	for _, mode := range []string{"", "poll"} {
		t.Run("events="+mode, func(t *testing.T) {
			// A collector each: both agents are this host, by one name.
			f := newFleet(t)
			f.serve("--metrics", "")
			conf := filepath.Join(f.dir, "agent-"+mode+".yaml")
			if err := os.WriteFile(conf, []byte("process_events: "+mode+"\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			state := filepath.Join(f.dir, "state-"+mode)
			args := f.agentArgs("state-"+mode, "--config", conf)
			for i, a := range args {
				if a == "--interval" {
					args[i+1] = "10m"
				}
			}
			ag := startProc(t, f.agent, args...)
			waitUntil(t, "the agent says how it sees processes", 30*time.Second, func() bool {
				_, err := os.Stat(filepath.Join(state, "process-events.status"))
				return err == nil
			}, f.srv, ag)
			status, _ := os.ReadFile(filepath.Join(state, "process-events.status"))
			t.Logf("process events: %s", strings.TrimSpace(string(status)))
			if mode == "poll" && !strings.HasPrefix(string(status), "poll") {
				t.Fatalf("process_events: poll, and the agent says %q", status)
			}
			// farmwatch-agent status says it (its exit code is the service
			// manager's, which has no farmwatch service here).
			out, _ := exec.Command(f.command(), "status", "--config", conf, "--state", state).Output()
			if !strings.Contains(string(out), "process events: "+string(status)) {
				t.Fatalf("farmwatch-agent status says\n%s\nnot %q", out, status)
			}
			tool := filepath.Join(f.dir, "anydesk")
			if err := os.WriteFile(tool, sleep, 0o755); err != nil {
				t.Fatal(err)
			}
			started := time.Now()
			if out, err := exec.Command(tool, "3").CombinedOutput(); err != nil {
				t.Fatalf("%s 3: %v %s", tool, err, out)
			}
			ended := time.Now()
			var got map[string]any
			waitUntil(t, "the collector records the 3 s anydesk with its start and end", 30*time.Second, func() bool {
				out, err := f.cli("history", hostname, "--kind", "process")
				if err != nil {
					return false
				}
				var rows []struct {
					Observation struct {
						Process map[string]any `json:"process"`
					} `json:"observation"`
				}
				if json.Unmarshal(out, &rows) != nil {
					return false
				}
				for _, r := range rows {
					p := r.Observation.Process
					if p["exe"] == tool && p["end_time"] != nil {
						got = p
						return true
					}
				}
				return false
			}, f.srv, ag)
			start, err1 := time.Parse(time.RFC3339Nano, got["start_time"].(string))
			end, err2 := time.Parse(time.RFC3339Nano, got["end_time"].(string))
			if err1 != nil || err2 != nil {
				t.Fatalf("start %v end %v: %v %v", got["start_time"], got["end_time"], err1, err2)
			}
			// Process start times are in clock ticks (10 ms); a polled
			// end is seen within the poll period.
			if start.Before(started.Add(-time.Second)) || start.After(ended) || end.Before(start.Add(2*time.Second)) || end.After(ended.Add(3*time.Second)) {
				t.Fatalf("anydesk ran from %s to %s, recorded from %s to %s", started.Format(time.StampMilli), ended.Format(time.StampMilli), start.Format(time.StampMilli), end.Format(time.StampMilli))
			}
			t.Logf("recorded %s to %s (ran %s to %s)", start.Format(time.StampMilli), end.Format(time.StampMilli), started.Format(time.StampMilli), ended.Format(time.StampMilli))
			out, err := f.cli("findings", "--host", hostname, "--all")
			if err != nil || !strings.Contains(string(out), `"rule": "remote-access-tool"`) {
				t.Fatalf("findings: %v\n%s", err, out)
			}
			ag.cmd.Process.Kill()
			ag.cmd.Wait()
		})
	}
}
