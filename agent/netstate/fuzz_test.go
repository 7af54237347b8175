package netstate

import (
	"encoding/json"
	"net/netip"
	"strings"
	"testing"

	fwv1 "github.com/farmwatch/farmwatch/proto/farmwatch/v1"
)

// Every parser of outside text has a fuzz target; the seeds are the test
// inputs. Besides not panicking, what the parsers return must be well
// formed, whatever they were given.

// checkRoutes fails unless every route is well formed: its destination a
// masked prefix, its gateway empty or an address, its interface named, at
// most one route per line of input (lines < 0: no bound); sameFamily says
// the gateway must be of the destination's family. It then marks the
// routes and checks the marks.
func checkRoutes(t *testing.T, rs []*fwv1.Route, lines int, sameFamily bool) {
	t.Helper()
	if lines >= 0 && len(rs) > lines {
		t.Fatalf("%d routes from %d lines", len(rs), lines)
	}
	kinds := map[string]string{}
	for i, r := range rs {
		p, err := netip.ParsePrefix(r.Destination)
		if err != nil || p != p.Masked() || p.String() != r.Destination {
			t.Fatalf("route %v: destination not a masked prefix (%v)", r, err)
		}
		if r.Interface == "" {
			t.Fatalf("route %v: no interface", r)
		}
		if r.Gateway != "" {
			g, err := netip.ParseAddr(r.Gateway)
			if err != nil || g.IsUnspecified() || g.String() != r.Gateway || sameFamily && g.Is4() != p.Addr().Is4() {
				t.Fatalf("route %v: gateway %q (%v)", r, r.Gateway, err)
			}
		}
		if want := map[bool]string{true: "ipv4", false: "ipv6"}[p.Addr().Is4()]; r.Family != "" && r.Family != want {
			t.Fatalf("route %v: family %s of a %s destination", r, r.Family, want)
		}
		if i%2 == 0 {
			kinds[r.Interface] = "wireguard"
		}
	}
	MarkRoutes(rs, kinds)
	for _, r := range rs {
		bits := netip.MustParsePrefix(r.Destination).Bits()
		switch {
		case r.Family != "ipv4" && r.Family != "ipv6":
			t.Fatalf("route %v: family %q after MarkRoutes", r, r.Family)
		case bits == 0 && !r.Default, r.Default && bits > 1, r.SplitDefault && (!r.Default || bits != 1):
			t.Fatalf("route %v: default %v, split %v for a /%d", r, r.Default, r.SplitDefault, bits)
		case r.ViaTunnel != TunnelKind(kinds[r.Interface]):
			t.Fatalf("route %v: via tunnel %v through a %q", r, r.ViaTunnel, kinds[r.Interface])
		}
	}
}

func FuzzParseRoute(f *testing.F) {
	f.Add(procRoute)
	f.Fuzz(func(t *testing.T, s string) { checkRoutes(t, ParseRoute(s), strings.Count(s, "\n")+1, true) })
}

func FuzzParseIPv6Route(f *testing.F) {
	f.Add(ipv6Route)
	f.Fuzz(func(t *testing.T, s string) { checkRoutes(t, ParseIPv6Route(s), strings.Count(s, "\n")+1, true) })
}

func FuzzParseFibTrie(f *testing.F) {
	f.Add(fibTrie)
	f.Fuzz(func(t *testing.T, s string) {
		seen := map[netip.Addr]bool{}
		for _, a := range ParseFibTrieLocal(s) {
			if !a.Is4() || seen[a] {
				t.Fatalf("local address %v: not IPv4, or twice", a)
			}
			seen[a] = true
			name, bits := InterfaceFor(a, ParseRoute(procRoute))
			if bits < 1 || bits > 32 || name == "" && bits != 32 {
				t.Fatalf("InterfaceFor(%v) = %q, /%d", a, name, bits)
			}
		}
		for _, a := range ParseIfInet6(s) {
			if !a.Prefix.IsValid() || !a.Prefix.Addr().Is6() || a.Interface == "" {
				t.Fatalf("if_inet6 address %+v", a)
			}
		}
	})
}

func FuzzParseNetstat(f *testing.F) {
	f.Add(netstatRN)
	f.Add("Internet6:\nDestination Gateway Flags Netif\n10.1.0.0/16 link#6 UC en0\nfd00::/8 :: UGS en0\n")
	f.Fuzz(func(t *testing.T, s string) { checkRoutes(t, ParseNetstat(s), strings.Count(s, "\n")+1, false) })
}

// FuzzInterfaceRecords decodes api/interfaces.json and api/routes.json as a
// snapshot would hold them.
func FuzzInterfaceRecords(f *testing.F) {
	f.Add(`[{"name":"OpenVPN Wintun","index":19,"description":"Wintun Userspace Tunnel","mac":"00-FF-AA-BB-CC-DD","up":true,"addresses":["10.20.30.14/24","fe80::1"],"if_type":53,"dns_servers":["10.20.0.53"]}]`,
		`[{"destination":"0.0.0.0/1","next_hop":"10.20.30.1","if_index":19},{"destination":"127.0.0.0/8","if_index":19},{"destination":"ff00::/8","if_index":19},{"destination":"fe80::/64","next_hop":"::","if_index":19}]`)
	f.Fuzz(func(t *testing.T, ifs, routes string) {
		var ir []IfaceRecord
		var rr []RouteRecord
		names := map[int]string{}
		if json.Unmarshal([]byte(ifs), &ir) == nil {
			for _, r := range ir {
				i := r.Interface()
				if i.Mac != strings.ToLower(i.Mac) || strings.Contains(i.Mac, "-") || (IfaceRecord{MAC: i.Mac}).Interface().Mac != i.Mac {
					t.Fatalf("MAC %q -> %q: not lower case with colons, or not stable", r.MAC, i.Mac)
				}
				if len(i.Addresses) > len(r.Addresses) {
					t.Fatalf("%d addresses from %d", len(i.Addresses), len(r.Addresses))
				}
				for _, a := range i.Addresses {
					p, perr := netip.ParsePrefix(a)
					ad, aerr := netip.ParseAddr(a)
					if !(perr == nil && p.String() == a || aerr == nil && ad.String() == a) {
						t.Fatalf("address %q is not an address or prefix in its canonical form", a)
					}
				}
				if WindowsKind(r) == "" {
					t.Fatalf("%+v: no kind", r)
				}
				names[r.Index] = r.Name
			}
		}
		if json.Unmarshal([]byte(routes), &rr) == nil {
			ws := WindowsRoutes(rr, names)
			for _, r := range ws {
				a := netip.MustParsePrefix(r.Destination).Addr()
				if a.IsLoopback() || a.IsMulticast() || a.IsLinkLocalUnicast() {
					t.Fatalf("route %v: to the loopback, a multicast group or a link", r)
				}
			}
			checkRoutes(t, ws, len(rr), false)
		}
	})
}
