package web

import (
	"context"
	"strings"
	"testing"

	"github.com/farmwatch/farmwatch/collector/store"
	fwv1 "github.com/farmwatch/farmwatch/proto/farmwatch/v1"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// TestFarmsPage: a cluster is listed with its people, places and signals
// and drawn as a graph, hostile names escaped; the overview counts it.
func TestFarmsPage(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	other := store.Host{ID: "h-2", Hostname: "bob-laptop", OS: "linux", Info: &fwv1.HostInfo{Os: "linux", Hostname: "bob-laptop"}, NodeKeyHash: []byte("k2"), EnrolledAt: t0, LastSeen: t0}
	if err := e.st.PutHost(ctx, other); err != nil {
		t.Fatal(err)
	}
	cl := &fwv1.Cluster{Id: "c-1", Severity: fwv1.Severity_SEVERITY_CRITICAL, State: "open", FirstSeen: timestamppb.New(t0), LastSeen: timestamppb.New(t0),
		DistinctPeople: 2, People: []string{evilProcess, "Bob"}, Countries: []string{"US"}, Cities: []string{evilEdid},
		Members: []*fwv1.ClusterMember{
			{HostId: e.hostID, Hostname: evilHost, Person: &fwv1.Person{Name: evilProcess, City: evilEdid, Country: "US"}, EgressIp: "198.51.100.7"},
			{HostId: "h-2", Hostname: "bob-laptop", Person: &fwv1.Person{Name: "Bob", Country: "US", Timezone: "America/Denver"}, EgressIp: "198.51.100.7"}},
		Signals: []*fwv1.Signal{
			{Kind: "gateway", Value: evilTitle, Hosts: []string{evilHost, "bob-laptop"}, HostIds: []string{e.hostID, "h-2"}, Lan: true, DistinctPeople: 2},
			{Kind: "egress_ip", Value: "198.51.100.7", Hosts: []string{evilHost, "bob-laptop"}, HostIds: []string{e.hostID, "h-2"}, DistinctPeople: 2}},
	}
	ff := &fwv1.Finding{Rule: "farm-shared-lan", Severity: fwv1.Severity_SEVERITY_CRITICAL, Title: "Hosts of different people share a LAN", Evidence: []string{"cluster/c-1"}, Scope: "fleet"}
	cl.Findings = []*fwv1.Finding{ff}
	if err := e.st.PutFleet(ctx, store.FleetUpdate{Open: []*fwv1.Cluster{cl}, Findings: map[string][]*fwv1.Finding{e.hostID: {ff}, "h-2": {ff}}, At: t0}); err != nil {
		t.Fatal(err)
	}
	c := e.client()
	if resp, _ := e.do(c, "GET", "/farms", nil); resp.StatusCode != 303 {
		t.Fatalf("farms without a session: %d", resp.StatusCode)
	}
	e.signIn(c, store.RoleViewer)
	resp, body := e.do(c, "GET", "/farms", nil)
	if resp.StatusCode != 200 {
		t.Fatalf("farms: %d\n%s", resp.StatusCode, body)
	}
	for _, raw := range []string{evilHost, evilProcess, evilEdid, evilTitle} {
		if strings.Contains(body, raw) {
			t.Errorf("farms renders %q unescaped", raw)
		}
	}
	for _, want := range []string{`id="c-1"`, "bob-laptop", "America/Denver", "<strong>gateway</strong>", `class="edge lan"`,
		`>gateway, egress_ip</text>`, "farm-shared-lan", "&lt;iframe src=//evil&gt;"} {
		if !strings.Contains(body, want) {
			t.Errorf("farms page lacks %s", want)
		}
	}
	_, ov := e.do(c, "GET", "/", nil)
	if !strings.Contains(ov, `<div class="n" id="open-farms">1</div>`) || !strings.Contains(ov, `href="/farms#c-1"`) {
		t.Fatalf("overview farms:\n%s", ov)
	}
}

func TestClusterGraph(t *testing.T) {
	cl := &fwv1.Cluster{}
	for i := range 20 {
		id := string(rune('a' + i))
		cl.Members = append(cl.Members, &fwv1.ClusterMember{HostId: id, Hostname: "host-" + id})
	}
	cl.Signals = []*fwv1.Signal{
		{Kind: "usb_serial", HostIds: []string{"a", "b", "c"}},
		{Kind: "egress_ip", HostIds: []string{"a", "b"}},
		{Kind: "neighbor", Lan: true, HostIds: []string{"t", "a"}}, // t is past the drawn hosts
	}
	g := clusterGraph(cl)
	if len(g.Nodes) != maxGraphHosts || g.Left != 4 {
		t.Fatalf("nodes %d, left %d", len(g.Nodes), g.Left)
	}
	// a-b (usb_serial, egress_ip), a-c, b-c: three edges; t-a is not drawn.
	if len(g.Edges) != 3 || g.Edges[0].Label != "usb_serial, egress_ip" || g.Edges[0].Class != "device" {
		t.Fatalf("edges %+v", g.Edges)
	}
	for _, n := range g.Nodes {
		if n.X < 0 || n.X > g.W || n.Y < 0 || n.Y > g.H {
			t.Fatalf("node outside the picture: %+v", n)
		}
	}
}
