package server

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/farmwatch/farmwatch/limits"
	fwv1 "github.com/farmwatch/farmwatch/proto/farmwatch/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// The regression tests of the hardening: each attack fails, and the
// legitimate path beside it still works.

func enrollAs(cc *grpc.ClientConn, secret string, req *fwv1.EnrollRequest) (*fwv1.EnrollResponse, error) {
	return fwv1.NewAgentServiceClient(cc).Enroll(enrollCtx(context.Background(), secret), req)
}

// recvResync reads up to the next resync, past settings and bundles.
func recvResync(t *testing.T, st fwv1.AgentService_ConnectClient) *fwv1.Resync {
	t.Helper()
	for {
		m, err := st.Recv()
		if err != nil {
			t.Fatal(err)
		}
		switch b := m.Body.(type) {
		case *fwv1.CollectorMessage_Resync:
			return b.Resync
		case *fwv1.CollectorMessage_Config, *fwv1.CollectorMessage_Rules:
			continue
		}
		t.Fatalf("got %v, want a resync", m)
	}
}

func full(seq uint64, obs ...*fwv1.Observation) *fwv1.AgentMessage {
	return &fwv1.AgentMessage{Seq: seq, Body: &fwv1.AgentMessage_Full{Full: &fwv1.FullState{Observations: obs}}}
}

func delta(seq uint64, obs ...*fwv1.Observation) *fwv1.AgentMessage {
	return &fwv1.AgentMessage{Seq: seq, Body: &fwv1.AgentMessage_Delta{Delta: &fwv1.Delta{Upserted: obs}}}
}

// TestHostTakeover: with the enroll secret and a victim's host id, an
// attacker gets no key; the victim's key keeps working; the victim
// itself re-keys with its key; an agent that lost its key waits for an
// admin, and only the request the admin approved gets in.
func TestHostTakeover(t *testing.T) {
	f := start(t)
	cc := f.dial(t)
	secret := f.install.EnrollSecret
	victim := enroll(t, cc, secret, "victim")
	st := connect(t, cc, victim.HostId, victim.NodeKey)
	st.Send(full(1, proc(1, "init")))
	recvAck(t, st)

	_, err := enrollAs(cc, secret, &fwv1.EnrollRequest{Host: &fwv1.HostInfo{Os: "linux", Hostname: "victim"}, HostId: victim.HostId, RequestId: "attacker-req"})
	if code(err) != codes.FailedPrecondition {
		t.Fatalf("takeover enrolment: %v, want FailedPrecondition", err)
	}
	_, err = enrollAs(cc, secret, &fwv1.EnrollRequest{Host: &fwv1.HostInfo{Os: "linux", Hostname: "victim"}, HostId: victim.HostId, NodeKey: "fwn_guess", RequestId: "attacker-req"})
	if code(err) != codes.FailedPrecondition {
		t.Fatalf("takeover with a guessed key: %v", err)
	}
	// The victim's stream still works; nothing of its state moved.
	st.Send(delta(2, proc(2, "bash")))
	if a := recvAck(t, st); a != 2 {
		t.Fatalf("victim's ack %d", a)
	}
	// The attacker's empty full state at a huge number is impossible now:
	// it has no key. The victim re-keys with its own.
	again, err := enrollAs(cc, secret, &fwv1.EnrollRequest{Host: &fwv1.HostInfo{Os: "linux", Hostname: "victim"}, HostId: victim.HostId, NodeKey: victim.NodeKey})
	if err != nil || again.HostId != victim.HostId || again.NodeKey == victim.NodeKey {
		t.Fatalf("re-key with the current key: %v, %v", again, err)
	}
	// An agent that lost its key: waits; the admin approves its request,
	// not the attacker's.
	_, err = enrollAs(cc, secret, &fwv1.EnrollRequest{Host: &fwv1.HostInfo{Os: "linux", Hostname: "victim"}, HostId: victim.HostId, RequestId: "lost-key-req"})
	if code(err) != codes.FailedPrecondition {
		t.Fatalf("lost key: %v", err)
	}
	// (The victim's re-key cleared the attacker's waiting request; it
	// asks again.)
	if _, err := enrollAs(cc, secret, &fwv1.EnrollRequest{Host: &fwv1.HostInfo{Os: "linux", Hostname: "victim"}, HostId: victim.HostId, RequestId: "attacker-req"}); code(err) != codes.FailedPrecondition {
		t.Fatal(err)
	}
	fleet := fwv1.NewFleetServiceClient(cc)
	admin := withToken(context.Background(), f.install.AdminToken)
	if _, err := fleet.ApproveHost(admin, &fwv1.ApproveHostRequest{Hostname: victim.HostId}); code(err) != codes.FailedPrecondition || !strings.Contains(err.Error(), "lost-key-req") {
		t.Fatalf("approve with two waiting: %v (want a list to choose from)", err)
	}
	if _, err := fleet.ApproveHost(admin, &fwv1.ApproveHostRequest{Hostname: victim.HostId, RequestId: "lost-key-req"}); err != nil {
		t.Fatal(err)
	}
	if _, err := enrollAs(cc, secret, &fwv1.EnrollRequest{Host: &fwv1.HostInfo{Os: "linux", Hostname: "victim"}, HostId: victim.HostId, RequestId: "attacker-req"}); code(err) != codes.FailedPrecondition {
		t.Fatalf("the attacker's request rode on another's approval: %v", err)
	}
	got, err := enrollAs(cc, secret, &fwv1.EnrollRequest{Host: &fwv1.HostInfo{Os: "linux", Hostname: "victim"}, HostId: victim.HostId, RequestId: "lost-key-req"})
	if err != nil || got.HostId != victim.HostId {
		t.Fatalf("approved enrolment: %v, %v", got, err)
	}
	// A helpdesk token may not approve.
	tok, _ := fleet.CreateToken(admin, &fwv1.CreateTokenRequest{Role: "helpdesk"})
	if _, err := fleet.ResetHost(withToken(context.Background(), tok.Token), &fwv1.ResetHostRequest{Hostname: victim.HostId}); code(err) != codes.PermissionDenied {
		t.Fatalf("helpdesk reset: %v", err)
	}
	// Reset: the old key is refused at once, the next enrolment is taken.
	if _, err := fleet.ResetHost(admin, &fwv1.ResetHostRequest{Hostname: victim.HostId}); err != nil {
		t.Fatal(err)
	}
	if _, err := connect(t, cc, victim.HostId, got.NodeKey).Recv(); code(err) != codes.Unauthenticated {
		t.Fatalf("stream after reset: %v", err)
	}
	if _, err := enrollAs(cc, secret, &fwv1.EnrollRequest{Host: &fwv1.HostInfo{Os: "linux", Hostname: "victim"}, HostId: victim.HostId}); err != nil {
		t.Fatalf("enrolment after reset: %v", err)
	}
	h, _ := f.store.Host(context.Background(), victim.HostId)
	if h.LastSeq != 2 {
		t.Fatalf("the host's sequence moved: %d", h.LastSeq)
	}
}

// TestSequenceAbuse: 2^64-1 (once stored as -1, silencing the host) and a
// delta after a gap are refused with a resync; the agent's full state at
// the number asked for is applied, and so is what follows.
func TestSequenceAbuse(t *testing.T) {
	f := start(t)
	cc := f.dial(t)
	r := enroll(t, cc, f.install.EnrollSecret, "laptop")
	st := connect(t, cc, r.HostId, r.NodeKey)
	st.Send(full(^uint64(0), proc(1, "evil")))
	if rs := recvResync(t, st); rs.RefusedSeq != ^uint64(0) || rs.NextSeq != 1 {
		t.Fatalf("2^64-1: %v", rs)
	}
	// In flight before the agent took the resync: ignored, not acked.
	st.Send(delta(7, proc(7, "stale")))
	st.Send(full(1, proc(1, "init")))
	if a := recvAck(t, st); a != 1 {
		t.Fatalf("ack %d, want 1", a)
	}
	st.Send(delta(5, proc(5, "gap")))
	if rs := recvResync(t, st); rs.RefusedSeq != 5 || rs.NextSeq != 2 || !strings.Contains(rs.Reason, "gap") {
		t.Fatalf("delta after a gap: %v", rs)
	}
	st.Send(full(2, proc(1, "init"), proc(2, "bash")))
	if a := recvAck(t, st); a != 2 {
		t.Fatalf("ack %d, want 2", a)
	}
	st.Send(delta(3, proc(3, "vim")))
	if a := recvAck(t, st); a != 3 {
		t.Fatalf("ack %d, want 3", a)
	}
	obs, _ := f.store.Observations(context.Background(), r.HostId)
	if len(obs) != 3 {
		t.Fatalf("observations %v", obs)
	}
	h, _ := f.store.Host(context.Background(), r.HostId)
	if h.Refused != 2 || h.LastSeq != 3 {
		t.Fatalf("host: refused %d, last %d", h.Refused, h.LastSeq)
	}
	// A hello whose numbering went back (a restored state directory).
	st2 := connect(t, cc, r.HostId, r.NodeKey)
	st2.Send(&fwv1.AgentMessage{Body: &fwv1.AgentMessage_Hello{Hello: &fwv1.Hello{HostId: r.HostId, LastSeq: 1}}})
	if rs := recvResync(t, st2); rs.NextSeq != 4 || !strings.Contains(rs.Reason, "went back") {
		t.Fatalf("numbering went back: %v", rs)
	}
}

// TestHostnameShadowing: a second host enrolled under a victim's name
// makes the name an ambiguity listing both; the newest never answers for
// the name; each answers for its id.
func TestHostnameShadowing(t *testing.T) {
	f := start(t)
	cc := f.dial(t)
	victim := enroll(t, cc, f.install.EnrollSecret, "finance-7")
	impostor := enroll(t, cc, f.install.EnrollSecret, "finance-7")
	fleet := fwv1.NewFleetServiceClient(cc)
	admin := withToken(context.Background(), f.install.AdminToken)
	_, err := fleet.GetHost(admin, &fwv1.GetHostRequest{Hostname: "finance-7"})
	if code(err) != codes.FailedPrecondition || !strings.Contains(err.Error(), victim.HostId) || !strings.Contains(err.Error(), impostor.HostId) {
		t.Fatalf("host finance-7: %v (want an ambiguity naming both ids)", err)
	}
	if _, err := fleet.ListFindings(admin, &fwv1.ListFindingsRequest{Hostname: "finance-7"}); code(err) != codes.FailedPrecondition {
		t.Fatalf("findings --host finance-7: %v", err)
	}
	if _, err := fleet.ScanHost(admin, &fwv1.ScanHostRequest{Hostname: "finance-7"}); code(err) != codes.FailedPrecondition {
		t.Fatalf("scan finance-7: %v", err)
	}
	for _, id := range []string{victim.HostId, impostor.HostId} {
		if r, err := fleet.GetHost(admin, &fwv1.GetHostRequest{Hostname: id}); err != nil || r.Host.HostId != id {
			t.Fatalf("host %s: %v, %v", id, r, err)
		}
	}
}

// TestPerHostCap: deltas cannot grow a host past its observation limit;
// the message that would is refused whole, and the host stays as it was.
func TestPerHostCap(t *testing.T) {
	f := startWith(t, limits.Limits{HostObservations: 10})
	cc := f.dial(t)
	r := enroll(t, cc, f.install.EnrollSecret, "laptop")
	st := connect(t, cc, r.HostId, r.NodeKey)
	var obs []*fwv1.Observation
	for i := range 8 {
		obs = append(obs, proc(int32(i), fmt.Sprintf("p%d", i)))
	}
	st.Send(full(1, obs...))
	recvAck(t, st)
	var more []*fwv1.Observation
	for i := 8; i < 13; i++ {
		more = append(more, proc(int32(i), fmt.Sprintf("p%d", i)))
	}
	st.Send(delta(2, more...))
	if rs := recvResync(t, st); rs.RefusedSeq != 2 || !strings.Contains(rs.Reason, "13 observations, the limit is 10") {
		t.Fatalf("over the cap: %v", rs)
	}
	if got, _ := f.store.Observations(context.Background(), r.HostId); len(got) != 8 {
		t.Fatalf("%d observations after a refused delta, want 8", len(got))
	}
	st.Send(full(2, obs[:5]...))
	if a := recvAck(t, st); a != 2 {
		t.Fatalf("ack %d", a)
	}
	st.Send(delta(3, more[:2]...))
	if a := recvAck(t, st); a != 3 {
		t.Fatalf("ack %d", a)
	}
}

// TestCostBoundAtCollector: what reaches the rules is within the sizes
// their cost estimate assumes, scan replies included: a report with a list
// over the bound is refused before the collector's rules see it.
func TestCostBoundAtCollector(t *testing.T) {
	f := start(t)
	cc := f.dial(t)
	r := enroll(t, cc, f.install.EnrollSecret, "laptop")
	st := connect(t, cc, r.HostId, r.NodeKey)
	args := make([]string, limits.ListItems+1)
	for i := range args {
		args[i] = "a"
	}
	huge := &fwv1.Observation{Key: "process/1", Kind: &fwv1.Observation_Process{Process: &fwv1.Process{Pid: 1, Name: "x", Args: args}}}
	st.Send(full(1, huge))
	if rs := recvResync(t, st); !strings.Contains(rs.Reason, "Process.args has 4097 items") {
		t.Fatalf("full state with a list over the bound: %v", rs)
	}
	// A scan reply with the same list: the scan fails, saying why.
	fleet := fwv1.NewFleetServiceClient(cc)
	errc := make(chan error, 1)
	go func() {
		_, err := fleet.ScanHost(withToken(context.Background(), f.install.AdminToken), &fwv1.ScanHostRequest{Hostname: r.HostId, TimeoutMs: 10_000})
		errc <- err
	}()
	for {
		m := recvNext(t, st)
		if sr := m.GetScan(); sr != nil {
			st.Send(&fwv1.AgentMessage{Body: &fwv1.AgentMessage_ScanReply{ScanReply: &fwv1.ScanReply{RequestId: sr.RequestId,
				Report: &fwv1.Report{Host: &fwv1.HostInfo{Os: "linux", Hostname: "laptop"}, Observations: []*fwv1.Observation{huge}}}}})
			break
		}
	}
	if err := <-errc; err == nil || !strings.Contains(err.Error(), "over the collector's limits") {
		t.Fatalf("scan with a list over the bound: %v", err)
	}
}

func code(err error) codes.Code { return status.Code(err) }
