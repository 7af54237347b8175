package process

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/farmwatch/farmwatch/agent/host"
	fwv1 "github.com/farmwatch/farmwatch/proto/farmwatch/v1"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/testing/protocmp"

	"github.com/google/go-cmp/cmp"
)

// TestCacheLive lists this machine twice through a Cache: the second
// listing takes the known processes from the cache and gives what a full
// read gives; a process that executes another program under the same name
// is read again, not taken from the cache.
func TestCacheLive(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the cache is for /proc")
	}
	dir := t.TempDir()
	a, b := shCopies(t, dir)
	flag := filepath.Join(dir, "go")
	cmd := exec.Command(a, "-c", `while [ ! -e "$1" ]; do sleep 0.05; done; exec "$2" -c 'sleep 60'`, "x", flag, b)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	pid := int32(cmd.Process.Pid)

	h, err := host.Live()
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	c := NewCache()
	first, err := c.List(ctx, h)
	if err != nil {
		t.Fatal(err)
	}
	if st := c.Stats(); st.Reused != 0 || st.Read < 2 {
		t.Fatalf("first listing: %+v, want every process read", st)
	}
	if p := find(first, pid); p == nil || p.Exe != a {
		t.Fatalf("first listing: the test process is %v, want exe %s", p, a)
	}

	second, err := c.List(ctx, h)
	if err != nil {
		t.Fatal(err)
	}
	full, err := List(ctx, h)
	if err != nil {
		t.Fatal(err)
	}
	if st := c.Stats(); st.Reused < len(first)/2 {
		t.Fatalf("second listing: %+v of %d processes, want most taken from the cache", st, len(first))
	}
	// Every process in both listings under one key is the same record,
	// parent and executable names included.
	same := 0
	for _, p := range second {
		q := find(full, p.Pid)
		if q == nil || Key(q) != Key(p) || q.Name != p.Name || q.Cmdline != p.Cmdline && p.Pid != int32(os.Getpid()) {
			continue // it changed or ended between the two listings
		}
		if p.Pid == int32(os.Getpid()) {
			continue // this test process: its threads come and go
		}
		if d := cmp.Diff(q, p, protocmp.Transform()); d != "" {
			t.Errorf("pid %d: cached listing differs from a full read (-full +cached):\n%s", p.Pid, d)
		}
		same++
	}
	if same < len(second)/2 {
		t.Fatalf("only %d of %d processes compared", same, len(second))
	}

	// The test process executes the other copy: same pid, start time and
	// name, another executable.
	if err := os.WriteFile(flag, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	waitExe(t, pid, b)
	third, err := c.List(ctx, h)
	if err != nil {
		t.Fatal(err)
	}
	p := find(third, pid)
	if p == nil || p.Exe != b || p.Cmdline != b+" -c sleep 60" {
		t.Fatalf("after exec: %v, want exe %s and its arguments read anew", p, b)
	}
	if Key(p) != Key(find(first, pid)) {
		t.Fatalf("after exec the key changed: %s, was %s", Key(p), Key(find(first, pid)))
	}
}

// TestCacheNotLive: a snapshot or --root host is listed without the cache,
// which stays empty.
func TestCacheNotLive(t *testing.T) {
	root := t.TempDir()
	for name, body := range map[string]string{
		"proc/stat":       "btime 1700000000\n",
		"proc/42/stat":    "42 (anydesk) S 1 42 42 0 -1 4194560 1 0 0 0 0 0 0 0 20 0 1 0 500 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1\n",
		"proc/42/cmdline": "/usr/bin/anydesk\x00--service\x00",
		"etc/hostname":    "snap\n",
	} {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(root, name)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(root, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	h, err := host.FromRoot(root)
	if err != nil {
		t.Fatal(err)
	}
	c := NewCache()
	for range 2 {
		ps, err := c.List(context.Background(), h)
		if err != nil || len(ps) != 1 || ps[0].Name != "anydesk" {
			t.Fatalf("list: %v %v", ps, err)
		}
	}
	if st := c.Stats(); st != (CacheStats{}) || len(c.byPid) != 0 {
		t.Fatalf("a --root host went through the cache: %+v, %d cached", st, len(c.byPid))
	}
	var nilCache *Cache
	if ps, err := nilCache.List(context.Background(), h); err != nil || len(ps) != 1 {
		t.Fatalf("nil cache: %v %v", ps, err)
	}
}

func find(ps []*fwv1.Process, pid int32) *fwv1.Process {
	for _, p := range ps {
		if p.Pid == pid {
			return proto.CloneOf(p)
		}
	}
	return nil
}

// TestCacheFollow: with a source that reports every exec and exit, the
// cache trusts it only after a full listing that started once the source
// settled; then a known process is taken unread until an event names it
// (or its parent), and lost events, a flood of events or the end of the
// source make the next listing read everything again.
func TestCacheFollow(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the cache is for /proc")
	}
	dir := t.TempDir()
	var copies [2]string
	copies[0], copies[1] = shCopies(t, dir)
	flag := filepath.Join(dir, "go")
	// The parent starts a child, waits for the flag, then executes the
	// other copy of sh; told to, that one exits, leaving its child to be
	// reparented.
	cmd := exec.Command(copies[0], "-c", `sleep 60 & echo $! > "$1.child"; while [ ! -e "$1" ]; do sleep 0.05; done; exec "$2" -c 'while [ ! -e "$0.exit" ]; do sleep 0.05; done' "$1"`, "x", flag, copies[1])
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	pid := int32(cmd.Process.Pid)
	var child int32
	deadline := time.Now().Add(10 * time.Second)
	for child == 0 {
		if b, err := os.ReadFile(flag + ".child"); err == nil && len(b) > 1 {
			n, _ := strconv.Atoi(strings.TrimSpace(string(b)))
			child = int32(n)
		}
		if time.Now().After(deadline) {
			t.Fatal("the child never started")
		}
		time.Sleep(20 * time.Millisecond)
	}
	defer func() {
		if p, err := os.FindProcess(int(child)); err == nil {
			p.Kill()
		}
	}()

	h, err := host.Live()
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	now := time.Unix(1_800_000_000, 0)
	c := NewCache()
	c.now = func() time.Time { return now }
	list := func() []*fwv1.Process {
		t.Helper()
		ps, err := c.List(ctx, h)
		if err != nil {
			t.Fatal(err)
		}
		return ps
	}

	c.Follow(true)
	list() // read everything; the source has not settled
	if st := c.Stats(); st.Read == 0 || st.Trusted != 0 {
		t.Fatalf("first listing %+v", st)
	}
	now = now.Add(FollowSettle - time.Millisecond)
	list()
	if st := c.Stats(); st.Trusted != 0 || st.Reused == 0 {
		t.Fatalf("listing before the source settled %+v: want every process checked", st)
	}
	now = now.Add(time.Second)
	list() // checks every process, after the source settled: trusted from now
	if st := c.Stats(); st.Trusted != 0 {
		t.Fatalf("the settling listing trusted %d processes", st.Trusted)
	}
	if st := c.Stats(); st.Kernel != 0 {
		t.Fatalf("an untrusted listing passed over %d kernel threads unread", st.Kernel)
	}
	ps := list()
	if st := c.Stats(); st.Trusted < len(ps)/2 || st.Reused != 0 {
		t.Fatalf("trusted listing %+v of %d", st, len(ps))
	}
	// Kernel threads (kthreadd, pid 2, and its children), where this
	// machine shows them, are passed over unread.
	if _, err := os.Stat("/proc/2/stat"); err == nil && kernelThread(t, 2) {
		if st := c.Stats(); st.Kernel == 0 {
			t.Fatalf("trusted listing %+v read kthreadd", st)
		}
	}

	// Exec in place, unreported: the trusted cache keeps the old program
	// (what it trusts the events for); reported, it reads the new one.
	if err := os.WriteFile(flag, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	waitExe(t, pid, copies[1])
	if p := find(list(), pid); p == nil || p.Exe != copies[0] {
		t.Fatalf("unreported exec: %v, want the cached %s (taken unread)", p, copies[0])
	}
	c.Changed(pid)
	if p := find(list(), pid); p == nil || p.Exe != copies[1] || !strings.Contains(p.Cmdline, "exit") {
		t.Fatalf("reported exec: %v, want %s read anew", p, copies[1])
	}
	if st := c.Stats(); st.Trusted == 0 {
		t.Fatalf("one event made the cache distrust everything: %+v", st)
	}

	// The parent ends: its exit (an event naming it) makes its children
	// be checked again, so the reparented child shows its new parent.
	if err := os.WriteFile(flag+".exit", nil, 0o644); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	c.Changed(pid)
	if p := find(list(), child); p == nil || p.Ppid == pid {
		t.Fatalf("reparented child: %v, want another parent than the ended %d", p, pid)
	}

	// Lost events: everything is checked again, then trusted after the
	// source settles again.
	c.Lost()
	list()
	if st := c.Stats(); st.Trusted != 0 {
		t.Fatalf("after lost events %+v", st)
	}
	now = now.Add(FollowSettle)
	list()
	list()
	if st := c.Stats(); st.Trusted == 0 {
		t.Fatalf("not trusted again after settling: %+v", st)
	}

	// A flood of events is as good as lost.
	for i := range maxDirty + 1 {
		c.Changed(int32(4_000_000 + i))
	}
	list()
	if st := c.Stats(); st.Trusted != 0 {
		t.Fatalf("after a flood of events %+v", st)
	}
	if len(c.dirty) != 0 {
		t.Fatalf("%d dirty pids kept", len(c.dirty))
	}

	// The source stops: never trusted again until it follows again.
	c.Follow(false)
	for range 3 {
		now = now.Add(FollowSettle)
		list()
		if st := c.Stats(); st.Trusted != 0 {
			t.Fatalf("after the source stopped %+v", st)
		}
	}
}

// kernelThread says whether pid is a kernel thread: PF_KTHREAD (0x200000)
// in the flags, the ninth field of its stat.
func kernelThread(t *testing.T, pid int) bool {
	t.Helper()
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		t.Fatal(err)
	}
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
	flags, err := strconv.ParseUint(f[6], 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	return flags&0x200000 != 0
}

func waitExe(t *testing.T, pid int32, exe string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if got, _ := os.Readlink("/proc/" + strconv.Itoa(int(pid)) + "/exe"); got == exe {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("pid %d never executed %s", pid, exe)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// shCopies makes two copies of sh with one name in dir: exec from the
// first to the second keeps the pid, the start time and the name (comm);
// only the exe link tells them apart.
func shCopies(t *testing.T, dir string) (a, b string) {
	t.Helper()
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Skip("no sh")
	}
	body, err := os.ReadFile(sh)
	if err != nil {
		t.Fatal(err)
	}
	var out [2]string
	for i, d := range []string{"a", "b"} {
		out[i] = filepath.Join(dir, d, "fwcachetest")
		if err := os.MkdirAll(filepath.Dir(out[i]), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(out[i], body, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return out[0], out[1]
}
