package main

import (
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"
)

// buildAgent builds the real binary once per test run.
func buildAgent(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "farmwatch-agent")
	if runtime.GOOS == "windows" {
		bin += ".exe"
	}
	cmd := exec.Command("go", "build", "-o", bin, ".")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

type scanJSON struct {
	Host struct {
		OS       string `json:"os"`
		Hostname string `json:"hostname"`
	} `json:"host"`
	Verdict      string `json:"verdict"`
	Observations []struct {
		Kind string `json:"kind"`
		Key  string `json:"key"`
		Pid  int    `json:"pid"`
		Name string `json:"name"`
		Exe  string `json:"exe"`
	} `json:"observations"`
	Findings []struct {
		Rule     string   `json:"rule"`
		Severity string   `json:"severity"`
		Title    string   `json:"title"`
		Label    string   `json:"label"`
		Evidence []string `json:"evidence"`
	} `json:"findings"`
}

func scanLive(t *testing.T, bin string, args ...string) (int, scanJSON, string) {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"scan", "--format", "json"}, args...)...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	var s scanJSON
	if code != exitError {
		if err := json.Unmarshal(out, &s); err != nil {
			t.Fatalf("scan output is not JSON: %v\n%s", err, out)
		}
	}
	return code, s, stderr.String()
}

// TestEndToEnd starts a real process named like a remote-access tool (a
// copy of sleep renamed anydesk), scans this machine with the real binary,
// and expects the finding and exit status 1; with the process gone, 0.
func TestEndToEnd(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the stand-in process is built from /bin/sleep")
	}
	bin := buildAgent(t)
	dir := t.TempDir()
	fake := filepath.Join(dir, "anydesk")
	src, err := os.Open("/bin/sleep")
	if err != nil {
		t.Fatal(err)
	}
	dst, err := os.OpenFile(fake, os.O_CREATE|os.O_WRONLY, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(dst, src)
	src.Close()
	dst.Close()

	// Before: this machine must be clean for the test to mean anything.
	code, before, stderr := scanLive(t, bin)
	if code != exitOK {
		t.Fatalf("the machine is not clean before the test (exit %d): %v %s", code, before.Findings, stderr)
	}

	proc := exec.Command(fake, "300")
	if err := proc.Start(); err != nil {
		t.Fatal(err)
	}
	pid := proc.Process.Pid
	defer func() { proc.Process.Kill(); proc.Wait() }()
	time.Sleep(100 * time.Millisecond)

	code, s, stderr := scanLive(t, bin)
	if code != exitFindings {
		t.Fatalf("exit %d with anydesk running, want 1; findings %+v; stderr %s", code, s.Findings, stderr)
	}
	key := ""
	for _, o := range s.Observations {
		if o.Kind == "process" && o.Pid == pid {
			key = o.Key
			if o.Name != "anydesk" || o.Exe != fake {
				t.Errorf("observation %+v, want name anydesk exe %s", o, fake)
			}
		}
	}
	if key == "" {
		t.Fatalf("no observation of pid %d", pid)
	}
	rulesHit := map[string]string{}
	for _, f := range s.Findings {
		for _, e := range f.Evidence {
			if e == key {
				rulesHit[f.Rule] = f.Severity + " " + f.Label
			}
		}
	}
	if rulesHit["remote-access-tool"] != "medium AnyDesk" {
		t.Errorf("remote-access-tool on %s: %q; all: %v", key, rulesHit["remote-access-tool"], rulesHit)
	}
	if rulesHit["remote-access-tool-unusual-path"] != "high AnyDesk" {
		t.Errorf("remote-access-tool-unusual-path on %s (exe in a temp dir): %q", key, rulesHit["remote-access-tool-unusual-path"])
	}
	if !strings.Contains(s.Verdict, "AnyDesk") {
		t.Errorf("verdict %q does not name AnyDesk", s.Verdict)
	}

	// --fail-on critical: the same finding no longer fails the scan.
	if code, _, _ := scanLive(t, bin, "--fail-on", "critical"); code != exitOK {
		t.Errorf("--fail-on critical: exit %d, want 0", code)
	}

	proc.Process.Kill()
	proc.Wait()
	code, s, stderr = scanLive(t, bin)
	if code != exitOK {
		t.Fatalf("exit %d after the process ended, want 0: %+v %s", code, s.Findings, stderr)
	}
	for _, o := range s.Observations {
		if o.Kind == "process" && o.Pid == pid {
			t.Fatalf("pid %d still observed after it ended", pid)
		}
	}
}

// TestEndToEndSnapshot records this machine with the real binary and scans
// the recording: the same processes must come back.
func TestEndToEndSnapshot(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("linux only")
	}
	bin := buildAgent(t)
	snap := filepath.Join(t.TempDir(), "me.txtar")
	proc := exec.Command("/bin/sleep", "300")
	if err := proc.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { proc.Process.Kill(); proc.Wait() }()
	if out, err := exec.Command(bin, "snapshot", "-o", snap).CombinedOutput(); err != nil {
		t.Fatalf("snapshot: %v\n%s", err, out)
	}
	code, s, stderr := scanLive(t, bin, "--snapshot", snap)
	if code == exitError {
		t.Fatalf("scan of snapshot: %s", stderr)
	}
	found := false
	for _, o := range s.Observations {
		if o.Kind == "process" && o.Pid == proc.Process.Pid && o.Name == "sleep" {
			found = true
		}
	}
	if !found {
		t.Fatalf("pid %s not in the replayed snapshot", strconv.Itoa(proc.Process.Pid))
	}
	// A corrupt copy is refused with exit 2 and the file named.
	b, _ := os.ReadFile(snap)
	bad := filepath.Join(t.TempDir(), "bad.txtar")
	os.WriteFile(bad, append(b, []byte("\n-- nonsense/x --\ny\n")...), 0o644)
	code, _, stderr = scanLive(t, bin, "--snapshot", bad)
	if code != exitError || !strings.Contains(stderr, bad) || !strings.Contains(stderr, "nonsense/x") {
		t.Fatalf("corrupt snapshot: exit %d, stderr %q", code, stderr)
	}
}
