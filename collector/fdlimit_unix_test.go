//go:build unix

package main

import (
	"context"
	"fmt"
	"net"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestFleetsimFDLimit: fleetsim refuses to start, saying why, when the
// hard limit on open files is below what its agents need.
func TestFleetsimFDLimit(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binaries")
	}
	var l syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
		t.Fatal(err)
	}
	if l.Max > 1<<24 {
		t.Skipf("skipping: the hard limit on open files is %d, more agents than fleetsim takes", l.Max)
	}
	dir := t.TempDir()
	sim := build(t, dir, "./collector/fleetsim", "fleetsim")
	out, err := exec.Command(sim, "--ca", "/nonexistent", "--enroll-secret-file", "/nonexistent", "--agents", fmt.Sprint(l.Max)).CombinedOutput()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 2 {
		t.Fatalf("fleetsim with %d agents: %v\n%s", l.Max, err, out)
	}
	if want := fmt.Sprintf("refusing to start: %d agents need %d file descriptors: the hard limit on open files is %d", l.Max, l.Max+256, l.Max); !strings.Contains(string(out), want) {
		t.Errorf("fleetsim said %q; want %q", out, want)
	}
}

// TestCollectorOutOfFiles: a collector under a low limit on open files
// says so when it starts, says so again (once, not per connection) when
// connections arrive past it, and serves again once they leave.
func TestCollectorOutOfFiles(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binaries")
	}
	dir := t.TempDir()
	collector := build(t, dir, "./collector", "farmwatch-collector")
	data := filepath.Join(dir, "data")
	if out, err := exec.Command(collector, "init", "--data", data).CombinedOutput(); err != nil {
		t.Fatalf("init: %v\n%s", err, out)
	}
	addr := freeAddr(t)
	const limit = 400
	srv := startProc(t, "/bin/sh", "-c", fmt.Sprintf(`ulimit -n %d && exec "$0" "$@"`, limit), collector,
		"serve", "--data", data, "--listen", addr, "--metrics", "", "--max-conns-per-peer", "10000")
	hosts := func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		return exec.CommandContext(ctx, collector, "hosts", "--collector", addr, "--ca", filepath.Join(data, "ca.crt"),
			"--token-file", filepath.Join(data, "admin.token")).Run()
	}
	waitUntil(t, "the collector serving", 20*time.Second, func() bool { return hosts() == nil }, srv)
	if !strings.Contains(srv.log.String(), "open file limit is low") || !strings.Contains(srv.log.String(), fmt.Sprintf("agents=%d hard_limit=%d open_files=%d", limit-fdReserve, limit, limit)) {
		t.Errorf("no warning of the low limit at start:\n%s", srv.log)
	}
	// Bare TCP connections that never start TLS: each holds a descriptor
	// of the collector until its handshake times out (10 s).
	var conns []net.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for range 2 * limit {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatalf("dial: %v", err)
		}
		conns = append(conns, c)
	}
	waitUntil(t, "a warning that connections were not accepted", 20*time.Second, func() bool {
		return strings.Contains(srv.log.String(), "out of file descriptors")
	}, srv)
	if n := strings.Count(srv.log.String(), "out of file descriptors"); n != 1 {
		t.Errorf("%d warnings of the same minute; want 1:\n%s", n, srv.log)
	}
	for _, c := range conns {
		c.Close()
	}
	conns = nil
	waitUntil(t, "the collector serving again", 30*time.Second, func() bool { return hosts() == nil }, srv)
}
