// Package netstate reads a host's network interfaces and its routing table,
// through the host door, for the sensors that need them: network (the
// paths out of the host) and netid (the default gateway). The readers are
// pure Go over the door and the parsers compile on every OS, so a snapshot
// of any OS is read on any machine.
//
// What it reads, per OS:
//
// Linux (files through the host root, and one netlink reading):
//   - /sys/class/net/*/{type,ifindex,operstate,address,flags,mtu,uevent,
//     tun_flags,phy80211/name} and the link /sys/class/net/*/device;
//   - addresses: /proc/net/if_inet6 (IPv6) and /proc/net/fib_trie (IPv4:
//     procfs has no per-interface IPv4 file; each local /32 of the trie
//     is given to the interface whose connected route holds it, 127/8 to
//     lo);
//   - routes: /proc/net/route and /proc/net/ipv6_route (the main table);
//   - policy routing: the rules and the routes of every table of both
//     families, read over netlink (RTM_GETRULE and RTM_GETROUTE dumps) and
//     recorded as api/policy_routing.json; a snapshot recorded before it
//     holds the output of `/sbin/ip rule show`, `/sbin/ip -6 rule show`,
//     `/sbin/ip route show table all` and `/sbin/ip -6 route show table
//     all` instead, which is read in its place (absent ones are no error):
//     the default route of a table that a rule sends every packet of the
//     host to, as wg-quick's table 51820 and Tailscale's exit-node table 52
//     are, is added with its table and rule (policy.go). Only Read adds
//     them; Routes, for the default gateway, keeps the main table.
//
// macOS: api/interfaces.json (gopsutil net.Interfaces, getifaddrs) and
// `/usr/sbin/netstat -rn` (routes).
//
// Windows: api/interfaces.json (GetAdaptersAddresses, with descriptions such
// as "Wintun Userspace Tunnel" and "TAP-Windows Adapter V9" and each
// adapter's DNS servers) and api/routes.json (GetIpForwardTable2).
//
// The formats of the API entries are in API.md. Each interface gets a kind
// (physical, wifi, tun, tap, wireguard, utun, wintun, tailscale, zerotier,
// ...): on Linux from sysfs, on macOS from the name, on Windows from the
// adapter's description and IANA ifType.
package netstate

import (
	"bufio"
	"context"
	"errors"
	"net/netip"
	"slices"
	"strings"

	"google.golang.org/protobuf/proto"

	"github.com/farmwatch/farmwatch/agent/host"
	"github.com/farmwatch/farmwatch/agent/sensor"
	fwv1 "github.com/farmwatch/farmwatch/proto/farmwatch/v1"
)

// State is the host's interfaces and routes.
type State struct {
	Interfaces []*fwv1.NetInterface // kind (type) and addresses filled in; tunnel left to the caller
	Routes     []*fwv1.Route        // as read: family set, default and tunnel marks left to MarkRoutes
	DNS        []*fwv1.DnsResolver  // Windows only: the DNS servers of each adapter, source "adapter"

	main    []*fwv1.Route // what Routes gives: on Linux the main table alone
	mainErr error
}

// Read reads the host's interfaces and routes. A part that cannot be read
// leaves the others; an API result or command that a snapshot does not hold,
// or that a --root tree cannot give, leaves its part empty and is no error.
//
// The host is read once: the network and netid sensors of one scan (one
// Host) share the reading, each getting a copy of its own to mark.
func Read(ctx context.Context, h *host.Host) (State, error) {
	st, err := shared(ctx, h)
	return st.clone(), err
}

// Routes reads the host's routes alone, as Read does, without the policy
// routes of other tables on Linux: the default gateway is main's. It
// shares Read's reading.
func Routes(ctx context.Context, h *host.Host) ([]*fwv1.Route, error) {
	st, _ := shared(ctx, h)
	return cloneAll(st.main), st.mainErr
}

// shared reads the host once per Host (host.Shared); the first sensor to
// ask reads with its context, the other waits for that reading.
func shared(ctx context.Context, h *host.Host) (State, error) {
	type reading struct {
		st  State
		err error
	}
	v, _ := h.Shared("netstate", func() (any, error) {
		st, err := sensor.ByOS[State]{Linux: readLinux, Darwin: readDarwin, Windows: readWindows}.Read(ctx, h)
		if errors.Is(err, errors.ErrUnsupported) {
			st.mainErr = err
		}
		return reading{st, err}, nil
	})
	r, ok := v.(reading)
	if !ok {
		err := errors.New("netstate: the shared reading of the network failed")
		return State{mainErr: err}, err
	}
	return r.st, r.err
}

// clone copies what the sensors change (MarkRoutes, tunnel marks).
func (s State) clone() State {
	return State{Interfaces: cloneAll(s.Interfaces), Routes: cloneAll(s.Routes), DNS: cloneAll(s.DNS)}
}

func cloneAll[T proto.Message](in []T) []T {
	if in == nil {
		return nil
	}
	out := make([]T, len(in))
	for i, m := range in {
		out[i] = proto.Clone(m).(T)
	}
	return out
}

// IfaceRecord is one interface as api/interfaces.json holds it (macOS from
// gopsutil, Windows from GetAdaptersAddresses); see API.md.
type IfaceRecord struct {
	Name        string   `json:"name"`
	Index       int      `json:"index,omitempty"`
	Description string   `json:"description,omitempty"`
	MAC         string   `json:"mac,omitempty"`
	MTU         int      `json:"mtu,omitempty"`
	Up          bool     `json:"up"`
	Flags       []string `json:"flags,omitempty"`
	Addresses   []string `json:"addresses,omitempty"`
	IfType      int      `json:"if_type,omitempty"`
	DNSServers  []string `json:"dns_servers,omitempty"`
	Gateways    []string `json:"gateways,omitempty"`
}

// Interface turns a record into an observation body (kind left to the OS).
func (r IfaceRecord) Interface() *fwv1.NetInterface {
	i := &fwv1.NetInterface{Name: r.Name, Mac: strings.ToLower(strings.ReplaceAll(r.MAC, "-", ":")), Up: r.Up, Mtu: int32(r.MTU), Description: r.Description}
	for _, a := range r.Addresses {
		if p, err := netip.ParsePrefix(a); err == nil {
			i.Addresses = append(i.Addresses, p.String())
		} else if ad, err := netip.ParseAddr(a); err == nil {
			i.Addresses = append(i.Addresses, ad.String())
		}
	}
	return i
}

// TunnelKind reports whether an interface kind carries traffic through a
// tunnel to somewhere else.
func TunnelKind(kind string) bool {
	switch kind {
	case "tun", "tap", "wireguard", "ppp", "ipsec", "utun", "wintun", "tailscale", "zerotier":
		return true
	}
	return false
}

// MarkRoutes sets family, default, split_default and via_tunnel on routes,
// given the kind of each interface by name. A pair of /1 routes covering
// the whole address space (0.0.0.0/1 and 128.0.0.0/1, or ::/1 and 8000::/1)
// through one interface is how OpenVPN and others override the default
// route without replacing it: both halves are marked default and split.
func MarkRoutes(routes []*fwv1.Route, kinds map[string]string) {
	halves := map[string]map[string]bool{} // interface -> "lo4"/"hi4"/"lo6"/"hi6"
	for _, r := range routes {
		p, err := netip.ParsePrefix(r.Destination)
		if err != nil {
			continue
		}
		if r.Family == "" {
			r.Family = "ipv4"
			if p.Addr().Is6() {
				r.Family = "ipv6"
			}
		}
		if p.Bits() == 0 {
			r.Default = true
		}
		if h := half(p); h != "" {
			if halves[r.Interface] == nil {
				halves[r.Interface] = map[string]bool{}
			}
			halves[r.Interface][h] = true
		}
	}
	for _, r := range routes {
		p, err := netip.ParsePrefix(r.Destination)
		if err == nil {
			if h := half(p); h != "" {
				fam := h[2:]
				if halves[r.Interface]["lo"+fam] && halves[r.Interface]["hi"+fam] {
					r.Default, r.SplitDefault = true, true
				}
			}
		}
		if TunnelKind(kinds[r.Interface]) {
			r.ViaTunnel = true
		}
	}
}

func half(p netip.Prefix) string {
	if p.Bits() != 1 {
		return ""
	}
	a := p.Masked().Addr()
	fam := "4"
	if a.Is6() {
		fam = "6"
	}
	if a.AsSlice()[0]&0x80 == 0 {
		return "lo" + fam
	}
	return "hi" + fam
}

// KindByName classifies an interface by its name alone, for the OSes (and
// the Linux interfaces) whose kind is in the name.
func KindByName(name string) string {
	n := strings.ToLower(name)
	has := func(p ...string) bool {
		return slices.ContainsFunc(p, func(x string) bool { return strings.HasPrefix(n, x) })
	}
	switch {
	case n == "lo" || n == "lo0":
		return "loopback"
	case has("tailscale"):
		return "tailscale"
	case has("zt") && len(n) == 10:
		return "zerotier"
	case has("feth") && fethOverlay(n):
		return "zerotier"
	case has("utun"):
		return "utun"
	case has("wg", "nordlynx") || strings.HasSuffix(n, "-mullvad"):
		return "wireguard"
	case has("tun", "nordtun", "proton", "qtun"):
		return "tun"
	case has("tap"):
		return "tap"
	case has("ppp"):
		return "ppp"
	case has("ipsec", "vti", "xfrm"):
		return "ipsec"
	case has("veth"):
		return "veth"
	case has("br", "bridge", "virbr", "docker"):
		return "bridge"
	}
	return ""
}

// fethOverlay: ZeroTier on macOS names its feth pairs from 100 up.
func fethOverlay(n string) bool {
	num := strings.TrimPrefix(n, "feth")
	v := 0
	for _, c := range num {
		if c < '0' || c > '9' {
			return false
		}
		v = v*10 + int(c-'0')
	}
	return num != "" && v >= 100
}

// absentOK joins errors, leaving out a command or API call that a snapshot
// does not hold (or a --root tree cannot run): an older snapshot scans as
// if the source had nothing, as SNAPSHOT.md says of what is not in it.
func absentOK(errs []error) error {
	var keep []error
	for _, e := range errs {
		if !errors.Is(e, host.ErrNotRecorded) && !errors.Is(e, host.ErrNotLive) {
			keep = append(keep, e)
		}
	}
	return errors.Join(keep...)
}

// maxLines bounds what one parser keeps from one file.
const maxLines = 4096

// lines splits text into at most maxLines lines.
func lines(s string) []string {
	var out []string
	sc := bufio.NewScanner(strings.NewReader(s))
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	for sc.Scan() && len(out) < maxLines {
		out = append(out, sc.Text())
	}
	return out
}
