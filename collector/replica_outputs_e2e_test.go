package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// TestReplicaOutputs: two replicas, each with its own data directory and
// the same webhook, one receiver counting deliveries. Findings applied by
// either replica are delivered once each; the replica sending is killed
// (-9), the other takes the sending over from what the database says was
// sent, and a later finding is delivered once too, with nothing sent
// again.
func TestReplicaOutputs(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binaries")
	}
	f := newPGFleet(t)
	dataB := filepath.Join(f.dir, "data-b")
	if out, err := exec.Command("cp", "-a", f.data, dataB).CombinedOutput(); err != nil {
		t.Fatalf("cp: %v %s", err, out)
	}
	secretFile := filepath.Join(f.dir, "hook.secret")
	os.WriteFile(secretFile, []byte("hook-secret\n"), 0o600)
	rcv := &hookReceiver{t: t, addr: freeAddr(t), secret: []byte("hook-secret")}
	rcv.start()
	defer rcv.stop()
	hook := []string{"--webhook", "http://" + rcv.addr + "/farmwatch", "--webhook-secret-file", secretFile}
	addrs := map[string]string{"a": freeAddr(t), "b": freeAddr(t)}
	serve := func(name string) *replicaProc {
		data := f.data
		if name == "b" {
			data = dataB
		}
		return &replicaProc{addr: addrs[name], p: startProc(t, f.collector, append([]string{"serve", "--data", data, "--listen", addrs[name],
			"--metrics", "", "--store", f.dsn}, hook...)...)}
	}
	// a starts alone, and so is the one that sends; then b.
	reps := map[string]*replicaProc{"a": serve("a")}
	waitUntil(t, "the outputs' first look", 30*time.Second, func() bool {
		var ok bool
		f.db.QueryRow(context.Background(), `SELECT body IS NOT NULL FROM output_state WHERE id = 1`).Scan(&ok)
		return ok
	}, reps["a"].p)
	reps["b"] = serve("b")
	logs := func() []*proc { return []*proc{reps["a"].p, reps["b"].p} }
	agent := func(name, on, snapshot string) *proc {
		return startProc(t, f.agent, "run", "--collector", addrs[on], "--ca", filepath.Join(f.data, "ca.crt"),
			"--enroll-secret-file", filepath.Join(f.data, "enroll-secret"), "--state", filepath.Join(f.dir, name), "--interval", "1s",
			"--snapshot", "../testdata/hosts/"+snapshot, "--hostname", name)
	}
	agent("pikvm-host", "a", "linux-pikvm-v4plus.txtar")
	agent("anydesk-host", "b", "linux-anydesk-rustdesk.txtar")
	waitUntil(t, "both hosts' findings delivered", 60*time.Second, func() bool {
		return rcv.has("Create", "ipkvm-usb-and-display", "pikvm-host") && rcv.has("Create", "remote-access-tool", "anydesk-host")
	}, logs()...)
	// Every replica compares every 2 s: a few rounds more would send any
	// duplicate.
	time.Sleep(6 * time.Second)
	counts := func() (map[string]int, int) {
		rcv.mu.Lock()
		defer rcv.mu.Unlock()
		n := map[string]int{}
		for _, e := range rcv.events {
			host := ""
			if len(e.Resources) > 0 {
				host = e.Resources[0].Name
			}
			n[fmt.Sprintf("%s %s %s %s", e.ActivityName, e.FindingInfo.Analytic.UID, host, e.FindingInfo.UID)]++
		}
		return n, len(rcv.events)
	}
	first, total := counts()
	for k, c := range first {
		if c != 1 {
			t.Errorf("%s delivered %d times", k, c)
		}
	}
	t.Logf("%d events delivered", total)

	// The sender dies; the other replica takes over.
	reps["a"].kill()
	agent("late-host", "b", "linux-anydesk-rustdesk.txtar")
	waitUntil(t, "the late host's finding delivered by the other replica", 60*time.Second, func() bool {
		return rcv.has("Create", "remote-access-tool", "late-host")
	}, reps["b"].p)
	time.Sleep(6 * time.Second)
	after, _ := counts()
	for k, c := range after {
		if c != 1 {
			t.Errorf("after the sender's death: %s delivered %d times", k, c)
		}
	}
	if rcv.bad != 0 {
		t.Errorf("%d deliveries with a bad signature or body", rcv.bad)
	}
}
