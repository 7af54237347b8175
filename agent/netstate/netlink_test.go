package netstate

import (
	"encoding/binary"
	"net/netip"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/testing/protocmp"

	fwv1 "github.com/farmwatch/farmwatch/proto/farmwatch/v1"
)

// Netlink messages built by hand as the kernel sends them
// (net/core/fib_rules.c fib_nl_fill_rule, net/ipv4/fib_semantics.c
// fib_dump_info, net/ipv6/route.c rt6_fill_node): each rule and route
// below is one that the text tests read from ip's output, so both
// readings are compared field by field.

func nlAttr(t uint16, v []byte) []byte {
	b := make([]byte, 4, 4+len(v)+3)
	binary.NativeEndian.PutUint16(b, uint16(4+len(v)))
	binary.NativeEndian.PutUint16(b[2:], t)
	b = append(b, v...)
	for len(b)%4 != 0 {
		b = append(b, 0)
	}
	return b
}

func u32(v uint32) []byte { return binary.NativeEndian.AppendUint32(nil, v) }

func addr(s string) []byte { return netip.MustParseAddr(s).AsSlice() }

func nlMessage(typ uint16, body []byte, attrs ...[]byte) []byte {
	for _, a := range attrs {
		body = append(body, a...)
	}
	b := make([]byte, 16, 16+len(body))
	binary.NativeEndian.PutUint32(b, uint32(16+len(body)))
	binary.NativeEndian.PutUint16(b[4:], typ)
	binary.NativeEndian.PutUint16(b[6:], 2) // NLM_F_MULTI
	binary.NativeEndian.PutUint32(b[8:], 1)
	return append(b, body...)
}

var nlDone = nlMessage(nlmsgDone, u32(0))

// ruleMsg is an RTM_NEWRULE: fib_rule_hdr, then FRA_TABLE, FRA_PRIORITY,
// FRA_SUPPRESS_PREFIXLEN (-1 unless given) as the kernel always puts them.
func ruleMsg(fam, srcLen uint8, action uint8, flags, table, prio uint32, attrs ...[]byte) []byte {
	t8 := uint8(table)
	if table > 255 {
		t8 = 252 // RT_TABLE_COMPAT
	}
	hdr := []byte{fam, 0, srcLen, 0, t8, 0, 0, action}
	hdr = binary.NativeEndian.AppendUint32(hdr, flags)
	std := [][]byte{nlAttr(fraTable, u32(table)), nlAttr(fraSuppressLen, u32(0xffffffff))}
	if prio != 0 {
		std = append(std, nlAttr(fraPriority, u32(prio)))
	}
	return nlMessage(rtmNewRule, hdr, append(std, attrs...)...)
}

// routeMsg is an RTM_NEWROUTE: rtmsg, then RTA_TABLE.
func routeMsg(fam, dstLen uint8, typ uint8, flags, table uint32, attrs ...[]byte) []byte {
	t8 := uint8(table)
	if table > 255 {
		t8 = 252
	}
	hdr := []byte{fam, dstLen, 0, 0, t8, 3, 0, typ}
	hdr = binary.NativeEndian.AppendUint32(hdr, flags)
	return nlMessage(rtmNewRoute, hdr, append([][]byte{nlAttr(rtaTable, u32(table))}, attrs...)...)
}

func linkMsg(index int32, name string) []byte {
	body := make([]byte, 16)
	binary.NativeEndian.PutUint32(body[4:], uint32(index))
	return nlMessage(rtmNewLink, body, nlAttr(iflaIfname, append([]byte(name), 0)))
}

func cat(msgs ...[]byte) []byte {
	return []byte(strings.Join(func() []string {
		var s []string
		for _, m := range msgs {
			s = append(s, string(m))
		}
		return s
	}(), ""))
}

var testLinks = cat(linkMsg(1, "lo"), linkMsg(2, "eth0"), linkMsg(5, "wg0"), linkMsg(6, "tailscale0"), nlDone)

const (
	invert   = fibRuleInvert
	lookup   = frActToTbl
	fullMask = 0xffffffff
	suppress = fraSuppressLen
)

var (
	wgQuickRuleDump = cat(
		ruleMsg(afInet, 0, lookup, 0, 255, 0),
		ruleMsg(afInet, 0, lookup, 0, 254, 32764, nlAttr(suppress, u32(0))),
		ruleMsg(afInet, 0, lookup, invert, 51820, 32765, nlAttr(fraFwmark, u32(0xca6c)), nlAttr(fraFwmask, u32(fullMask))),
		ruleMsg(afInet, 0, lookup, 0, 254, 32766),
		ruleMsg(afInet, 0, lookup, 0, 253, 32767),
		nlDone)
	tailscaleRuleDump = cat(
		ruleMsg(afInet, 0, lookup, 0, 255, 0),
		ruleMsg(afInet, 0, lookup, 0, 254, 5210, nlAttr(fraFwmark, u32(0x80000)), nlAttr(fraFwmask, u32(0xff0000))),
		ruleMsg(afInet, 0, lookup, 0, 253, 5230, nlAttr(fraFwmark, u32(0x80000)), nlAttr(fraFwmask, u32(0xff0000))),
		ruleMsg(afInet, 0, 7, 0, 0, 5250, nlAttr(fraFwmark, u32(0x80000)), nlAttr(fraFwmask, u32(0xff0000))),
		ruleMsg(afInet, 0, lookup, 0, 52, 5270),
		ruleMsg(afInet, 0, lookup, 0, 254, 32766),
		ruleMsg(afInet, 0, lookup, 0, 253, 32767),
		nlDone)
	// plainRouteDump is plainTable.
	plainRouteDump = []byte(cat(
		routeMsg(afInet, 0, 1, 0, 254, nlAttr(rtaGateway, addr("192.0.2.1")), nlAttr(rtaOif, u32(2))),
		routeMsg(afInet, 24, 1, 0, 254, nlAttr(rtaDst, addr("192.0.2.0")), nlAttr(rtaOif, u32(2))),
		routeMsg(afInet, 8, 2, 0, 255, nlAttr(rtaDst, addr("127.0.0.0")), nlAttr(rtaOif, u32(1))),
		routeMsg(afInet, 32, 2, 0, 255, nlAttr(rtaDst, addr("127.0.0.1")), nlAttr(rtaOif, u32(1))),
		routeMsg(afInet, 32, 3, 0, 255, nlAttr(rtaDst, addr("127.255.255.255")), nlAttr(rtaOif, u32(1)))))
	wgQuickRouteDump   = cat(routeMsg(afInet, 0, 1, 0, 51820, nlAttr(rtaOif, u32(5))), plainRouteDump, nlDone)
	tailscaleRouteDump = cat(routeMsg(afInet, 0, 1, 0, 52, nlAttr(rtaOif, u32(6))),
		routeMsg(afInet, 32, 1, 0, 52, nlAttr(rtaDst, addr("100.100.100.100")), nlAttr(rtaOif, u32(6))),
		plainRouteDump, nlDone)
)

func mustLinks(t *testing.T) map[int]string {
	t.Helper()
	l, err := ParseLinkDump(testLinks)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// TestNetlinkLikeIP: the dumps of wg-quick's and Tailscale's rules and
// tables read as ip's output of them reads.
func TestNetlinkLikeIP(t *testing.T) {
	links := mustLinks(t)
	for _, c := range []struct {
		name         string
		rules, table []byte
		ipRules      string
		ipTable      string
		want         []*fwv1.Route
	}{
		{"wg-quick", wgQuickRuleDump, wgQuickRouteDump, wgQuickRules, wgQuickTable, []*fwv1.Route{
			{Destination: "0.0.0.0/0", Interface: "wg0", Family: "ipv4", Table: "51820", Rule: "32765: not from all fwmark 0xca6c lookup 51820"}}},
		{"tailscale exit node", tailscaleRuleDump, tailscaleRouteDump, tailscaleRules, tailscaleExitTable, []*fwv1.Route{
			{Destination: "0.0.0.0/0", Interface: "tailscale0", Family: "ipv4", Table: "52", Rule: "5270: from all lookup 52"}}},
	} {
		rules, err := ParseRuleDump(c.rules, afInet)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		routes, err := ParseRouteDump(c.table, afInet, links)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if d := cmp.Diff(ParseIPRule(c.ipRules), rules); d != "" {
			t.Errorf("%s rules (-ip +netlink):\n%s", c.name, d)
		}
		if d := cmp.Diff(ParseIPRoute(c.ipTable, false), routes); d != "" {
			t.Errorf("%s routes (-ip +netlink):\n%s", c.name, d)
		}
		if d := cmp.Diff(c.want, PolicyDefaults(rules, routes, "ipv4"), protocmp.Transform()); d != "" {
			t.Errorf("%s policy defaults (-want +got):\n%s", c.name, d)
		}
	}
}

// TestParseRuleDump: the selectors, each as ip prints it and ParseIPRule
// reads it.
func TestParseRuleDump(t *testing.T) {
	for _, c := range []struct {
		name string
		fam  uint8
		msg  []byte
		ip   string // ip's line for the rule; "" when the rule is left out
	}{
		{"uidrange of every user", afInet, ruleMsg(afInet, 0, lookup, 0, 2022, 9000, nlAttr(fraUIDRange, append(u32(0), u32(4294967294)...))),
			"9000:\tfrom all uidrange 0-4294967294 lookup 2022"},
		{"uidrange of one user", afInet, ruleMsg(afInet, 0, lookup, 0, 2022, 9001, nlAttr(fraUIDRange, append(u32(1000), u32(1000)...))),
			"9001:\tfrom all uidrange 1000-1000 lookup 2022"},
		{"blackhole", afInet, ruleMsg(afInet, 0, 6, 0, 0, 50), "50:\tfrom all blackhole"},
		{"unreachable with a table", afInet, ruleMsg(afInet, 0, 7, 0, 5, 52), "52:\tfrom all lookup 5 unreachable"},
		{"prohibit", afInet, ruleMsg(afInet, 0, 8, 0, 0, 51), "51:\tfrom all prohibit"},
		{"goto", afInet, ruleMsg(afInet, 0, frActGoto, 0, 0, 40, nlAttr(fraGoto, u32(32766))), "40:\tfrom all goto 32766"},
		{"nop", afInet, ruleMsg(afInet, 0, frActNop, 0, 0, 41), "41:\tfrom all nop"},
		{"source prefix", afInet, ruleMsg(afInet, 24, lookup, 0, 100, 100, nlAttr(fraSrc, addr("192.0.2.0"))), "100:\tfrom 192.0.2.0/24 lookup 100"},
		{"source host", afInet, ruleMsg(afInet, 32, lookup, 0, 100, 101, nlAttr(fraSrc, addr("192.0.2.2"))), "101:\tfrom 192.0.2.2 lookup 100"},
		{"iif lo, oif", afInet, ruleMsg(afInet, 0, lookup, invert, 2022, 9510, nlAttr(fraIifname, []byte("lo\x00")), nlAttr(fraOifname, []byte("wg0\x00"))),
			"9510:\tnot from all iif lo oif wg0 lookup 2022"},
		{"ipproto and dport", afInet, ruleMsg(afInet, 0, lookup, 0, 7, 9530, nlAttr(22, []byte{6}), nlAttr(24, append(u32(22), u32(22)...)[:4])),
			"9530:\tfrom all ipproto tcp dport 22 lookup 7"},
		{"mark without mask", afInet, ruleMsg(afInet, 0, lookup, 0, 7, 60, nlAttr(fraFwmark, u32(0x1))), "60:\tfrom all fwmark 0x1 lookup 7"},
		{"mask without mark", afInet, ruleMsg(afInet, 0, lookup, 0, 7, 61, nlAttr(fraFwmask, u32(0xff))), "61:\tfrom all fwmark 0/0xff lookup 7"},
		{"ipv6 source", afInet6, ruleMsg(afInet6, 32, lookup, 0, 100, 100, nlAttr(fraSrc, addr("2001:db8::"))), "100:\tfrom 2001:db8::/32 lookup 100"},
		{"ipv6 wg-quick", afInet6, ruleMsg(afInet6, 0, lookup, invert, 51820, 32765, nlAttr(fraFwmark, u32(0xca6c)), nlAttr(fraFwmask, u32(fullMask))),
			"32765:\tnot from all fwmark 0xca6c lookup 51820"},
		{"another family", afInet, ruleMsg(afInet6, 0, lookup, 0, 254, 1), ""},
		{"address of another family", afInet, ruleMsg(afInet, 32, lookup, 0, 100, 1, nlAttr(fraSrc, addr("2001:db8::1"))), ""},
		{"lookup of no table", afInet, ruleMsg(afInet, 0, lookup, 0, 0, 1), ""},
	} {
		got, err := ParseRuleDump(cat(c.msg, nlDone), c.fam)
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		if d := cmp.Diff(ParseIPRule(c.ip), got); d != "" {
			t.Errorf("%s (-ip +netlink):\n%s", c.name, d)
		}
	}
}

// TestParseRouteDump: route types, gateways, multipath, IPv6, what ip
// leaves out.
func TestParseRouteDump(t *testing.T) {
	links := mustLinks(t)
	// struct rtnexthop: len u16, flags u8, hops u8, ifindex i32, then RTA_GATEWAY.
	nexthop := func(gw string, ifindex uint32) []byte {
		a := nlAttr(rtaGateway, addr(gw))
		b := binary.NativeEndian.AppendUint16(nil, uint16(8+len(a)))
		b = append(b, 0, 0)
		return append(binary.NativeEndian.AppendUint32(b, ifindex), a...)
	}
	for _, c := range []struct {
		name string
		v6   bool
		msg  []byte
		ip   string // ip's line; "" when the route is left out
	}{
		{"multipath", false, routeMsg(afInet, 0, 1, 0, 254, nlAttr(rtaPriority, u32(100)), nlAttr(9, append(nexthop("192.0.2.1", 2), nexthop("192.0.2.9", 5)...))),
			"default proto static metric 100 \n\tnexthop via 192.0.2.1 dev eth0 weight 1 \n\tnexthop via 192.0.2.9 dev wg0 weight 1 \n"},
		{"via inet6", false, routeMsg(afInet, 24, 1, 0, 254, nlAttr(rtaDst, addr("198.51.100.0")), nlAttr(rtaVia, append([]byte{afInet6, 0}, addr("fe80::1")...)), nlAttr(rtaOif, u32(2))),
			"198.51.100.0/24 via inet6 fe80::1 dev eth0 "},
		{"blackhole default in a table", false, routeMsg(afInet, 0, 6, 0, 9), "blackhole default table 9 "},
		{"unknown interface", false, routeMsg(afInet, 8, 1, 0, 100, nlAttr(rtaDst, addr("10.0.0.0")), nlAttr(rtaOif, u32(9)), nlAttr(rtaPriority, u32(50))),
			"10.0.0.0/8 dev if9 table 100 metric 50 "},
		{"cloned", false, routeMsg(afInet, 32, 1, rtmFCloned, 254, nlAttr(rtaDst, addr("192.0.2.7")), nlAttr(rtaOif, u32(2))), ""},
		{"xresolve", false, routeMsg(afInet, 32, 11, 0, 254, nlAttr(rtaDst, addr("192.0.2.7"))), ""},
		{"prefix past the address", false, routeMsg(afInet, 33, 1, 0, 254, nlAttr(rtaDst, addr("192.0.2.7"))), ""},
		{"ipv6 wg-quick default", true, routeMsg(afInet6, 0, 1, 0, 51820, nlAttr(rtaOif, u32(5)), nlAttr(rtaPriority, u32(1024))),
			"default dev wg0 table 51820 metric 1024 pref medium"},
		{"ipv6 main default", true, routeMsg(afInet6, 0, 1, 0, 254, nlAttr(rtaGateway, addr("fd00::1")), nlAttr(rtaOif, u32(2)), nlAttr(rtaPriority, u32(1024))),
			"default via fd00::1 dev eth0 metric 1024 pref medium"},
		{"ipv6 multicast", true, routeMsg(afInet6, 8, 5, 0, 255, nlAttr(rtaDst, addr("ff00::")), nlAttr(rtaOif, u32(2)), nlAttr(rtaPriority, u32(256))),
			"multicast ff00::/8 dev eth0 table local proto kernel metric 256 pref medium"},
		{"ipv6 route in an ipv4 dump", false, routeMsg(afInet6, 0, 1, 0, 51820, nlAttr(rtaOif, u32(5))), ""},
		{"ipv4 address in an ipv6 route", true, routeMsg(afInet6, 32, 1, 0, 254, nlAttr(rtaDst, addr("192.0.2.7"))), ""},
	} {
		fam := uint8(afInet)
		if c.v6 {
			fam = afInet6
		}
		got, err := ParseRouteDump(cat(c.msg, nlDone), fam, links)
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		if d := cmp.Diff(ParseIPRoute(c.ip, c.v6), got); d != "" {
			t.Errorf("%s (-ip +netlink):\n%s", c.name, d)
		}
	}
}

// TestNetlinkHostile: framing that cannot be walked is an error; a body
// too short for its header is skipped; nothing panics.
func TestNetlinkHostile(t *testing.T) {
	good := ruleMsg(afInet, 0, lookup, 0, 254, 1)
	withLen := func(b []byte, l uint32) []byte {
		b = append([]byte(nil), b...)
		binary.NativeEndian.PutUint32(b, l)
		return b
	}
	attrLen := func(l uint16) []byte { // the first attribute of good, its length changed
		b := append([]byte(nil), good...)
		binary.NativeEndian.PutUint16(b[28:], l)
		return b
	}
	errno := nlMessage(nlmsgError, append(u32(uint32(0x100000000-97)), make([]byte, 16)...))
	for _, c := range []struct {
		name string
		b    []byte
		err  string // "" for no error, and no rule
		attr bool   // an attribute of a rule: only the rule parser reads it
	}{
		{"message length zero", withLen(good, 0), "length 0", false},
		{"message length past the end", withLen(good, 4096), "length 4096", false},
		{"message length below the header", withLen(good, 15), "length 15", false},
		{"attribute length zero", attrLen(0), "attribute at byte 0: length 0", true},
		{"attribute length past the end", attrLen(200), "length 200", true},
		{"attribute length below its header", attrLen(3), "length 3", true},
		{"body shorter than the header", nlMessage(rtmNewRule, []byte{afInet, 0, 0}), "", false},
		{"error message", cat(errno), "errno 97", false},
		{"error without its code", nlMessage(nlmsgError, nil), "without its code", false},
		{"dump ended in error", nlMessage(nlmsgDone, u32(uint32(0x100000000-4))), "errno 4", false},
		{"truncated header", good[:10], "", false},
		{"empty", nil, "", false},
	} {
		rules, err := ParseRuleDump(c.b, afInet)
		routes, rerr := ParseRouteDump(c.b, afInet, nil)
		_, lerr := ParseLinkDump(c.b)
		for i, e := range []error{err, rerr, lerr} {
			want := c.err
			if c.attr && i > 0 {
				want = "" // a rule message, skipped by the route and link parsers
			}
			if want == "" && e != nil || want != "" && (e == nil || !strings.Contains(e.Error(), want)) {
				t.Errorf("%s: parser %d: error %v, want %q", c.name, i, e, want)
			}
		}
		if len(rules)+len(routes) > 0 {
			t.Errorf("%s: %v %v", c.name, rules, routes)
		}
	}
	// After DONE nothing is read.
	if rs, err := ParseRuleDump(cat(nlDone, good), afInet); err != nil || len(rs) != 0 {
		t.Errorf("after done: %v %v", rs, err)
	}
}

// FuzzNetlinkDump: whatever the bytes, the parsers return or fail, and
// what they return is well formed.
func FuzzNetlinkDump(f *testing.F) {
	for _, s := range [][]byte{wgQuickRuleDump, tailscaleRuleDump, wgQuickRouteDump, tailscaleRouteDump, testLinks,
		ruleMsg(afInet6, 32, lookup, 0, 100, 100, nlAttr(fraSrc, addr("2001:db8::"))),
		routeMsg(afInet6, 0, 1, 0, 51820, nlAttr(rtaOif, u32(5))), nlDone} {
		f.Add(s, false)
	}
	f.Add(routeMsg(afInet6, 0, 1, 0, 51820, nlAttr(rtaOif, u32(5))), true)
	links := map[int]string{5: "wg0"}
	f.Fuzz(func(t *testing.T, b []byte, v6 bool) {
		fam := uint8(afInet)
		if v6 {
			fam = afInet6
		}
		rules, _ := ParseRuleDump(b, fam)
		routes, _ := ParseRouteDump(b, fam, links)
		ParseLinkDump(b)
		if n := len(b) / nlmsgHdrLen; len(rules) > n || len(routes) > n {
			t.Fatalf("%d rules, %d routes from %d bytes", len(rules), len(routes), len(b))
		}
		for _, r := range rules {
			if r.Action == "" || (r.Action == "lookup") != (r.Table != "") || r.From == "" || r.To == "" {
				t.Fatalf("rule %+v", r)
			}
		}
		for _, r := range routes {
			p, err := netip.ParsePrefix(r.Destination)
			if err != nil || p != p.Masked() || p.Addr().Is6() != v6 || r.Type == "" || r.Table == "" {
				t.Fatalf("route %+v", r)
			}
			if r.Gateway != "" {
				if _, err := netip.ParseAddr(r.Gateway); err != nil {
					t.Fatalf("route %+v: gateway", r)
				}
			}
		}
		fam6 := map[bool]string{false: "ipv4", true: "ipv6"}[v6]
		for _, d := range PolicyDefaults(rules, routes, fam6) {
			if d.Table == "main" || d.Interface == "" {
				t.Fatalf("policy default %v", d)
			}
		}
		// What is recorded replays the same.
		rec := familyRecord(rules, routes)
		if d := cmp.Diff(rules, rec.IPRules()); len(rules) > 0 && d != "" {
			t.Fatalf("rules recorded and replayed:\n%s", d)
		}
		if d := cmp.Diff(routes, rec.IPRoutes()); len(routes) > 0 && d != "" {
			t.Fatalf("routes recorded and replayed:\n%s", d)
		}
	})
}
