package netstate

import (
	"bytes"
	"context"
	"encoding/json"
	"runtime"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/testing/protocmp"

	"github.com/farmwatch/farmwatch/agent/host"
	fwv1 "github.com/farmwatch/farmwatch/proto/farmwatch/v1"
)

// replay opens a Linux snapshot of the given entries.
func replay(t *testing.T, entries map[string]string) *host.Host {
	t.Helper()
	var b strings.Builder
	b.WriteString("-- snapshot.json --\n{\"os\": \"linux\", \"hostname\": \"t\", \"captured\": \"2026-12-01T00:00:00Z\"}\n")
	for name, body := range entries {
		b.WriteString("-- " + name + " --\n" + body)
	}
	s, err := host.ParseSnapshot([]byte(b.String()))
	if err != nil {
		t.Fatal(err)
	}
	h, err := s.Host()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	return h
}

// record is api/policy_routing.json of the given rules and tables (ip's
// output, read by the text parsers).
func record(t *testing.T, rules4, table4, rules6, table6 string) string {
	t.Helper()
	rec := PolicyRecord{IPv4: familyRecord(ParseIPRule(rules4), ParseIPRoute(table4, false)),
		IPv6: familyRecord(ParseIPRule(rules6), ParseIPRoute(table6, true))}
	b, err := json.Marshal(rec)
	if err != nil {
		t.Fatal(err)
	}
	return string(b) + "\n"
}

const wgQuickTable6 = "default dev wg0 table 51820 metric 1024 pref medium\nfd00::/64 dev eth0 proto kernel metric 256 pref medium\ndefault via fd00::1 dev eth0 metric 1024 pref medium\n"

var (
	wgDefault4 = &fwv1.Route{Destination: "0.0.0.0/0", Interface: "wg0", Family: "ipv4", Table: "51820", Rule: "32765: not from all fwmark 0xca6c lookup 51820"}
	wgDefault6 = &fwv1.Route{Destination: "::/0", Interface: "wg0", Family: "ipv6", Table: "51820", Metric: 1024, Rule: "32765: not from all fwmark 0xca6c lookup 51820"}
	tsDefault4 = &fwv1.Route{Destination: "0.0.0.0/0", Interface: "tailscale0", Family: "ipv4", Table: "52", Rule: "5270: from all lookup 52"}
)

// TestPolicyReplay: a snapshot's api/policy_routing.json is read; one
// recorded before it, with the ip commands' output, still replays through
// the text parsers; one with neither gives no policy route and no error.
func TestPolicyReplay(t *testing.T) {
	cmds := map[string]string{
		"cmd//sbin/ip rule show":               wgQuickRules,
		"cmd//sbin/ip route show table all":    wgQuickTable + wgQuickTable6, // no -4: both families
		"cmd//sbin/ip -6 rule show":            wgQuickRules,
		"cmd//sbin/ip -6 route show table all": wgQuickTable6,
	}
	api := map[string]string{"api/policy_routing.json": record(t, tailscaleRules, tailscaleExitTable, "", "")}
	both := map[string]string{}
	for k, v := range cmds {
		both[k] = v
	}
	both["api/policy_routing.json"] = api["api/policy_routing.json"]
	for _, c := range []struct {
		name    string
		entries map[string]string
		want    []*fwv1.Route
	}{
		{"record", api, []*fwv1.Route{tsDefault4}},
		{"ip commands (before the record)", cmds, []*fwv1.Route{wgDefault4, wgDefault6}},
		{"both: the record", both, []*fwv1.Route{tsDefault4}},
		{"neither", map[string]string{}, nil},
		{"record of no rules", map[string]string{"api/policy_routing.json": "{}\n"}, nil},
	} {
		h := replay(t, c.entries)
		got, err := policyRoutesLinux(context.Background(), h)
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
		}
		if d := cmp.Diff(c.want, got, protocmp.Transform()); d != "" {
			t.Errorf("%s (-want +got):\n%s", c.name, d)
		}
		st, err := Read(context.Background(), h)
		if err != nil {
			t.Errorf("%s: Read: %v", c.name, err)
		}
		if d := cmp.Diff(c.want, st.Routes, protocmp.Transform()); d != "" {
			t.Errorf("%s: Read (-want +got):\n%s", c.name, d)
		}
	}
}

// TestPolicyReplayBadRecord: a record of the wrong shape is an error that
// names it, not an empty reading.
func TestPolicyReplayBadRecord(t *testing.T) {
	h := replay(t, map[string]string{"api/policy_routing.json": "{\"ipv4\": {\"rules\": 5}}\n"})
	_, err := policyRoutesLinux(context.Background(), h)
	if err == nil || !strings.Contains(err.Error(), "policy_routing") {
		t.Fatalf("error %v, want one naming api policy_routing", err)
	}
}

// TestPolicyRecordAbsentFields: a record written by hand may leave out
// from, to, type and table (all, all, unicast, main); an absent
// suppress_prefixlength is none, 0 is wg-quick's.
func TestPolicyRecordAbsentFields(t *testing.T) {
	var f FamilyRecord
	err := json.Unmarshal([]byte(`{"rules": [{"priority": 32764, "action": "lookup", "table": "main", "suppress_prefixlength": 0},
		{"priority": 32765, "not": true, "fwmark": "0xca6c", "action": "lookup", "table": "51820"}, {"priority": 1, "action": "lookup"}],
		"routes": [{"destination": "0.0.0.0/0", "dev": "wg0", "table": "51820"}, {"destination": "0.0.0.0/0", "gateway": "192.0.2.1", "dev": "eth0"}]}`), &f)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(ParseIPRule(wgQuickRules)[1:3], f.IPRules()); d != "" {
		t.Errorf("rules (-want +got):\n%s", d)
	}
	if d := cmp.Diff(ParseIPRoute(wgQuickTable, false)[:2], f.IPRoutes()); d != "" {
		t.Errorf("routes (-want +got):\n%s", d)
	}
}

// TestPolicyLiveRecords: the live host reads policy routing over netlink,
// runs no ip command, and its snapshot replays to the same state.
func TestPolicyLiveRecords(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("netlink is Linux's")
	}
	live, err := host.Live()
	if err != nil {
		t.Fatal(err)
	}
	live.Record()
	st, err := Read(context.Background(), live)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := live.WriteSnapshot(&buf); err != nil {
		t.Fatal(err)
	}
	snap := buf.String()
	if !strings.Contains(snap, "-- api/policy_routing.json --") || strings.Contains(snap, "/sbin/ip") {
		t.Fatalf("the live reading recorded no netlink result, or ran ip")
	}
	s, err := host.ParseSnapshot(buf.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	h, err := s.Host()
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	again, err := Read(context.Background(), h)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(st.Routes, again.Routes, protocmp.Transform()); d != "" {
		t.Errorf("replayed routes (-live +replay):\n%s", d)
	}
}

// TestReadCopies: Read and Routes share one reading of a Host, and each
// caller may mark its copy without the others seeing it.
func TestReadCopies(t *testing.T) {
	h := replay(t, map[string]string{"api/policy_routing.json": record(t, wgQuickRules, wgQuickTable, "", "")})
	a, _ := Read(context.Background(), h)
	MarkRoutes(a.Routes, map[string]string{"wg0": "wireguard"})
	b, _ := Read(context.Background(), h)
	if len(a.Routes) != 1 || !a.Routes[0].ViaTunnel || b.Routes[0].ViaTunnel || b.Routes[0].Default {
		t.Fatalf("marks leaked between readers: %v / %v", a.Routes, b.Routes)
	}
	if rs, err := Routes(context.Background(), h); err != nil || len(rs) != 0 {
		t.Errorf("Routes gives the main table alone (none here): %v, %v", rs, err)
	}
}
