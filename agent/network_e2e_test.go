package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// TestEndToEndNetwork runs the real binary's live scan inside a network
// namespace of the test's own, where a real tun interface carries the
// default route, while a real process named ssh runs with a dynamic
// forward (-fND). It expects default-route-via-tunnel on the route and
// ssh-tunnel on the process. The namespace (and the tun in it) and the
// process are removed however the test ends; the machine's own interfaces
// and routes are never touched.
func TestEndToEndNetwork(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("network namespaces are Linux only")
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root to make a network namespace and a tun device (run: sudo go test ./agent -run TestEndToEndNetwork)")
	}
	ipCmd, err := exec.LookPath("ip")
	if err != nil {
		t.Skip("needs the ip command (iproute2)")
	}
	if _, err := os.Stat("/dev/net/tun"); err != nil {
		t.Skip("needs /dev/net/tun")
	}
	bin := buildAgent(t)
	dir := t.TempDir()
	ssh := filepath.Join(dir, "ssh")
	if out, err := exec.Command("go", "build", "-o", ssh, "../testdata/hosts/standin").CombinedOutput(); err != nil {
		t.Fatalf("build the stand-in: %v\n%s", err, out)
	}

	ns := fmt.Sprintf("fw-e2e-%d", os.Getpid())
	ip := func(args ...string) {
		t.Helper()
		if out, err := exec.Command(ipCmd, args...).CombinedOutput(); err != nil {
			t.Fatalf("ip %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	ip("netns", "add", ns)
	t.Cleanup(func() { exec.Command(ipCmd, "netns", "del", ns).Run() })
	ip("-n", ns, "link", "set", "lo", "up")
	ip("-n", ns, "tuntap", "add", "dev", "tun7", "mode", "tun")
	ip("-n", ns, "link", "set", "tun7", "up")
	ip("-n", ns, "addr", "add", "10.99.0.2/24", "dev", "tun7")
	ip("-n", ns, "route", "add", "default", "dev", "tun7")

	proc := exec.Command(ipCmd, "netns", "exec", ns, ssh, "-fND", "1080", "farm@203.0.113.9")
	if err := proc.Start(); err != nil {
		t.Fatal(err)
	}
	pid := proc.Process.Pid // ip netns exec execs the program: same pid
	t.Cleanup(func() { proc.Process.Kill(); proc.Wait() })
	time.Sleep(200 * time.Millisecond)

	cmd := exec.Command(ipCmd, "netns", "exec", ns, bin, "scan", "--format", "json", "--fail-on", "medium")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatal(err)
	}
	if code := cmd.ProcessState.ExitCode(); code != exitFindings {
		t.Fatalf("exit %d, want %d (findings at or above medium): %s\n%s", code, exitFindings, stderr.String(), out)
	}
	var s scanJSON
	if err := json.Unmarshal(out, &s); err != nil {
		t.Fatalf("scan output is not JSON: %v\n%s", err, out)
	}
	var routeKey, procKey string
	for _, o := range s.Observations {
		if o.Key == "route/0.0.0.0/0@tun7/" {
			routeKey = o.Key
		}
		if o.Kind == "process" && o.Pid == pid {
			procKey = o.Key
			if o.Name != "ssh" || o.Exe != ssh {
				t.Errorf("process %+v, want name ssh exe %s", o, ssh)
			}
		}
	}
	if routeKey == "" || procKey == "" {
		t.Fatalf("the scan did not see the tunnel's default route (%q) or the ssh process %d (%q)", routeKey, pid, procKey)
	}
	want := map[string]string{"default-route-via-tunnel": routeKey, "ssh-tunnel": procKey}
	for _, f := range s.Findings {
		if k, ok := want[f.Rule]; ok && len(f.Evidence) > 0 && f.Evidence[0] == k {
			if f.Severity != "medium" {
				t.Errorf("%s: severity %s, want medium", f.Rule, f.Severity)
			}
			delete(want, f.Rule)
		}
	}
	if len(want) > 0 {
		t.Errorf("missing findings %v; got %+v", want, s.Findings)
	}
}
