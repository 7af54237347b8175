package netstate

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/testing/protocmp"

	fwv1 "github.com/farmwatch/farmwatch/proto/farmwatch/v1"
)

// Outputs of iproute2 as a host shows them. The rules and tables are those
// that wg-quick (repo WireGuard/wireguard-tools src/wg-quick/linux.bash:
// `ip -4 rule add not fwmark $table table $table`, `ip -4 rule add table
// main suppress_prefixlength 0`, the default route in table 51820) and
// Tailscale (repo tailscale/tailscale wgengine/router/router_linux.go:
// rule priorities 5210-5270, table 52) set up; the plain host is this
// machine's own output.
const (
	plainRules = "0:\tfrom all lookup local\n32766:\tfrom all lookup main\n32767:\tfrom all lookup default\n"
	plainTable = `default via 192.0.2.1 dev eth0 
192.0.2.0/24 dev eth0 proto kernel scope link src 192.0.2.2 
local 127.0.0.0/8 dev lo table local proto kernel scope host src 127.0.0.1 
local 127.0.0.1 dev lo table local proto kernel scope host src 127.0.0.1 
broadcast 127.255.255.255 dev lo table local proto kernel scope link src 127.0.0.1 
`
	wgQuickRules = `0:	from all lookup local
32764:	from all lookup main suppress_prefixlength 0
32765:	not from all fwmark 0xca6c lookup 51820
32766:	from all lookup main
32767:	from all lookup default
`
	wgQuickTable   = "default dev wg0 table 51820 scope link \n" + plainTable
	tailscaleRules = `0:	from all lookup local
5210:	from all fwmark 0x80000/0xff0000 lookup main
5230:	from all fwmark 0x80000/0xff0000 lookup default
5250:	from all fwmark 0x80000/0xff0000 unreachable
5270:	from all lookup 52
32766:	from all lookup main
32767:	from all lookup default
`
	tailscaleExitTable = `default dev tailscale0 table 52 
100.100.100.100 dev tailscale0 table 52 
` + plainTable
	tailscaleNoExitTable = `100.64.0.0/10 dev tailscale0 table 52 
100.100.100.100 dev tailscale0 table 52 
` + plainTable
)

func TestParseIPRule(t *testing.T) {
	got := ParseIPRule(wgQuickRules + tailscaleRules + "9510:\tnot from all iif lo lookup 2022\n9520:\tfrom 0.0.0.0 iif lo uidrange 0-4294967294 lookup 2022\n9530:\tfrom all ipproto tcp dport 22 lookup 7\nnot a rule\n40:\tfrom all goto 32766\n")
	want := []IPRule{
		{Priority: 0, From: "all", To: "all", Action: "lookup", Table: "local", Suppress: -1},
		{Priority: 32764, From: "all", To: "all", Action: "lookup", Table: "main", Suppress: 0},
		{Priority: 32765, Not: true, From: "all", To: "all", Fwmark: "0xca6c", Action: "lookup", Table: "51820", Suppress: -1},
		{Priority: 32766, From: "all", To: "all", Action: "lookup", Table: "main", Suppress: -1},
		{Priority: 32767, From: "all", To: "all", Action: "lookup", Table: "default", Suppress: -1},
		{Priority: 0, From: "all", To: "all", Action: "lookup", Table: "local", Suppress: -1},
		{Priority: 5210, From: "all", To: "all", Fwmark: "0x80000/0xff0000", Action: "lookup", Table: "main", Suppress: -1},
		{Priority: 5230, From: "all", To: "all", Fwmark: "0x80000/0xff0000", Action: "lookup", Table: "default", Suppress: -1},
		{Priority: 5250, From: "all", To: "all", Fwmark: "0x80000/0xff0000", Action: "unreachable", Suppress: -1},
		{Priority: 5270, From: "all", To: "all", Action: "lookup", Table: "52", Suppress: -1},
		{Priority: 32766, From: "all", To: "all", Action: "lookup", Table: "main", Suppress: -1},
		{Priority: 32767, From: "all", To: "all", Action: "lookup", Table: "default", Suppress: -1},
		{Priority: 9510, Not: true, From: "all", To: "all", Iif: "lo", Action: "lookup", Table: "2022", Suppress: -1},
		{Priority: 9520, From: "0.0.0.0", To: "all", Iif: "lo", Action: "lookup", Table: "2022", Suppress: -1},
		{Priority: 9530, From: "all", To: "all", Other: true, Action: "lookup", Table: "7", Suppress: -1},
		{Priority: 40, From: "all", To: "all", Action: "goto", Suppress: -1},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Error(diff)
	}
}

func TestParseIPRoute(t *testing.T) {
	got := ParseIPRoute(wgQuickTable+"10.0.0.0/8 via 192.0.2.254 dev eth0 table 100 metric 50 \nblackhole default table 9 \n    nexthop via 192.0.2.9 dev eth1 weight 1\n198.51.100.7 via inet6 fe80::1 dev eth0 \ngarbage here\n", false)
	want := []IPRoute{
		{Type: "unicast", Destination: "0.0.0.0/0", Dev: "wg0", Table: "51820"},
		{Type: "unicast", Destination: "0.0.0.0/0", Gateway: "192.0.2.1", Dev: "eth0", Table: "main"},
		{Type: "unicast", Destination: "192.0.2.0/24", Dev: "eth0", Table: "main"},
		{Type: "local", Destination: "127.0.0.0/8", Dev: "lo", Table: "local"},
		{Type: "local", Destination: "127.0.0.1/32", Dev: "lo", Table: "local"},
		{Type: "broadcast", Destination: "127.255.255.255/32", Dev: "lo", Table: "local"},
		{Type: "unicast", Destination: "10.0.0.0/8", Gateway: "192.0.2.254", Dev: "eth0", Table: "100", Metric: 50},
		{Type: "blackhole", Destination: "0.0.0.0/0", Table: "9"},
		{Type: "unicast", Destination: "198.51.100.7/32", Gateway: "fe80::1", Dev: "eth0", Table: "main"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Error(diff)
	}
	v6 := ParseIPRoute("default dev wg0 table 51820 metric 1024 pref medium\n", true)
	if len(v6) != 1 || v6[0].Destination != "::/0" {
		t.Errorf("v6 default: %+v", v6)
	}
	// `ip route show table all` without -4 shows both families (this
	// machine's own output): an IPv6 default is no IPv4 one.
	mixed := ParseIPRoute(plainTable+`fd00::/64 dev eth0 proto kernel metric 256 pref medium
default via fd00::1 dev eth0 metric 1024 pref medium
default dev wg0 table 51820 metric 1024 pref medium
local ::1 dev lo table local proto kernel metric 0 pref medium
multicast ff00::/8 dev eth0 table local proto kernel metric 256 pref medium
`, false)
	if d := cmp.Diff(ParseIPRoute(plainTable, false), mixed); d != "" {
		t.Errorf("IPv6 routes read as IPv4 ones (-want +got):\n%s", d)
	}
}

func TestPolicyDefaults(t *testing.T) {
	for _, c := range []struct {
		name         string
		rules, table string
		want         []*fwv1.Route
	}{
		{"plain host", plainRules, plainTable, nil},
		{"wg-quick full tunnel", wgQuickRules, wgQuickTable, []*fwv1.Route{
			{Destination: "0.0.0.0/0", Interface: "wg0", Family: "ipv4", Table: "51820", Rule: "32765: not from all fwmark 0xca6c lookup 51820"}}},
		{"tailscale exit node", tailscaleRules, tailscaleExitTable, []*fwv1.Route{
			{Destination: "0.0.0.0/0", Interface: "tailscale0", Family: "ipv4", Table: "52", Rule: "5270: from all lookup 52"}}},
		{"tailscale without an exit node", tailscaleRules, tailscaleNoExitTable, nil},
		{"a table behind main's default", plainRules + "33000:\tfrom all lookup 51820\n", wgQuickTable, nil},
		{"a table for one source address", "100:\tfrom 192.0.2.2 lookup 51820\n" + plainRules, wgQuickTable, nil},
		{"a table for marked packets only", "100:\tfrom all fwmark 0x1 lookup 51820\n" + plainRules, wgQuickTable, nil},
		{"every packet refused first", "50:\tfrom all unreachable\n100:\tfrom all lookup 51820\n" + plainRules, wgQuickTable, nil},
		{"main without a default", wgQuickRules, "default dev wg0 table 51820 \n192.0.2.0/24 dev eth0 \n", []*fwv1.Route{
			{Destination: "0.0.0.0/0", Interface: "wg0", Family: "ipv4", Table: "51820", Rule: "32765: not from all fwmark 0xca6c lookup 51820"}}},
		{"no rules recorded", "", wgQuickTable, nil},
	} {
		got := PolicyDefaults(ParseIPRule(c.rules), ParseIPRoute(c.table, false), "ipv4")
		if diff := cmp.Diff(c.want, got, protocmp.Transform()); diff != "" {
			t.Errorf("%s (-want +got):\n%s", c.name, diff)
		}
	}
}

// TestPolicyDefaultsMarked: a policy default through a WireGuard interface
// is a default route through a tunnel once MarkRoutes has seen the
// interface kinds, as the network sensor does.
func TestPolicyDefaultsMarked(t *testing.T) {
	rs := PolicyDefaults(ParseIPRule(wgQuickRules), ParseIPRoute(wgQuickTable, false), "ipv4")
	MarkRoutes(rs, map[string]string{"wg0": "wireguard", "eth0": "physical"})
	if len(rs) != 1 || !rs[0].Default || !rs[0].ViaTunnel {
		t.Fatalf("%v", rs)
	}
}

func FuzzParseIPRule(f *testing.F) {
	for _, s := range []string{plainRules, wgQuickRules, tailscaleRules, "1: not from all\n", "x:\n"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		rs := ParseIPRule(s)
		if len(rs) > strings.Count(s, "\n")+1 {
			t.Fatalf("%d rules from %d lines", len(rs), strings.Count(s, "\n")+1)
		}
		for _, r := range rs {
			if r.Priority < 0 || r.Action == "" || r.Action != "lookup" && r.Table != "" {
				t.Fatalf("%+v", r)
			}
			if !strings.Contains(s, r.Table) || !strings.Contains(s, r.From) && r.From != "all" {
				t.Fatalf("%+v: fields not in the input", r)
			}
		}
		// Whatever the rules, a policy default is a default route of a
		// table some lookup rule names, never main.
		for _, d := range PolicyDefaults(rs, ParseIPRoute(wgQuickTable+tailscaleExitTable, false), "ipv4") {
			if d.Table == "main" || d.Table == "" || !strings.Contains(s, "lookup "+d.Table) && !strings.Contains(s, "table "+d.Table) {
				t.Fatalf("policy default %v from rules %q", d, s)
			}
		}
	})
}

func FuzzParseIPRoute(f *testing.F) {
	for _, s := range []string{plainTable, wgQuickTable, tailscaleExitTable, "default via fe80::1 dev eth0 metric 1024\n"} {
		f.Add(s, false)
	}
	f.Fuzz(func(t *testing.T, s string, v6 bool) {
		rs := ParseIPRoute(s, v6)
		if len(rs) > strings.Count(s, "\n")+1 {
			t.Fatalf("%d routes from %d lines", len(rs), strings.Count(s, "\n")+1)
		}
		for _, r := range rs {
			p, err := netip.ParsePrefix(r.Destination)
			if err != nil || p != p.Masked() {
				t.Fatalf("destination %q", r.Destination)
			}
			if r.Gateway != "" {
				if _, err := netip.ParseAddr(r.Gateway); err != nil {
					t.Fatalf("gateway %q", r.Gateway)
				}
			}
			if r.Table == "" || r.Type == "" || r.Dev != "" && !strings.Contains(s, r.Dev) {
				t.Fatalf("%+v", r)
			}
		}
	})
}
