package server

import (
	"context"
	"fmt"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/farmwatch/farmwatch/collector/pki"
	"github.com/farmwatch/farmwatch/collector/store"
	"github.com/farmwatch/farmwatch/collector/store/sqlite"
	"github.com/farmwatch/farmwatch/credential"
	"github.com/farmwatch/farmwatch/limits"
	fwv1 "github.com/farmwatch/farmwatch/proto/farmwatch/v1"
	"github.com/farmwatch/farmwatch/rules"
	"github.com/rs/zerolog"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

type fixture struct {
	addr    string
	dir     string
	install *pki.Install
	store   store.Store
	srv     *Server
}

// start serves a real collector on a loopback TLS socket.
func start(t *testing.T) *fixture {
	t.Helper()
	return startWith(t, limits.Limits{MaxMessageBytes: 1 << 20, MaxObservations: 100, MaxFindings: 100, MaxStringBytes: 1024, MaxListItems: 64})
}

// startWith serves a collector with these limits.
func startWith(t *testing.T, l limits.Limits) *fixture {
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
	srv, err := New(Config{Store: st, Log: zerolog.Nop(), EnrollSecret: in.EnrollSecret, Limits: l})
	if err != nil {
		t.Fatal(err)
	}
	tlsCfg, err := pki.ServerTLS(dir)
	if err != nil {
		t.Fatal(err)
	}
	g := grpc.NewServer(append(srv.GRPCOptions(), grpc.Creds(credentials.NewTLS(tlsCfg)))...)
	srv.Register(g)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { defer close(done); g.Serve(ln) }()
	t.Cleanup(func() { g.Stop(); <-done; st.Close() })
	return &fixture{addr: ln.Addr().String(), dir: dir, install: in, store: st, srv: srv}
}

func (f *fixture) dial(t *testing.T) *grpc.ClientConn {
	t.Helper()
	cfg, err := credential.ClientTLS(filepath.Join(f.dir, pki.CAFile))
	if err != nil {
		t.Fatal(err)
	}
	cfg.ServerName = "localhost"
	cc, err := grpc.NewClient(f.addr, grpc.WithTransportCredentials(credentials.NewTLS(cfg)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cc.Close() })
	return cc
}

func withToken(ctx context.Context, tok string) context.Context {
	return metadata.AppendToOutgoingContext(ctx, credential.MDAuthorization, credential.Bearer(tok))
}

func enroll(t *testing.T, cc *grpc.ClientConn, secret, name string) *fwv1.EnrollResponse {
	t.Helper()
	r, err := fwv1.NewAgentServiceClient(cc).Enroll(enrollCtx(context.Background(), secret), &fwv1.EnrollRequest{Host: &fwv1.HostInfo{Os: "linux", Hostname: name}})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func connect(t *testing.T, cc *grpc.ClientConn, hostID, key string) fwv1.AgentService_ConnectClient {
	t.Helper()
	ctx := metadata.AppendToOutgoingContext(context.Background(), credential.MDHost, hostID, credential.MDAuthorization, credential.Node(key))
	st, err := fwv1.NewAgentServiceClient(cc).Connect(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func proc(pid int32, name string) *fwv1.Observation {
	return &fwv1.Observation{Key: "process/" + name, Kind: &fwv1.Observation_Process{Process: &fwv1.Process{Pid: pid, Name: name}}}
}

// recvAck reads up to the next ack, past the settings a hello brings.
func recvAck(t *testing.T, st fwv1.AgentService_ConnectClient) uint64 {
	t.Helper()
	for {
		m, err := st.Recv()
		if err != nil {
			t.Fatal(err)
		}
		switch b := m.Body.(type) {
		case *fwv1.CollectorMessage_Ack:
			return b.Ack.Seq
		case *fwv1.CollectorMessage_Config, *fwv1.CollectorMessage_Rules:
			continue
		}
		t.Fatalf("got %v, want an ack", m)
	}
}

// recvNext reads the next message that is not an ack.
func recvNext(t *testing.T, st fwv1.AgentService_ConnectClient) *fwv1.CollectorMessage {
	t.Helper()
	for {
		m, err := st.Recv()
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := m.Body.(*fwv1.CollectorMessage_Ack); !ok {
			return m
		}
	}
}

// The collector pushes its rule bundle to an agent whose version differs,
// its settings after every hello, and both again when they change; what the
// agent reports of the bundle is kept on the host.
func TestPolicyPush(t *testing.T) {
	f := start(t)
	org := &fwv1.OrgPolicy{ExpectedCountries: []string{"KR"}}
	src := rules.Source{Name: "org/extra.yaml", Data: []byte("lists:\n  x: {description: d, match: exact, sources: [s], values: {a: A}}\n")}
	b1, err := rules.NewBundle([]rules.Source{src})
	if err != nil {
		t.Fatal(err)
	}
	set, err := rules.Load(append(rules.Builtin(), src), rules.Options{})
	if err != nil {
		t.Fatal(err)
	}
	f.srv.SetPolicy(Policy{Rules: set, Bundle: b1, Org: org, Interval: 90 * time.Second})
	cc := f.dial(t)
	r := enroll(t, cc, f.install.EnrollSecret, "laptop-p")
	st := connect(t, cc, r.HostId, r.NodeKey)
	st.Send(&fwv1.AgentMessage{Body: &fwv1.AgentMessage_Hello{Hello: &fwv1.Hello{HostId: r.HostId, AgentVersion: "v9", RulesVersion: ""}}})
	m := recvNext(t, st)
	if got := m.GetRules(); got.GetVersion() != b1.Version || len(got.GetFiles()) != 1 {
		t.Fatalf("first after hello: %v, want the bundle", m)
	}
	m = recvNext(t, st)
	if c := m.GetConfig(); c.GetIntervalSeconds() != 90 || c.GetRulesVersion() != b1.Version || c.GetOrg().GetExpectedCountries()[0] != "KR" {
		t.Fatalf("then: %v, want the settings", m)
	}
	st.Send(&fwv1.AgentMessage{Body: &fwv1.AgentMessage_BundleStatus{BundleStatus: &fwv1.BundleStatus{Version: b1.Version}}})
	waitHost := func(what string, ok func(store.Host) bool) {
		t.Helper()
		for i := 0; ; i++ {
			h, err := f.store.Host(context.Background(), r.HostId)
			if err == nil && ok(h) {
				return
			}
			if i == 200 {
				t.Fatalf("%s: host = %+v, %v", what, h, err)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	waitHost("applied", func(h store.Host) bool {
		return h.RulesVersion == b1.Version && h.AgentVersion == "v9" && h.RulesError == ""
	})

	// The rules change while the agent is connected: it gets them at once.
	src2 := rules.Source{Name: "org/extra.yaml", Data: []byte("lists:\n  x: {description: d, match: exact, sources: [s], values: {a: A, b: B}}\n")}
	b2, _ := rules.NewBundle([]rules.Source{src2})
	f.srv.SetPolicy(Policy{Rules: set, Bundle: b2, Org: org})
	if m := recvNext(t, st); m.GetRules().GetVersion() != b2.Version {
		t.Fatalf("after the change: %v, want the new bundle", m)
	}
	if m := recvNext(t, st); m.GetConfig().GetRulesVersion() != b2.Version || m.GetConfig().GetIntervalSeconds() != 0 {
		t.Fatalf("after the change: %v, want the new settings", m)
	}
	st.Send(&fwv1.AgentMessage{Body: &fwv1.AgentMessage_BundleStatus{BundleStatus: &fwv1.BundleStatus{Version: b1.Version, RefusedVersion: b2.Version, Error: "org/extra.yaml:2:3: bad"}}})
	waitHost("refused", func(h store.Host) bool {
		return h.RulesVersion == b1.Version && h.RulesError == "org/extra.yaml:2:3: bad"
	})
	sum, err := fwv1.NewFleetServiceClient(cc).GetHost(withToken(context.Background(), f.install.AdminToken), &fwv1.GetHostRequest{Hostname: "laptop-p"})
	if err != nil || sum.Host.RulesError == "" || sum.Host.AgentVersion != "v9" {
		t.Fatalf("fleet view: %v, %v", sum, err)
	}

	// An agent that already has the bundle gets only the settings.
	st.CloseSend()
	st2 := connect(t, cc, r.HostId, r.NodeKey)
	st2.Send(&fwv1.AgentMessage{Body: &fwv1.AgentMessage_Hello{Hello: &fwv1.Hello{HostId: r.HostId, RulesVersion: b2.Version}}})
	if m := recvNext(t, st2); m.GetConfig() == nil {
		t.Fatalf("up-to-date agent got %v, want only the settings", m)
	}
}

// The collector judges a host by the fleet's expectations when it has them,
// and by the agent's own (from its hello) when it has none.
func TestCollectorOrg(t *testing.T) {
	f := start(t)
	set, err := rules.Load(rules.Builtin(), rules.Options{})
	if err != nil {
		t.Fatal(err)
	}
	cc := f.dial(t)
	tz := func(z string) *fwv1.Observation {
		return &fwv1.Observation{Key: "locale/tz", Kind: &fwv1.Observation_Locale{Locale: &fwv1.Locale{Timezone: z}}}
	}
	findings := func(hostID string) []string {
		rows, err := f.store.Findings(context.Background(), store.FindingFilter{HostID: hostID})
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, r := range rows {
			out = append(out, r.Finding.Rule)
		}
		return out
	}
	run := func(name string, agentOrg, fleetOrg *fwv1.OrgPolicy) []string {
		f.srv.SetPolicy(Policy{Rules: set, Org: fleetOrg})
		r := enroll(t, cc, f.install.EnrollSecret, name)
		st := connect(t, cc, r.HostId, r.NodeKey)
		st.Send(&fwv1.AgentMessage{Body: &fwv1.AgentMessage_Hello{Hello: &fwv1.Hello{HostId: r.HostId, Org: agentOrg}}})
		st.Send(&fwv1.AgentMessage{Seq: 1, Body: &fwv1.AgentMessage_Full{Full: &fwv1.FullState{Observations: []*fwv1.Observation{tz("Asia/Seoul")}}}})
		recvAck(t, st)
		return findings(r.HostId)
	}
	us := &fwv1.OrgPolicy{ExpectedTimezones: []string{"America/New_York"}}
	kr := &fwv1.OrgPolicy{ExpectedTimezones: []string{"Asia/Seoul"}}
	agentUS := run("agent-us", us, nil)
	agentKR := run("agent-kr", kr, nil)
	fleetUS := run("fleet-us", kr, us)
	if len(agentUS) == 0 || len(agentKR) != 0 || fmt.Sprint(fleetUS) != fmt.Sprint(agentUS) {
		t.Fatalf("findings: agent US %v, agent KR %v, fleet US over agent KR %v", agentUS, agentKR, fleetUS)
	}
}

func TestEnrollConnectApplyAck(t *testing.T) {
	f := start(t)
	cc := f.dial(t)
	r := enroll(t, cc, f.install.EnrollSecret, "laptop-1")
	st := connect(t, cc, r.HostId, r.NodeKey)
	send := func(m *fwv1.AgentMessage) {
		t.Helper()
		if err := st.Send(m); err != nil {
			t.Fatal(err)
		}
	}
	// The hello is not sequenced; its spool count is recorded with the next
	// message.
	send(&fwv1.AgentMessage{Body: &fwv1.AgentMessage_Hello{Hello: &fwv1.Hello{HostId: r.HostId, SpoolDropped: 2}}})
	send(&fwv1.AgentMessage{Seq: 1, Body: &fwv1.AgentMessage_Full{Full: &fwv1.FullState{
		Observations: []*fwv1.Observation{proc(1, "init"), proc(2, "anydesk")},
		Findings:     []*fwv1.Finding{{Rule: "remote-access-tool", Severity: fwv1.Severity_SEVERITY_MEDIUM, Title: "t", Evidence: []string{"process/anydesk"}}},
		SpoolDropped: 2,
	}}})
	if a := recvAck(t, st); a != 1 {
		t.Fatalf("ack %d", a)
	}
	send(&fwv1.AgentMessage{Seq: 2, Body: &fwv1.AgentMessage_Delta{Delta: &fwv1.Delta{Removed: []string{"process/anydesk"}, SpoolDropped: 2}}})
	recvAck(t, st)
	// A resent message is acknowledged again and changes nothing.
	send(&fwv1.AgentMessage{Seq: 1, Body: &fwv1.AgentMessage_Full{Full: &fwv1.FullState{Observations: []*fwv1.Observation{proc(9, "stale")}}}})
	if a := recvAck(t, st); a != 1 {
		t.Fatalf("resent ack %d", a)
	}
	obs, err := f.store.Observations(context.Background(), r.HostId)
	if err != nil || len(obs) != 1 || obs[0].GetProcess().GetName() != "init" {
		t.Fatalf("stored %v, %v", obs, err)
	}
	hosts, err := fwv1.NewFleetServiceClient(cc).ListHosts(withToken(context.Background(), f.install.AdminToken), &fwv1.ListHostsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	h := hosts.Hosts[0]
	if h.Hostname != "laptop-1" || !h.Online || h.SpoolDropped != 2 || h.EgressIp != "127.0.0.1" || h.Findings != 0 {
		t.Fatalf("host summary = %v", h)
	}
}

// ruled gives the collector these rules and connects a new host to it.
func (f *fixture) ruled(t *testing.T, set *rules.Set, name string) (*fwv1.EnrollResponse, fwv1.AgentService_ConnectClient) {
	t.Helper()
	f.srv.SetPolicy(Policy{Rules: set})
	cc := f.dial(t)
	r := enroll(t, cc, f.install.EnrollSecret, name)
	return r, connect(t, cc, r.HostId, r.NodeKey)
}

// With rules, the collector judges each host's current state itself.
func TestCollectorRules(t *testing.T) {
	f := start(t)
	set, err := rules.Load(rules.Builtin(), rules.Options{})
	if err != nil {
		t.Fatal(err)
	}
	r, st := f.ruled(t, set, "laptop-r")
	st.Send(&fwv1.AgentMessage{Seq: 1, Body: &fwv1.AgentMessage_Full{Full: &fwv1.FullState{Observations: []*fwv1.Observation{proc(1, "init"), proc(2, "anydesk")}}}})
	recvAck(t, st)
	rows, err := f.store.Findings(context.Background(), store.FindingFilter{HostID: r.HostId})
	if err != nil || len(rows) == 0 || rows[0].Finding.Rule != "remote-access-tool" || rows[0].Finding.Label != "AnyDesk" {
		t.Fatalf("collector findings = %+v, %v", rows, err)
	}
	// A delta that removes the tool resolves the finding; a heartbeat in
	// between changes nothing.
	st.Send(&fwv1.AgentMessage{Seq: 2, Body: &fwv1.AgentMessage_Heartbeat{Heartbeat: &fwv1.Heartbeat{}}})
	recvAck(t, st)
	if rows, _ := f.store.Findings(context.Background(), store.FindingFilter{HostID: r.HostId}); len(rows) != 1 {
		t.Fatalf("after a heartbeat: %+v", rows)
	}
	st.Send(&fwv1.AgentMessage{Seq: 3, Body: &fwv1.AgentMessage_Delta{Delta: &fwv1.Delta{Removed: []string{"process/anydesk"}}}})
	recvAck(t, st)
	if rows, _ := f.store.Findings(context.Background(), store.FindingFilter{HostID: r.HostId}); len(rows) != 0 {
		t.Fatalf("after the removal: %+v", rows)
	}
}

func TestScanRoundTrip(t *testing.T) {
	f := start(t)
	cc := f.dial(t)
	r := enroll(t, cc, f.install.EnrollSecret, "laptop-2")
	st := connect(t, cc, r.HostId, r.NodeKey)
	st.Send(&fwv1.AgentMessage{Body: &fwv1.AgentMessage_Hello{Hello: &fwv1.Hello{HostId: r.HostId}}})
	st.Send(full(1, proc(1, "init")))
	recvAck(t, st)
	go func() { // the agent: answer one scan request
		m, err := st.Recv()
		if err != nil {
			return
		}
		if q, ok := m.Body.(*fwv1.CollectorMessage_Scan); ok {
			st.Send(&fwv1.AgentMessage{Body: &fwv1.AgentMessage_ScanReply{ScanReply: &fwv1.ScanReply{RequestId: q.Scan.RequestId, Report: &fwv1.Report{Verdict: "REMOTE-CONTROLLED? no sign found"}}}})
		}
	}()
	start := time.Now()
	resp, err := fwv1.NewFleetServiceClient(cc).ScanHost(withToken(context.Background(), f.install.AdminToken), &fwv1.ScanHostRequest{Hostname: "laptop-2", TimeoutMs: 5000})
	if err != nil {
		t.Fatal(err)
	}
	if resp.Report.Verdict != "REMOTE-CONTROLLED? no sign found" {
		t.Fatalf("report %v", resp.Report)
	}
	t.Logf("scan round trip %s", time.Since(start))
	// Offline host: a clear Unavailable.
	r2 := enroll(t, cc, f.install.EnrollSecret, "laptop-3")
	_, err = fwv1.NewFleetServiceClient(cc).ScanHost(withToken(context.Background(), f.install.AdminToken), &fwv1.ScanHostRequest{Hostname: r2.HostId, TimeoutMs: 500})
	if status.Code(err) != codes.Unavailable || !strings.Contains(err.Error(), "not connected") {
		t.Fatalf("offline scan: %v", err)
	}
}

func TestRefusals(t *testing.T) {
	f := start(t)
	cc := f.dial(t)
	ctx := context.Background()
	fleet := fwv1.NewFleetServiceClient(cc)
	agent := fwv1.NewAgentServiceClient(cc)

	if _, err := agent.Enroll(enrollCtx(ctx, "wrong"), &fwv1.EnrollRequest{Host: &fwv1.HostInfo{Os: "linux", Hostname: "x"}}); code(err) != codes.Unauthenticated {
		t.Errorf("wrong enroll secret: %v", err)
	}
	if _, err := agent.Enroll(enrollCtx(ctx, f.install.EnrollSecret), &fwv1.EnrollRequest{Host: &fwv1.HostInfo{Os: "beos", Hostname: "x"}}); code(err) != codes.InvalidArgument {
		t.Errorf("bad host facts: %v", err)
	}
	if _, err := fleet.ListHosts(ctx, &fwv1.ListHostsRequest{}); code(err) != codes.Unauthenticated {
		t.Errorf("no token: %v", err)
	}
	if _, err := fleet.ListHosts(withToken(ctx, "fwt_forged"), &fwv1.ListHostsRequest{}); code(err) != codes.Unauthenticated {
		t.Errorf("unknown token: %v", err)
	}
	tok, err := fleet.CreateToken(withToken(ctx, f.install.AdminToken), &fwv1.CreateTokenRequest{Role: "helpdesk"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := fleet.ListHosts(withToken(ctx, tok.Token), &fwv1.ListHostsRequest{}); err != nil {
		t.Errorf("helpdesk listing hosts: %v", err)
	}
	if _, err := fleet.CreateToken(withToken(ctx, tok.Token), &fwv1.CreateTokenRequest{Role: "admin"}); code(err) != codes.PermissionDenied {
		t.Errorf("helpdesk making an admin token: %v", err)
	}

	a := enroll(t, cc, f.install.EnrollSecret, "a")
	b := enroll(t, cc, f.install.EnrollSecret, "b")
	recvErr := func(st fwv1.AgentService_ConnectClient) error {
		_, err := st.Recv()
		return err
	}
	// A forged node key.
	if err := recvErr(connect(t, cc, a.HostId, "fwn_forged")); code(err) != codes.Unauthenticated {
		t.Errorf("forged node key: %v", err)
	}
	// b's key for a's id.
	if err := recvErr(connect(t, cc, a.HostId, b.NodeKey)); code(err) != codes.Unauthenticated {
		t.Errorf("another host's key: %v", err)
	}
	// a's stream speaking for b.
	st := connect(t, cc, a.HostId, a.NodeKey)
	st.Send(&fwv1.AgentMessage{Seq: 1, Body: &fwv1.AgentMessage_Hello{Hello: &fwv1.Hello{HostId: b.HostId}}})
	if err := recvErr(st); code(err) != codes.PermissionDenied {
		t.Errorf("another host's id: %v", err)
	}
	// Over the limits: too many observations, a string over the limit, an
	// observation without a kind. Each is refused whole and answered with
	// a resync that names it, and the stream goes on.
	refused := func(what string, m *fwv1.AgentMessage, reason string) {
		t.Helper()
		st := connect(t, cc, a.HostId, a.NodeKey)
		st.Send(m)
		r, err := st.Recv()
		if err != nil || r.GetResync() == nil || r.GetResync().RefusedSeq != m.Seq || r.GetResync().NextSeq != 1 || !strings.Contains(r.GetResync().Reason, reason) {
			t.Errorf("%s: got %v, %v; want a resync of #%d saying %q", what, r, err, m.Seq, reason)
		}
	}
	var many []*fwv1.Observation
	for i := 0; i < 101; i++ {
		many = append(many, proc(int32(i), "p"+string(rune('a'+i%26))+strings.Repeat("x", i)))
	}
	refused("too many observations", &fwv1.AgentMessage{Seq: 1, Body: &fwv1.AgentMessage_Full{Full: &fwv1.FullState{Observations: many}}}, "101 observations")
	long := proc(1, strings.Repeat("n", 2000))
	long.Key = "process/1"
	refused("long string", &fwv1.AgentMessage{Seq: 1, Body: &fwv1.AgentMessage_Full{Full: &fwv1.FullState{Observations: []*fwv1.Observation{long}}}}, "farmwatch.v1.Process.name")
	refused("malformed observation", &fwv1.AgentMessage{Seq: 1, Body: &fwv1.AgentMessage_Full{Full: &fwv1.FullState{Observations: []*fwv1.Observation{{Key: "k"}}}}}, "has no kind")
	if h, _ := f.store.Host(ctx, a.HostId); h.Refused != 3 {
		t.Errorf("refusals counted: %d, want 3", h.Refused)
	}
	st = connect(t, cc, a.HostId, a.NodeKey)
	st.Send(&fwv1.AgentMessage{Seq: 1, Body: &fwv1.AgentMessage_Full{Full: &fwv1.FullState{Observations: []*fwv1.Observation{proc(1, strings.Repeat("n", 1<<20))}}}})
	if err := recvErr(st); code(err) != codes.ResourceExhausted {
		t.Errorf("message over the gRPC size limit: %v", err)
	}
	// Nothing of the refused messages was applied.
	if obs, _ := f.store.Observations(ctx, a.HostId); len(obs) != 0 {
		t.Errorf("refused messages were applied: %v", obs)
	}
	// A plaintext client against the TLS port.
	pc, err := grpc.NewClient(f.addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	cctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	if _, err := fwv1.NewAgentServiceClient(pc).Enroll(enrollCtx(cctx, f.install.EnrollSecret), &fwv1.EnrollRequest{}); code(err) != codes.Unavailable {
		t.Errorf("plaintext client: %v", err)
	}
}

// enrollCtx carries an enroll secret as agents send it.
func enrollCtx(ctx context.Context, secret string) context.Context {
	return metadata.AppendToOutgoingContext(ctx, credential.MDAuthorization, credential.Enroll(secret))
}

// TestCollectorExceptionExpiry: when an organisation's exception expires,
// the host state a session keeps is stale; the next message builds it
// again from the store, and the finding it suppressed stands.
func TestCollectorExceptionExpiry(t *testing.T) {
	f := start(t)
	var (
		mu  sync.Mutex
		now = time.Date(2029, 12, 31, 12, 0, 0, 0, time.UTC)
	)
	set, err := rules.Load(append(rules.Builtin(), rules.Source{Name: "org.yaml", Data: []byte(`exceptions:
  - id: it-anydesk
    rules: [remote-access-tool]
    reason: IT's own, until the contract ends
    expires: 2030-01-01
    when: process.name == "anydesk"
`)}), rules.Options{Now: func() time.Time { mu.Lock(); defer mu.Unlock(); return now }})
	if err != nil {
		t.Fatal(err)
	}
	r, st := f.ruled(t, set, "laptop-x")
	suppressedBy := func() string {
		t.Helper()
		rows, err := f.store.Findings(context.Background(), store.FindingFilter{HostID: r.HostId})
		if err != nil {
			t.Fatal(err)
		}
		for _, row := range rows {
			if row.Finding.Rule == "remote-access-tool" {
				return row.Finding.SuppressedBy
			}
		}
		t.Fatalf("no remote-access-tool finding in %+v", rows)
		return ""
	}
	st.Send(&fwv1.AgentMessage{Seq: 1, Body: &fwv1.AgentMessage_Full{Full: &fwv1.FullState{Observations: []*fwv1.Observation{proc(1, "init"), proc(2, "anydesk")}}}})
	recvAck(t, st)
	if got := suppressedBy(); got != "it-anydesk" {
		t.Fatalf("before the expiry the finding is suppressed by %q, want it-anydesk", got)
	}
	mu.Lock()
	now = now.Add(36 * time.Hour)
	mu.Unlock()
	// A delta that does not touch the tool: only a state built again from
	// the store judges it again.
	st.Send(&fwv1.AgentMessage{Seq: 2, Body: &fwv1.AgentMessage_Delta{Delta: &fwv1.Delta{Upserted: []*fwv1.Observation{proc(3, "bash")}}}})
	recvAck(t, st)
	if got := suppressedBy(); got != "" {
		t.Fatalf("after the expiry the finding is still suppressed by %q", got)
	}
}
