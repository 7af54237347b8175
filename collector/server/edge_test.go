package server

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/farmwatch/farmwatch/collector/pki"
	"github.com/farmwatch/farmwatch/collector/store"
	"github.com/farmwatch/farmwatch/collector/store/sqlite"
	"github.com/farmwatch/farmwatch/credential"
	fwv1 "github.com/farmwatch/farmwatch/proto/farmwatch/v1"
	"github.com/rs/zerolog"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/tap"
)

// countingStore counts the host lookups, to show which refusals cost one.
type countingStore struct {
	store.Store
	hosts atomic.Int64
}

func (c *countingStore) Host(ctx context.Context, id string) (store.Host, error) {
	c.hosts.Add(1)
	return c.Store.Host(ctx, id)
}

// syncBuffer is a log that handlers write while the test reads it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) lines() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return strings.Split(strings.TrimSpace(s.b.String()), "\n")
}

type edgeFixture struct {
	*fixture
	store *countingStore
	log   *syncBuffer
}

// startEdge serves a collector as start does, with a log to read and a
// store that counts host lookups.
func startEdge(t testing.TB, e Edge) *edgeFixture {
	t.Helper()
	dir := t.TempDir()
	in, err := pki.Init(dir, []string{"localhost", "127.0.0.1"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	st, err := sqlite.Open(context.Background(), filepath.Join(dir, "farmwatch.db"))
	if err != nil {
		t.Fatal(err)
	}
	if err := st.PutToken(context.Background(), store.Token{Hash: pki.Hash(in.AdminToken), Name: "init", Role: store.RoleAdmin, Created: time.Now()}); err != nil {
		t.Fatal(err)
	}
	cs := &countingStore{Store: st}
	log := &syncBuffer{}
	srv, err := New(Config{Store: cs, Log: zerolog.New(log), EnrollSecret: in.EnrollSecret, Edge: e})
	if err != nil {
		t.Fatal(err)
	}
	tlsCfg, err := pki.ServerTLS(dir)
	if err != nil {
		t.Fatal(err)
	}
	g := grpc.NewServer(append(srv.GRPCOptions(), grpc.Creds(credentials.NewTLS(tlsCfg)), grpc.WaitForHandlers(true))...)
	srv.Register(g)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { defer close(done); g.Serve(srv.LimitConns(ln)) }()
	t.Cleanup(func() { g.Stop(); <-done; srv.Wait(); st.Close() })
	return &edgeFixture{fixture: &fixture{addr: ln.Addr().String(), dir: dir, install: in, store: st, srv: srv}, store: cs, log: log}
}

// from is a context of a call from addr, as the tap sees it.
func from(addr string) context.Context {
	ap, err := net.ResolveTCPAddr("tcp", addr)
	if err != nil {
		panic(err)
	}
	return peer.NewContext(context.Background(), &peer.Peer{Addr: ap})
}

func tapMD(kv ...string) *tap.Info { return &tap.Info{Header: metadata.Pairs(kv...)} }

func enrollInfo(secret string) *tap.Info {
	i := tapMD(credential.MDAuthorization, credential.Enroll(secret))
	i.FullMethodName = enrollMethod
	return i
}

func connectInfo(id, key string) *tap.Info {
	i := tapMD(credential.MDHost, id, credential.MDAuthorization, credential.Node(key))
	i.FullMethodName = connectMethod
	return i
}

// The tap refuses, before a stream exists, an Enroll without the enroll
// secret and a Connect without its host's node key, with the handlers'
// words: one answer for an unknown host, a wrong key and a reset host. A
// valid Enroll is given a deadline, a valid Connect passes.
func TestTapRefusesBeforeTheBody(t *testing.T) {
	f := startEdge(t, Edge{})
	cc := f.dial(t)
	a := enroll(t, cc, f.install.EnrollSecret, "a")
	b := enroll(t, cc, f.install.EnrollSecret, "b")
	ctx := context.Background()
	if err := f.fixture.store.ResetHost(ctx, b.HostId); err != nil {
		t.Fatal(err)
	}
	s := f.srv
	refused := func(what string, info *tap.Info, code codes.Code, msg string) {
		t.Helper()
		// Each from its own address: none is throttled.
		_, err := s.tap(from(fmt.Sprintf("10.1.0.%d:4000", len(what))), info)
		if st, _ := status.FromError(err); err == nil || st.Code() != code || st.Message() != msg {
			t.Errorf("%s: %v, want %v %q", what, err, code, msg)
		}
	}
	refused("enroll without a secret", &tap.Info{FullMethodName: enrollMethod, Header: metadata.MD{}}, codes.Unauthenticated, wrongSecret)
	refused("enroll with a wrong secret", enrollInfo("fwe_wrong"), codes.Unauthenticated, wrongSecret)
	refused("connect without a key", &tap.Info{FullMethodName: connectMethod, Header: metadata.Pairs(credential.MDHost, a.HostId)}, codes.Unauthenticated, "connect: missing host id or node key")
	refused("connect of an unknown host", connectInfo("3f0c3f2e-0000-4000-8000-000000000000", a.NodeKey), codes.Unauthenticated, wrongNodeKey)
	refused("connect with another host's key", connectInfo(a.HostId, "fwn_forged"), codes.Unauthenticated, wrongNodeKey)
	refused("connect of a reset host", connectInfo(b.HostId, b.NodeKey), codes.Unauthenticated, wrongNodeKey)
	// Over the socket, the same.
	_, herr := connect(t, cc, "3f0c3f2e-0000-4000-8000-000000000001", "fwn_k").Recv()
	if status.Convert(herr).Message() != wrongNodeKey {
		t.Errorf("over the socket: %v, want %q", herr, wrongNodeKey)
	}

	ectx, err := s.tap(from("10.2.0.1:4000"), enrollInfo(f.install.EnrollSecret))
	if err != nil {
		t.Fatalf("enroll with the secret: %v", err)
	}
	if d, ok := ectx.Deadline(); !ok || time.Until(d) > enrollTimeout {
		t.Errorf("enroll deadline %v %v, want within %v", d, ok, enrollTimeout)
	}
	if _, err := s.tap(from("10.2.0.1:4000"), connectInfo(a.HostId, a.NodeKey)); err != nil {
		t.Errorf("connect with its key: %v", err)
	}
	// Fleet calls pass the tap; their tokens are checked by the interceptor.
	if _, err := s.tap(from("10.2.0.1:4000"), &tap.Info{FullMethodName: "/farmwatch.v1.FleetService/ListHosts"}); err != nil {
		t.Errorf("fleet call: %v", err)
	}
}

// A Connect whose key passed lately is let through from the cache without
// a store lookup; a cached key that the store no longer holds (a reset)
// still reaches Connect, which refuses it.
func TestTapKeyCache(t *testing.T) {
	f := startEdge(t, Edge{})
	cc := f.dial(t)
	a := enroll(t, cc, f.install.EnrollSecret, "a")
	s := f.srv
	for range 3 {
		if _, err := s.tap(from("10.3.0.1:1"), connectInfo(a.HostId, a.NodeKey)); err != nil {
			t.Fatal(err)
		}
	}
	if n := f.store.hosts.Load(); n != 1 {
		t.Errorf("3 connects of one key: %d store lookups, want 1", n)
	}
	if err := f.fixture.store.ResetHost(context.Background(), a.HostId); err != nil {
		t.Fatal(err)
	}
	st := connect(t, cc, a.HostId, a.NodeKey)
	if _, err := st.Recv(); status.Code(err) != codes.Unauthenticated {
		t.Errorf("a reset host's cached key: %v, want Unauthenticated from Connect", err)
	}
	// Connect's refusal dropped it from the cache: the tap refuses it now.
	if _, err := s.tap(from("10.3.0.1:1"), connectInfo(a.HostId, a.NodeKey)); status.Code(err) != codes.Unauthenticated {
		t.Errorf("a reset host's key after Connect refused it: %v", err)
	}
	// ForgetNodeKey drops a key at once.
	b := enroll(t, cc, f.install.EnrollSecret, "b")
	if _, err := s.tap(from("10.3.0.1:1"), connectInfo(b.HostId, b.NodeKey)); err != nil {
		t.Fatal(err)
	}
	if err := f.fixture.store.ResetHost(context.Background(), b.HostId); err != nil {
		t.Fatal(err)
	}
	s.ForgetNodeKey(b.HostId)
	if _, err := s.tap(from("10.3.0.1:1"), connectInfo(b.HostId, b.NodeKey)); status.Code(err) != codes.Unauthenticated {
		t.Errorf("a reset host's key, forgotten: %v", err)
	}
}

// An Enroll holds a slot of its peer while it lasts: the peer's fifth at
// once is refused, another peer's is not, and the slot comes back when
// the call ends.
func TestEnrollsInProgress(t *testing.T) {
	f := startEdge(t, Edge{})
	s := f.srv
	var cancels []context.CancelFunc
	for i := range 4 {
		ctx, cancel := context.WithCancel(from("10.4.0.1:1"))
		cancels = append(cancels, cancel)
		if _, err := s.tap(ctx, enrollInfo(f.install.EnrollSecret)); err != nil {
			t.Fatalf("enrolment %d: %v", i, err)
		}
	}
	if _, err := s.tap(from("10.4.0.1:1"), enrollInfo(f.install.EnrollSecret)); status.Code(err) != codes.ResourceExhausted {
		t.Errorf("a fifth enrolment at once: %v, want ResourceExhausted", err)
	}
	if _, err := s.tap(from("10.4.0.2:1"), enrollInfo(f.install.EnrollSecret)); err != nil {
		t.Errorf("another peer: %v", err)
	}
	cancels[0]() // the call ends
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, err := s.tap(context.WithoutCancel(from("10.4.0.1:1")), enrollInfo(f.install.EnrollSecret))
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the slot never came back: %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	for _, c := range cancels {
		c()
	}
}

// An Enroll over enrollBytes is refused after decoding, before its
// handler.
func TestEnrollSize(t *testing.T) {
	f := startEdge(t, Edge{})
	cc := f.dial(t)
	_, err := fwv1.NewAgentServiceClient(cc).Enroll(enrollCtx(context.Background(), f.install.EnrollSecret),
		&fwv1.EnrollRequest{Host: &fwv1.HostInfo{Os: "linux", Hostname: "big", Source: strings.Repeat("s", 20<<10)}})
	if status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), "the limit is 16384") {
		t.Fatalf("a 20 KiB enrolment: %v", err)
	}
	enroll(t, cc, f.install.EnrollSecret, "small")
}

// Problem 13: 3000 wrong-secret enrolments from one address give a
// handful of Unauthenticated, then ResourceExhausted, and one log line;
// the address's valid enrolments, another address's, and its wrong node
// keys past the budget cost no store lookup.
func TestFailedAuthenticationsThrottled(t *testing.T) {
	f := startEdge(t, Edge{})
	cc := f.dial(t)
	agent := fwv1.NewAgentServiceClient(cc)
	ctx := enrollCtx(context.Background(), "fwe_wrong")
	codesSeen := map[codes.Code]int{}
	for range 3000 {
		_, err := agent.Enroll(ctx, &fwv1.EnrollRequest{Host: &fwv1.HostInfo{Os: "linux", Hostname: "x"}})
		codesSeen[status.Code(err)]++
	}
	if codesSeen[codes.Unauthenticated] > 60 || codesSeen[codes.ResourceExhausted] < 2900 || len(codesSeen) != 2 {
		t.Errorf("3000 wrong secrets: %v, want about 30 Unauthenticated, the rest ResourceExhausted", codesSeen)
	}
	// Valid credentials are never throttled, from this address or another.
	enroll(t, cc, f.install.EnrollSecret, "legit-same-address")
	if _, err := f.srv.tap(from("10.5.0.1:1"), enrollInfo(f.install.EnrollSecret)); err != nil {
		t.Errorf("another address's enrolment: %v", err)
	}
	// Past the budget, a node key the cache does not hold is refused
	// without asking the store; a wrong fleet token is throttled too.
	before := f.store.hosts.Load()
	for range 100 {
		st := connect(t, cc, "3f0c3f2e-0000-4000-8000-000000000000", "fwn_forged")
		if _, err := st.Recv(); status.Code(err) != codes.ResourceExhausted {
			t.Fatalf("a forged key past the budget: %v", err)
		}
	}
	if n := f.store.hosts.Load() - before; n != 0 {
		t.Errorf("forged keys past the budget: %d store lookups, want 0", n)
	}
	if _, err := fwv1.NewFleetServiceClient(cc).ListHosts(withToken(context.Background(), "fwt_forged"), &fwv1.ListHostsRequest{}); status.Code(err) != codes.ResourceExhausted {
		t.Errorf("a forged token past the budget: %v", err)
	}
	if _, err := fwv1.NewFleetServiceClient(cc).ListHosts(withToken(context.Background(), f.install.AdminToken), &fwv1.ListHostsRequest{}); err != nil {
		t.Errorf("the admin token from the same address: %v", err)
	}

	f.srv.summarize()
	lines := f.log.lines()
	t.Logf("the log:\n%s", strings.Join(lines, "\n"))
	if len(lines) > 5 {
		t.Errorf("%d log lines, want a handful:\n%s", len(lines), strings.Join(lines[:10], "\n"))
	}
	var summary string
	for _, l := range lines {
		if strings.Contains(l, "authentications refused") {
			summary = l
		}
	}
	if !strings.Contains(summary, `"attempts":3101`) || !strings.Contains(summary, `"peers":1`) || !strings.Contains(summary, `127.0.0.1 (3101)`) {
		t.Errorf("summary: %q", summary)
	}
	f.srv.summarize()
	if n := len(f.log.lines()); n != len(lines) {
		t.Errorf("a quiet minute logged %d lines", n-len(lines))
	}
}

// Beyond MaxConnsPerPeer open connections, a peer's next is closed at
// once, and logged in one line; a closed one makes room.
func TestMaxConnsPerPeer(t *testing.T) {
	log := &syncBuffer{}
	srv, err := New(Config{Store: nopStore{}, Log: zerolog.New(log), EnrollSecret: "s", Edge: Edge{MaxConnsPerPeer: 3}})
	if err != nil {
		t.Fatal(err)
	}
	raw, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln := srv.LimitConns(raw)
	accepted := make(chan net.Conn)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				close(accepted)
				return
			}
			accepted <- c
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		for c := range accepted {
			c.Close()
		}
	})
	dial := func() net.Conn {
		c, err := net.Dial("tcp", raw.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	var server []net.Conn
	for range 3 {
		dial()
		server = append(server, <-accepted)
	}
	for range 2 {
		c := dial()
		c.SetReadDeadline(time.Now().Add(30 * time.Second))
		if _, err := c.Read(make([]byte, 1)); err != io.EOF {
			t.Errorf("a fourth connection: read %v, want EOF (closed)", err)
		}
	}
	server[0].Close()
	dial()
	select {
	case <-accepted:
	case <-time.After(30 * time.Second):
		t.Fatal("no room after a connection closed")
	}
	srv.summarize()
	if l := log.lines(); len(l) != 1 || !strings.Contains(l[0], `"connections":2`) || !strings.Contains(l[0], "127.0.0.1 (2)") {
		t.Errorf("log: %q", l)
	}
}

// nopStore is a store that is never asked.
type nopStore struct{ store.Store }

func TestPeerKey(t *testing.T) {
	for _, c := range []struct{ addr, want string }{
		{"192.0.2.7:443", "192.0.2.7"},
		{"[::ffff:192.0.2.7]:443", "192.0.2.7"},
		{"[2001:db8:1:2:aaaa::1]:443", "2001:db8:1:2::/64"},
		{"[2001:db8:1:2:bbbb::9]:443", "2001:db8:1:2::/64"},
		{"[2001:db8:1:3::1]:443", "2001:db8:1:3::/64"},
		{"[fe80::1%eth0]:443", "fe80::/64"},
	} {
		a, err := net.ResolveTCPAddr("tcp", c.addr)
		if err != nil {
			t.Fatal(err)
		}
		if got := peerKey(a); got != c.want {
			t.Errorf("peerKey(%s) = %q, want %q", c.addr, got, c.want)
		}
	}
	if got := peerKey(fakeAddr("bufconn")); got != "bufconn" {
		t.Errorf("a non-IP address: %q", got)
	}
}

type fakeAddr string

func (a fakeAddr) Network() string { return string(a) }
func (a fakeAddr) String() string  { return string(a) }

// A flood from many addresses keeps at most maxPeers of them.
func TestFailuresBounded(t *testing.T) {
	f := newFailures(2, 0.1, time.Now)
	for i := range 3 * maxPeers {
		f.fail(fmt.Sprintf("10.%d.%d.%d", i>>16, (i>>8)&255, i&255))
	}
	if len(f.buckets) > maxPeers || len(f.refused.peers) > maxPeers {
		t.Errorf("%d buckets, %d tallied peers; at most %d", len(f.buckets), len(f.refused.peers), maxPeers)
	}
	n, _, peers, _ := f.take()
	if n != 3*maxPeers || peers != maxPeers {
		t.Errorf("take: %d attempts from %d peers", n, peers)
	}
	// A peer past its budget stays there until it refills.
	f.fail("x")
	f.fail("x")
	if !f.fail("x") || !f.exhausted("x") {
		t.Error("the third failure of a budget of 2 was not over it")
	}
}

// BenchmarkTapConnect is the tap's cost for one Connect, paid on the
// connection's reading goroutine: a key from the cache, a key from the
// store, and a forged key past its peer's budget.
func BenchmarkTapConnect(b *testing.B) {
	f := startEdge(b, Edge{})
	s := f.srv
	ctx := metadata.NewIncomingContext(from("10.6.0.1:1"), metadata.Pairs(credential.MDAuthorization, credential.Enroll(f.install.EnrollSecret)))
	r, err := s.Enroll(ctx, &fwv1.EnrollRequest{Host: &fwv1.HostInfo{Os: "linux", Hostname: "bench"}})
	if err != nil {
		b.Fatal(err)
	}
	info := connectInfo(r.HostId, r.NodeKey)
	b.Run("cached", func(b *testing.B) {
		for b.Loop() {
			if _, err := s.tap(from("10.6.0.1:1"), info); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("store", func(b *testing.B) {
		for b.Loop() {
			s.ForgetNodeKey(r.HostId)
			if _, err := s.tap(from("10.6.0.1:1"), info); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("forged-throttled", func(b *testing.B) {
		forged := connectInfo(r.HostId, "fwn_forged")
		for b.Loop() {
			if _, err := s.tap(from("10.6.0.2:1"), forged); err == nil {
				b.Fatal("a forged key passed")
			}
		}
	})
}

// BenchmarkTapEnrollWrongSecret is the cost of refusing a wrong enroll
// secret past its peer's budget.
func BenchmarkTapEnrollWrongSecret(b *testing.B) {
	f := startEdge(b, Edge{})
	info := enrollInfo("fwe_wrong")
	for b.Loop() {
		if _, err := f.srv.tap(from("10.7.0.1:1"), info); err == nil {
			b.Fatal("a wrong secret passed")
		}
	}
}
