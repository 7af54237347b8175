package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/farmwatch/farmwatch/collector/store"
	fwv1 "github.com/farmwatch/farmwatch/proto/farmwatch/v1"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// A host's egress IPs are kept with first and last seen, from messages and
// from hellos, newest first.
func testEgress(t *testing.T, s store.Store) {
	ctx := context.Background()
	must(t, s.PutHost(ctx, host("h1", "alpha")))
	_, err := s.ApplyMessage(ctx, "h1", 1, store.Apply{Full: true, Seen: t0, EgressIP: "198.51.100.7"})
	must(t, err)
	_, err = s.ApplyMessage(ctx, "h1", 2, store.Apply{Seen: t0.Add(time.Hour), EgressIP: "198.51.100.7"})
	must(t, err)
	must(t, s.SetEgress(ctx, "h1", "203.0.113.9", t0.Add(2*time.Hour)))
	h, err := s.Host(ctx, "h1")
	must(t, err)
	if h.EgressIP != "203.0.113.9" || !h.LastSeen.Equal(t0.Add(2*time.Hour)) {
		t.Fatalf("host after a hello from elsewhere: %+v", h)
	}
	hist, err := s.EgressHistory(ctx, "h1")
	must(t, err)
	if len(hist) != 2 || hist[0].IP != "203.0.113.9" || hist[1].IP != "198.51.100.7" ||
		!hist[1].FirstSeen.Equal(t0) || !hist[1].LastSeen.Equal(t0.Add(time.Hour)) {
		t.Fatalf("history %+v", hist)
	}
	if err := s.SetEgress(ctx, "nobody", "203.0.113.9", t0); err == nil {
		t.Fatal("egress of an unknown host stored")
	}
	_, err = s.PruneChanges(ctx, t0.Add(90*time.Minute))
	must(t, err)
	if hist, _ := s.EgressHistory(ctx, "h1"); len(hist) != 1 || hist[0].IP != "203.0.113.9" {
		t.Fatalf("history after pruning %+v", hist)
	}
}

// Clusters and their findings: open while recomputations name them,
// resolved when they stop, reopened with a new first seen; fleet findings
// show in Findings beside the agents' and are not resolved by an agent's
// message.
func testFleet(t *testing.T, s store.Store) {
	ctx := context.Background()
	must(t, s.PutHost(ctx, host("h1", "alpha")))
	must(t, s.PutHost(ctx, host("h2", "beta")))
	c := &fwv1.Cluster{Id: "c-1", Severity: fwv1.Severity_SEVERITY_CRITICAL, FirstSeen: timestamppb.New(t0),
		Members: []*fwv1.ClusterMember{{HostId: "h1", Hostname: "alpha"}, {HostId: "h2", Hostname: "beta"}}}
	ff := &fwv1.Finding{Rule: "farm-shared-lan", Severity: fwv1.Severity_SEVERITY_CRITICAL, Title: "t", Evidence: []string{"cluster/c-1"}, Scope: "fleet"}
	fs := map[string][]*fwv1.Finding{"h1": {ff}, "h2": {ff}, "gone-host": {ff}}
	must(t, s.PutFleet(ctx, store.FleetUpdate{Open: []*fwv1.Cluster{c}, Findings: fs, At: t0}))
	must(t, s.PutFleet(ctx, store.FleetUpdate{Open: []*fwv1.Cluster{c}, Findings: fs, At: t0.Add(time.Minute)}))
	cs, err := s.Clusters(ctx, false)
	must(t, err)
	if len(cs) != 1 || cs[0].Id != "c-1" || cs[0].State != "open" || !cs[0].FirstSeen.AsTime().Equal(t0) ||
		!cs[0].LastSeen.AsTime().Equal(t0.Add(time.Minute)) || len(cs[0].Members) != 2 {
		t.Fatalf("clusters %v", cs)
	}
	// An agent's message sets its host's findings: the fleet's stay.
	_, err = s.ApplyMessage(ctx, "h1", 1, store.Apply{Full: true, Seen: t0.Add(2 * time.Minute), FindingsSet: true,
		Findings: []*fwv1.Finding{finding("remote-access-tool", "process/1@0", fwv1.Severity_SEVERITY_MEDIUM)}})
	must(t, err)
	rows, err := s.Findings(ctx, store.FindingFilter{HostID: "h1"})
	must(t, err)
	if len(rows) != 2 || rows[0].Finding.GetRule() != "farm-shared-lan" || rows[0].Hostname != "alpha" || rows[1].Finding.GetRule() != "remote-access-tool" {
		t.Fatalf("findings of h1: %+v", rows)
	}
	if rows, _ := s.Findings(ctx, store.FindingFilter{MinSeverity: fwv1.Severity_SEVERITY_CRITICAL}); len(rows) != 2 {
		t.Fatalf("critical findings: %+v", rows)
	}
	// A fleet finding is judged like an agent's: the judgement shows on
	// its row and it leaves the open counts.
	must(t, s.TriageFinding(ctx, store.Triage{HostID: "h1", FindingID: rows[0].ID, State: store.Acknowledged, By: "alice", At: t0.Add(3 * time.Minute)}))
	rows, err = s.Findings(ctx, store.FindingFilter{HostID: "h1"})
	must(t, err)
	if len(rows) != 2 || rows[0].TriageState() != store.Acknowledged || rows[0].Counts() || rows[0].Triage.Occurrence != t0 {
		t.Fatalf("fleet finding after triage: %+v", rows)
	}
	// The cluster ends: resolved, with its findings.
	must(t, s.PutFleet(ctx, store.FleetUpdate{At: t0.Add(time.Hour)}))
	if cs, _ := s.Clusters(ctx, false); len(cs) != 0 {
		t.Fatalf("open clusters after the end: %v", cs)
	}
	cs, err = s.Clusters(ctx, true)
	must(t, err)
	if len(cs) != 1 || cs[0].State != "resolved" || !cs[0].LastSeen.AsTime().Equal(t0.Add(time.Minute)) {
		t.Fatalf("all clusters %v", cs)
	}
	rows, err = s.Findings(ctx, store.FindingFilter{All: true, HostID: "h2"})
	must(t, err)
	if len(rows) != 1 || rows[0].State != store.Resolved || !rows[0].LastSeen.Equal(t0.Add(time.Hour)) {
		t.Fatalf("resolved fleet finding %+v", rows)
	}
	// It comes back: open again, first seen anew.
	c.FirstSeen = timestamppb.New(t0.Add(2 * time.Hour))
	must(t, s.PutFleet(ctx, store.FleetUpdate{Open: []*fwv1.Cluster{c}, Findings: fs, At: t0.Add(2 * time.Hour)}))
	cs, _ = s.Clusters(ctx, false)
	rows, _ = s.Findings(ctx, store.FindingFilter{HostID: "h2"})
	if len(cs) != 1 || !cs[0].FirstSeen.AsTime().Equal(t0.Add(2*time.Hour)) || len(rows) != 1 || !rows[0].FirstSeen.Equal(t0.Add(2*time.Hour)) {
		t.Fatalf("reopened: %v %+v", cs, rows)
	}
}
