//go:build linux

package procevent

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/farmwatch/farmwatch/agent/host"
	"github.com/farmwatch/farmwatch/agent/process"
	fwv1 "github.com/farmwatch/farmwatch/proto/farmwatch/v1"
)

// TestConnectorUnavailable: an agent that may not subscribe to the process
// connector (here: this test's binary run as nobody, without
// CAP_NET_ADMIN) polls /proc, and its mode says so and why; a copy of
// sleep named anydesk started meanwhile is still seen start to end.
func TestConnectorUnavailable(t *testing.T) {
	if os.Getenv("PROCEVENT_CHILD") != "" {
		connectorChild(t)
		return
	}
	if testing.Short() {
		t.Skip("runs this test's binary as another user")
	}
	if os.Getuid() != 0 {
		t.Skip("needs root to run a child as nobody")
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir, err := os.MkdirTemp("", "procevent")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "procevent.test")
	copyFile(t, self, bin)
	copyFile(t, "/bin/sleep", filepath.Join(dir, "anydesk"))
	cmd := exec.Command(bin, "-test.run", "^TestConnectorUnavailable$", "-test.v")
	cmd.Env = append(os.Environ(), "PROCEVENT_CHILD=1", "PROCEVENT_TOOL="+filepath.Join(dir, "anydesk"))
	cmd.Dir = dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	out, err := cmd.CombinedOutput()
	t.Logf("%s", out)
	if err != nil {
		t.Fatalf("child as nobody: %v", err)
	}
}

func connectorChild(t *testing.T) {
	h, err := host.Live()
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	tool := os.Getenv("PROCEVENT_TOOL")
	w := New(Config{Host: h, Judge: func(p *fwv1.Process) bool { return p.Exe == tool }})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	deadline := time.Now().Add(10 * time.Second)
	for !strings.HasPrefix(w.Mode(), "poll") && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	mode := w.Mode()
	t.Logf("mode as nobody: %s", mode)
	if !strings.HasPrefix(mode, "poll /proc") || !strings.Contains(mode, "unavailable") {
		cancel()
		<-done
		t.Fatalf("mode %q: want polling /proc, saying why the connector is unavailable", mode)
	}
	time.Sleep(1500 * time.Millisecond) // a first poll: the table as it was
	if out, err := exec.Command(tool, "2").CombinedOutput(); err != nil {
		t.Fatalf("%s 2: %v %s", tool, err, out)
	}
	time.Sleep(2 * PollInterval)
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	ended := w.Ended()
	if len(ended) != 1 || ended[0].Source != "poll" {
		t.Fatalf("ended %+v: want the 2 s anydesk, seen by polling", ended)
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	src, err := os.Open(from)
	if err != nil {
		t.Skipf("open %s: %v", from, err)
	}
	defer src.Close()
	dst, err := os.OpenFile(to, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(dst, src); err != nil {
		t.Fatal(err)
	}
	if err := dst.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestWatcherFeedsCache: with the process connector, the watcher tells the
// resident agent's process cache of every exec, so a trusted cache that
// reads no known process still sees a program executed in place.
func TestWatcherFeedsCache(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for the connector to settle")
	}
	h, err := host.Live()
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a", "fwfeedtest"), filepath.Join(dir, "b", "fwfeedtest")
	for _, p := range []string{a, b} {
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		copyFile(t, "/bin/sh", p)
	}
	flag := filepath.Join(dir, "go")
	cmd := exec.Command(a, "-c", `while [ ! -e "$1" ]; do sleep 0.05; done; exec "$2" -c 'sleep 60'`, "x", flag, b)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()

	c := process.NewCache()
	w := New(Config{Host: h, Processes: c})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	defer func() { cancel(); <-done }()
	deadline := time.Now().Add(5 * time.Second)
	for w.Mode() == "not started" && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(ackTimeout + 100*time.Millisecond)
	if !strings.HasPrefix(w.Mode(), "netlink") {
		t.Skipf("the process connector is not available here (%s)", w.Mode())
	}
	list := func() []*fwv1.Process {
		t.Helper()
		ps, err := c.List(ctx, h)
		if err != nil {
			t.Fatal(err)
		}
		return ps
	}
	list()
	time.Sleep(process.FollowSettle)
	list() // after the source settled: trusted from now
	list()
	if st := c.Stats(); st.Trusted == 0 {
		t.Fatalf("the cache does not trust the connector: %+v", st)
	}
	if err := os.WriteFile(flag, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	pid := cmd.Process.Pid
	for deadline := time.Now().Add(10 * time.Second); ; {
		if got, _ := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid)); got == b {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the test process never executed the second copy")
		}
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(200 * time.Millisecond) // the event's way through the socket
	for _, p := range list() {
		if p.Pid == int32(pid) {
			if p.Exe != b {
				t.Fatalf("after an exec the connector reported: exe %s, want %s", p.Exe, b)
			}
			return
		}
	}
	t.Fatalf("pid %d not listed", pid)
}
