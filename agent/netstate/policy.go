package netstate

import (
	"context"

	"net/netip"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/farmwatch/farmwatch/agent/host"
	fwv1 "github.com/farmwatch/farmwatch/proto/farmwatch/v1"
)

// Policy routing on Linux: `ip rule` chooses a routing table for each
// packet before any table is looked up, so a full tunnel need not touch
// the main table. wg-quick puts its default route in table 51820 and adds
//
//	32764:	from all lookup main suppress_prefixlength 0
//	32765:	not from all fwmark 0xca6c lookup 51820
//
// and Tailscale, using an exit node, puts "default dev tailscale0" in
// table 52 behind "5270: from all lookup 52". /proc/net/route shows the
// main table only, so the agent reads the rules and every table over
// netlink (netlink.go), recorded as api/policy_routing.json (API.md).
// Snapshots recorded before that hold the output of the allow-listed ip
// command instead, which is read when there is no record (and on a live
// host whose netlink socket is refused):
//
//	/sbin/ip rule show
//	/sbin/ip -6 rule show
//	/sbin/ip route show table all
//	/sbin/ip -6 route show table all
//
// A snapshot with neither, or a --root tree, leaves the policy routes
// out and is no error.

// IPRule is one line of `ip rule show`.
type IPRule struct {
	Priority int
	Not      bool   // "not": the selector is inverted
	From, To string // "all" or a prefix
	Fwmark   string // "0xca6c" or "0x80000/0xff0000", "" for none
	Iif, Oif string
	Other    bool   // a selector this parser does not weigh (uidrange, ipproto, ports, tos, l3mdev ...)
	Action   string // lookup | unreachable | prohibit | blackhole | goto | nop
	Table    string // for lookup: "main", "local", "default" or a number or name
	Suppress int    // suppress_prefixlength, -1 when absent
}

// ParseIPRule parses the output of `ip rule show` (or `ip -6 rule show`).
// Lines it cannot read are skipped.
func ParseIPRule(s string) []IPRule {
	var out []IPRule
	for _, line := range lines(s) {
		pr, rest, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		p, err := strconv.Atoi(strings.TrimSpace(pr))
		if err != nil || p < 0 {
			continue
		}
		r := IPRule{Priority: p, From: "all", To: "all", Suppress: -1}
		f := strings.Fields(rest)
		for i := 0; i < len(f); i++ {
			arg := func() string {
				if i+1 < len(f) {
					i++
					return f[i]
				}
				return ""
			}
			switch f[i] {
			case "not":
				r.Not = true
			case "from":
				r.From = arg()
			case "to":
				r.To = arg()
			case "fwmark":
				r.Fwmark = arg()
			case "iif":
				r.Iif = arg()
			case "oif":
				r.Oif = arg()
			case "lookup", "table":
				r.Action, r.Table = "lookup", arg()
			case "suppress_prefixlength":
				if v, err := strconv.Atoi(arg()); err == nil {
					r.Suppress = v
				}
			case "unreachable", "prohibit", "blackhole", "nop":
				r.Action = f[i]
			case "goto":
				r.Action = "goto"
				arg()
			case "uidrange":
				// Every user (sing-box and Clash TUN rules) selects nothing.
				if v := arg(); v != "0-4294967294" && v != "0-4294967295" {
					r.Other = true
				}
			case "[detached]", "proto", "realms", "suppress_ifgroup", "pref", "priority":
				if f[i] != "[detached]" {
					arg()
				}
			default:
				r.Other = true
				arg()
			}
		}
		if r.Action == "" || r.Action == "lookup" && r.Table == "" {
			continue
		}
		if r.Action != "lookup" {
			r.Table = "" // "lookup 5 ... unreachable": the action wins, no table is looked up
		}
		out = append(out, r)
	}
	return out
}

// IPRoute is one route of `ip route show table all`.
type IPRoute struct {
	Type        string // unicast (none written), local, broadcast, blackhole, unreachable, prohibit, throw, multicast, anycast
	Destination string // a prefix; "default" is written 0.0.0.0/0 or ::/0
	Gateway     string
	Dev         string
	Table       string // "main" when none is written
	Metric      int
}

// routeTypes are the words `ip route` writes before a destination.
var routeTypes = map[string]bool{"local": true, "broadcast": true, "blackhole": true, "unreachable": true,
	"prohibit": true, "throw": true, "multicast": true, "anycast": true, "nat": true, "unicast": true}

// ParseIPRoute parses the output of `ip route show table all` (or `ip -6
// ...`); v6 says which family "default" stands for. Without -4, ip shows
// the IPv6 routes too: when v6 is false a route with an IPv6 destination,
// or with a router preference (written "pref", IPv6 only), is left out, so
// that an IPv6 default is not taken for an IPv4 one. Multipath next hops
// after the first line of a route are skipped.
func ParseIPRoute(s string, v6 bool) []IPRoute {
	var out []IPRoute
	for _, line := range lines(s) {
		if line == "" || line[0] == ' ' || line[0] == '\t' {
			continue
		}
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		r := IPRoute{Type: "unicast", Table: "main"}
		i := 0
		if routeTypes[f[0]] {
			r.Type = f[0]
			i++
		}
		if i >= len(f) {
			continue
		}
		dst := f[i]
		switch {
		case dst == "default" && v6:
			dst = "::/0"
		case dst == "default":
			dst = "0.0.0.0/0"
		case !strings.Contains(dst, "/"):
			if a, err := netip.ParseAddr(dst); err == nil {
				dst = netip.PrefixFrom(a, a.BitLen()).String()
			}
		}
		p, err := netip.ParsePrefix(dst)
		if err != nil || !v6 && (p.Addr().Is6() || slices.Contains(f[i+1:], "pref")) {
			continue // `ip route show table all` shows IPv6 too; only they have a pref
		}
		r.Destination = p.Masked().String()
		for i++; i < len(f); i++ {
			arg := func() string {
				if i+1 < len(f) {
					i++
					return f[i]
				}
				return ""
			}
			switch f[i] {
			case "via":
				v := arg()
				if v == "inet" || v == "inet6" {
					v = arg()
				}
				if a, err := netip.ParseAddr(v); err == nil {
					r.Gateway = a.String()
				}
			case "dev":
				r.Dev = arg()
			case "table":
				if v := arg(); v != "" {
					r.Table = v
				}
			case "metric":
				r.Metric, _ = strconv.Atoi(arg())
			}
		}
		out = append(out, r)
	}
	return out
}

// PolicyDefaults are the default routes that policy routing gives ordinary
// traffic from tables other than main: a unicast default route with a
// device in a table that a rule looks up for every packet this host sends
// (from all, to all, no positive fwmark, no iif other than lo, no oif or
// other selector), ahead of the rule that looks up main without
// suppressing its default (wg-quick's "lookup main suppress_prefixlength
// 0" leaves main's default out). Each is returned as a Route of that
// table, its family given by fam ("ipv4" or "ipv6").
func PolicyDefaults(rules []IPRule, routes []IPRoute, fam string) []*fwv1.Route {
	rules = append([]IPRule(nil), rules...)
	sort.SliceStable(rules, func(i, j int) bool { return rules[i].Priority < rules[j].Priority })
	defaults := map[string][]IPRoute{}
	mainDefault := false
	for _, r := range routes {
		p, err := netip.ParsePrefix(r.Destination)
		if err != nil || p.Bits() != 0 || r.Type != "unicast" {
			continue
		}
		if r.Table == "main" {
			mainDefault = true
			continue
		}
		if r.Dev != "" {
			defaults[r.Table] = append(defaults[r.Table], r)
		}
	}
	var out []*fwv1.Route
	seen := map[string]bool{}
	for _, ru := range rules {
		everyPacket := ru.From == "all" && ru.To == "all" && (ru.Fwmark == "" || ru.Not) &&
			(ru.Iif == "" || ru.Iif == "lo") && ru.Oif == "" && !ru.Other && (!ru.Not || ru.Fwmark != "")
		if ru.Action != "lookup" {
			if everyPacket && (ru.Action == "unreachable" || ru.Action == "prohibit" || ru.Action == "blackhole") {
				break // every packet stops here
			}
			continue
		}
		if ru.Table == "main" && everyPacket && ru.Suppress != 0 && mainDefault {
			break // main's default wins from here on
		}
		if !everyPacket || seen[ru.Table] {
			continue
		}
		seen[ru.Table] = true
		for _, d := range defaults[ru.Table] {
			out = append(out, &fwv1.Route{Destination: d.Destination, Gateway: d.Gateway, Interface: d.Dev,
				Metric: int32(d.Metric), Family: fam, Table: ru.Table, Rule: ruleText(ru)})
		}
	}
	return out
}

// ruleText writes a rule back in ip's words, for the route's evidence.
func ruleText(r IPRule) string {
	var b strings.Builder
	b.WriteString(strconv.Itoa(r.Priority) + ":")
	if r.Not {
		b.WriteString(" not")
	}
	b.WriteString(" from " + r.From)
	if r.Fwmark != "" {
		b.WriteString(" fwmark " + r.Fwmark)
	}
	if r.Iif != "" {
		b.WriteString(" iif " + r.Iif)
	}
	b.WriteString(" lookup " + r.Table)
	return b.String()
}

// policyCommands reads the rules and all tables with the ip command and
// returns the policy defaults of both families, and the errors of the
// commands: the reading of snapshots recorded before
// api/policy_routing.json, and of a live host whose netlink socket was
// refused.
func policyCommands(ctx context.Context, h *host.Host) ([]*fwv1.Route, []error) {
	var out []*fwv1.Route
	var errs []error
	for _, fam := range []struct {
		name string
		v6   []string
	}{{"ipv4", nil}, {"ipv6", []string{"-6"}}} {
		rb, err := h.Run(ctx, host.Command{Name: "ip", Args: append(append([]string{}, fam.v6...), "rule", "show")})
		if err != nil {
			errs = append(errs, err)
			continue
		}
		tb, err := h.Run(ctx, host.Command{Name: "ip", Args: append(append([]string{}, fam.v6...), "route", "show", "table", "all")})
		if err != nil {
			errs = append(errs, err)
			continue
		}
		out = append(out, PolicyDefaults(ParseIPRule(string(rb)), ParseIPRoute(string(tb), fam.v6 != nil), fam.name)...)
	}
	return out, errs
}
