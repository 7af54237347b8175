package stream

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/farmwatch/farmwatch/agent/outbox"
	"github.com/farmwatch/farmwatch/credential"
	"github.com/farmwatch/farmwatch/limits"
	fwv1 "github.com/farmwatch/farmwatch/proto/farmwatch/v1"
	"github.com/rs/zerolog"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/test/bufconn"
	"google.golang.org/protobuf/proto"
)

// collector is an in-memory collector: it enrols, authenticates streams by
// host id and node key, records what it receives, and sends what a test
// puts on toAgent.
type collector struct {
	fwv1.UnimplementedAgentServiceServer
	t *testing.T

	mu      sync.Mutex
	keys    map[string]string // host id -> node key
	enrols  []*fwv1.EnrollRequest
	connect int
	// refuse, when set, refuses the next Connect with this code.
	refuse codes.Code

	got     chan *fwv1.AgentMessage     // every message received
	toAgent chan *fwv1.CollectorMessage // sent on the current stream
	hangup  chan struct{}               // ends the current stream
}

func (c *collector) Enroll(ctx context.Context, r *fwv1.EnrollRequest) (*fwv1.EnrollResponse, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	if secret, ok := credential.ParseEnroll(first(md.Get(credential.MDAuthorization))); !ok || secret != "secret" {
		return nil, status.Error(codes.Unauthenticated, "wrong secret")
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.enrols = append(c.enrols, r)
	key := "fwn_" + strings.Repeat("k", len(c.enrols))
	c.keys[r.HostId] = key
	return &fwv1.EnrollResponse{HostId: r.HostId, NodeKey: key}, nil
}

func (c *collector) Connect(st fwv1.AgentService_ConnectServer) error {
	md, _ := metadata.FromIncomingContext(st.Context())
	c.mu.Lock()
	c.connect++
	refuse := c.refuse
	c.refuse = codes.OK
	want, known := c.keys[first(md.Get(credential.MDHost))]
	c.mu.Unlock()
	if refuse != codes.OK {
		return status.Error(refuse, "refused by the test")
	}
	if key, ok := credential.ParseNode(first(md.Get(credential.MDAuthorization))); !known || !ok || key != want {
		return status.Error(codes.Unauthenticated, "wrong node key")
	}
	errc := make(chan error, 1)
	go func() {
		for {
			m, err := st.Recv()
			if err != nil {
				errc <- err
				return
			}
			c.got <- m
		}
	}()
	for {
		select {
		case m := <-c.toAgent:
			if err := st.Send(m); err != nil {
				return err
			}
		case <-c.hangup:
			return status.Error(codes.Unavailable, "the test hung up")
		case err := <-errc:
			return err
		}
	}
}

func first(v []string) string {
	if len(v) == 0 {
		return ""
	}
	return v[0]
}

// agent is a stand-in for the resident agent.
type agent struct {
	mu      sync.Mutex
	scans   int
	bundles []*fwv1.RuleBundle
	configs []*fwv1.ConfigUpdate
}

func (a *agent) Hello(context.Context) (*fwv1.Hello, error) {
	return &fwv1.Hello{Host: &fwv1.HostInfo{Os: "linux", Hostname: "box"}, AgentVersion: "test"}, nil
}

func (a *agent) Scan(context.Context) (*fwv1.Report, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.scans++
	return &fwv1.Report{Host: &fwv1.HostInfo{Hostname: "box"}, Verdict: "scanned"}, nil
}

func (a *agent) ApplyBundle(rb *fwv1.RuleBundle) *fwv1.BundleStatus {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.bundles = append(a.bundles, rb)
	return &fwv1.BundleStatus{Version: rb.Version}
}

func (a *agent) Hunt(_ context.Context, req *fwv1.HuntRequest) *fwv1.HuntReply {
	return &fwv1.HuntReply{Scanned: 1, Error: "hunted " + req.GetFilter()}
}

func (a *agent) ApplyConfig(c *fwv1.ConfigUpdate) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.configs = append(a.configs, c)
}

type fixture struct {
	col   *collector
	agent *agent
	queue *outbox.Outbox
	dir   string
	done  chan error
	stop  context.CancelFunc
}

// start runs a Stream against an in-memory collector.
func start(t *testing.T) *fixture {
	t.Helper()
	f := startWith(t, nil)
	t.Cleanup(func() {
		f.stop()
		if err := <-f.done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	return f
}

// startWith runs a Stream on queue (a fresh outbox when nil); the caller
// stops it and reads its result.
func startWith(t *testing.T, queue Queue) *fixture {
	t.Helper()
	lis := bufconn.Listen(1 << 20)
	col := &collector{t: t, keys: map[string]string{}, got: make(chan *fwv1.AgentMessage, 100),
		toAgent: make(chan *fwv1.CollectorMessage, 10), hangup: make(chan struct{}, 1)}
	g := grpc.NewServer()
	fwv1.RegisterAgentServiceServer(g, col)
	go g.Serve(lis)
	t.Cleanup(g.Stop)
	dir := t.TempDir()
	q, _, err := outbox.Open(dir, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { q.Close() })
	f := &fixture{col: col, agent: &agent{}, queue: q, dir: dir, done: make(chan error, 1)}
	if queue == nil {
		queue = q
	}
	s, err := New(Config{
		Dial: func() (*grpc.ClientConn, error) {
			return grpc.NewClient("passthrough:///bufnet", grpc.WithTransportCredentials(insecure.NewCredentials()),
				grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }))
		},
		EnrollSecret: "secret", StateDir: dir, Agent: f.agent, Queue: queue, Log: zerolog.Nop(),
		MinBackoff: 10 * time.Millisecond, MaxBackoff: 50 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	f.stop = cancel
	go func() { f.done <- s.Run(ctx) }()
	return f
}

// next returns the next message the collector received.
func (f *fixture) next(t *testing.T) *fwv1.AgentMessage {
	t.Helper()
	select {
	case m := <-f.col.got:
		return m
	case <-time.After(10 * time.Second):
		t.Fatal("the collector received nothing")
		return nil
	}
}

func (f *fixture) put(t *testing.T, names ...string) {
	t.Helper()
	rep := &fwv1.Report{}
	for _, n := range names {
		rep.Observations = append(rep.Observations, &fwv1.Observation{Key: "p/" + n, Kind: &fwv1.Observation_Process{Process: &fwv1.Process{Name: n}}})
	}
	if err := f.queue.Put(rep); err != nil {
		t.Fatal(err)
	}
}

func eventually(t *testing.T, what string, ok func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if ok() {
			return
		}
	}
	t.Fatalf("never: %s", what)
}

// The session: enrolment, a hello with the host id, the queued messages in
// order (a full state, then a delta), an ack that empties the queue, and a
// message queued later sent at once.
func TestHelloFullDeltaAck(t *testing.T) {
	f := start(t)
	f.put(t, "a", "b")
	f.put(t, "a", "c")
	h := f.next(t).GetHello()
	if h == nil || h.HostId == "" || h.Host.GetHostname() != "box" || h.AgentVersion != "test" {
		t.Fatalf("first message is not the hello: %v", h)
	}
	if len(f.col.enrols) != 1 || f.col.enrols[0].HostId != h.HostId {
		t.Fatalf("enrolments %v", f.col.enrols)
	}
	id, _ := os.ReadFile(filepath.Join(f.dir, hostIDFile))
	if strings.TrimSpace(string(id)) != h.HostId {
		t.Fatalf("host-id file %q, hello %q", id, h.HostId)
	}
	if m := f.next(t); m.Seq != 1 || m.GetFull() == nil {
		t.Fatalf("#1: %v", m)
	}
	if m := f.next(t); m.Seq != 2 || m.GetDelta() == nil || len(m.GetDelta().Removed) != 1 {
		t.Fatalf("#2: %v", m)
	}
	f.col.toAgent <- &fwv1.CollectorMessage{Body: &fwv1.CollectorMessage_Ack{Ack: &fwv1.Ack{Seq: 2}}}
	eventually(t, "the ack empties the queue", func() bool { ms, _ := f.queue.After(0); return len(ms) == 0 })
	f.put(t, "d")
	if m := f.next(t); m.Seq != 3 || m.GetDelta() == nil {
		t.Fatalf("#3: %v", m)
	}
}

// A scan request is answered with the agent's scan, carrying its id.
func TestScanRequest(t *testing.T) {
	f := start(t)
	f.next(t) // hello
	f.col.toAgent <- &fwv1.CollectorMessage{Body: &fwv1.CollectorMessage_Scan{Scan: &fwv1.ScanRequest{RequestId: "req-1"}}}
	r := f.next(t).GetScanReply()
	if r == nil || r.RequestId != "req-1" || r.Report.GetVerdict() != "scanned" || r.Error != "" {
		t.Fatalf("reply %v", r)
	}
}

// A bundle goes to the agent and its status back to the collector;
// settings go to the agent.
// A hunt request is answered with the agent's reply, under the request's
// id, on the stream.
func TestHuntRequest(t *testing.T) {
	f := start(t)
	f.next(t) // hello
	f.col.toAgent <- &fwv1.CollectorMessage{Body: &fwv1.CollectorMessage_Hunt{Hunt: &fwv1.HuntRequest{RequestId: "h-1", Kind: "process", Filter: "true"}}}
	for {
		m := f.next(t)
		if r := m.GetHuntReply(); r != nil {
			if r.RequestId != "h-1" || r.Error != "hunted true" || m.Seq != 0 {
				t.Fatalf("reply %v", m)
			}
			return
		}
	}
}

func TestBundleAndConfig(t *testing.T) {
	f := start(t)
	f.next(t) // hello
	f.col.toAgent <- &fwv1.CollectorMessage{Body: &fwv1.CollectorMessage_Rules{Rules: &fwv1.RuleBundle{Version: "sha256:abc"}}}
	if st := f.next(t).GetBundleStatus(); st == nil || st.Version != "sha256:abc" {
		t.Fatalf("bundle status %v", st)
	}
	f.col.toAgent <- &fwv1.CollectorMessage{Body: &fwv1.CollectorMessage_Config{Config: &fwv1.ConfigUpdate{IntervalSeconds: 300}}}
	eventually(t, "the settings reach the agent", func() bool {
		f.agent.mu.Lock()
		defer f.agent.mu.Unlock()
		return len(f.agent.configs) == 1 && f.agent.configs[0].IntervalSeconds == 300
	})
}

// A broken stream is reconnected, and what was not acknowledged is sent
// again, in order, after a new hello.
func TestReconnectResends(t *testing.T) {
	f := start(t)
	f.put(t, "a")
	f.next(t) // hello
	if m := f.next(t); m.Seq != 1 {
		t.Fatalf("#1: %v", m)
	}
	f.col.hangup <- struct{}{}
	if h := f.next(t).GetHello(); h == nil {
		t.Fatal("no hello after the reconnect")
	}
	if m := f.next(t); m.Seq != 1 || m.GetFull() == nil {
		t.Fatalf("after the reconnect: %v, want #1 again", m)
	}
	if len(f.col.enrols) != 1 {
		t.Fatalf("enrolled %d times; the node key should have been kept", len(f.col.enrols))
	}
}

// A collector that no longer knows the node key makes the agent enrol
// again, as the same host.
func TestReenrolAfterRefusedKey(t *testing.T) {
	f := start(t)
	h := f.next(t).GetHello()
	f.col.mu.Lock()
	f.col.keys[h.HostId] = "fwn_forgotten"
	f.col.mu.Unlock()
	f.col.hangup <- struct{}{}
	h2 := f.next(t).GetHello()
	if h2 == nil || h2.HostId != h.HostId {
		t.Fatalf("after re-enrolment: %v, want host %s", h2, h.HostId)
	}
	f.col.mu.Lock()
	defer f.col.mu.Unlock()
	if len(f.col.enrols) != 2 || f.col.enrols[1].HostId != h.HostId {
		t.Fatalf("enrolments %v", f.col.enrols)
	}
}

// A broken queue stops Run with its error: the agent cannot keep what it
// is given, and reconnecting would not help.
func TestQueueFailureStopsRun(t *testing.T) {
	f := startWith(t, brokenQueue{})
	defer f.stop()
	select {
	case err := <-f.done:
		if err == nil || !strings.Contains(err.Error(), "disk gone") {
			t.Fatalf("Run returned %v, want the queue's error", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run goes on with a broken queue")
	}
}

type brokenQueue struct{}

func (brokenQueue) After(uint64) ([]*fwv1.AgentMessage, error) { return nil, errors.New("disk gone") }
func (brokenQueue) Ack(uint64) error                           { return errors.New("disk gone") }
func (brokenQueue) Dropped() uint64                            { return 0 }
func (brokenQueue) LastSeq() uint64                            { return 0 }
func (brokenQueue) Resync(uint64) error                        { return errors.New("disk gone") }
func (brokenQueue) Queued() <-chan struct{}                    { return nil }

func TestNewRefusesAnIncompleteConfig(t *testing.T) {
	if _, err := New(Config{StateDir: t.TempDir()}); err == nil {
		t.Fatal("New accepted a config without a dialer, an agent or a queue")
	}
}

// TestMaliciousCollector: an ack of a number never sent (2^64-1 once
// stopped the agent's delivery for good, across restarts) and resyncs to
// impossible numbers are refused and logged; the agent keeps delivering.
func TestMaliciousCollector(t *testing.T) {
	f := start(t)
	f.put(t, "a")
	f.next(t) // hello
	if m := f.next(t); m.Seq != 1 {
		t.Fatalf("#1: %v", m)
	}
	f.col.toAgent <- &fwv1.CollectorMessage{Body: &fwv1.CollectorMessage_Ack{Ack: &fwv1.Ack{Seq: ^uint64(0)}}}
	f.col.toAgent <- &fwv1.CollectorMessage{Body: &fwv1.CollectorMessage_Resync{Resync: &fwv1.Resync{NextSeq: 0}}}
	f.col.toAgent <- &fwv1.CollectorMessage{Body: &fwv1.CollectorMessage_Resync{Resync: &fwv1.Resync{NextSeq: 1 << 63}}}
	f.put(t, "b")
	if m := f.next(t); m.Seq != 2 || m.GetDelta() == nil {
		t.Fatalf("after the hostile messages: %v, want delta #2", m)
	}
	if ms, _ := f.queue.After(0); len(ms) != 2 {
		t.Fatalf("the impossible ack removed queued messages: %d left", len(ms))
	}
	f.col.toAgent <- &fwv1.CollectorMessage{Body: &fwv1.CollectorMessage_Ack{Ack: &fwv1.Ack{Seq: 2}}}
	eventually(t, "a real ack still works", func() bool { ms, _ := f.queue.After(0); return len(ms) == 0 })
	f.put(t, "c")
	if m := f.next(t); m.Seq != 3 {
		t.Fatalf("after a real ack: %v, want #3", m)
	}
}

// TestResync: the collector refuses a message; the agent drops its queue
// (counted), numbers on where the collector asks, and its next message is
// a full state at that number.
func TestResync(t *testing.T) {
	f := start(t)
	f.put(t, "a")
	f.put(t, "b")
	f.next(t) // hello
	f.next(t) // #1
	f.next(t) // #2
	f.col.toAgent <- &fwv1.CollectorMessage{Body: &fwv1.CollectorMessage_Resync{Resync: &fwv1.Resync{RefusedSeq: 2, NextSeq: 2, Reason: "over the limits"}}}
	eventually(t, "the queue dropped its messages", func() bool { return f.queue.Dropped() == 2 && f.queue.LastSeq() == 1 })
	f.put(t, "b")
	if m := f.next(t); m.Seq != 2 || m.GetFull() == nil {
		t.Fatalf("after the resync: %v, want full state #2", m)
	}
}

// TestChunks: a message larger than one gRPC message travels in chunks
// that join into it.
func TestChunks(t *testing.T) {
	f := start(t)
	var names []string
	for i := range 150 {
		names = append(names, fmt.Sprintf("%04d-%s", i, strings.Repeat("x", 2000)))
	}
	f.put(t, names...)
	f.next(t) // hello
	var data []byte
	n := 0
	for {
		m := f.next(t)
		c := m.GetChunk()
		if c == nil || m.Seq != 1 || proto.Size(m) > limits.GRPCMessageBytes {
			t.Fatalf("chunk %d: %v (%d bytes)", n, m.Body, proto.Size(m))
		}
		n++
		data = append(data, c.Data...)
		if c.Last {
			break
		}
	}
	var whole fwv1.AgentMessage
	if err := proto.Unmarshal(data, &whole); err != nil || whole.Seq != 1 || len(whole.GetFull().GetObservations()) != 150 || n < 2 {
		t.Fatalf("joined %d chunks: %v, %d observations", n, err, len(whole.GetFull().GetObservations()))
	}
}

func TestSplitAddrs(t *testing.T) {
	for in, want := range map[string]string{
		"a:1":            "[a:1]",
		" a:1 , b:2 ,, ": "[a:1 b:2]",
		"":               "[]",
	} {
		if got := fmt.Sprint(SplitAddrs(in)); got != want {
			t.Errorf("SplitAddrs(%q) = %s, want %s", in, got, want)
		}
	}
}
