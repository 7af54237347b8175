package netstate

import (
	"context"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"math/bits"
	"net/netip"
	"path"
	"slices"
	"strconv"
	"strings"

	"github.com/farmwatch/farmwatch/agent/host"
	fwv1 "github.com/farmwatch/farmwatch/proto/farmwatch/v1"
)

// readLinux reads the interfaces, their addresses and the routes from the
// Linux files named in the package doc, and the policy routes.
func readLinux(ctx context.Context, h *host.Host) (State, error) {
	return readLinuxWith(ctx, h, policyRoutesLinux)
}

// readLinuxWith is readLinux with policy as the reader of the policy
// routes (the benchmark gives it the ip commands to compare).
func readLinuxWith(ctx context.Context, h *host.Host, policy func(context.Context, *host.Host) ([]*fwv1.Route, error)) (State, error) {
	var st State
	var errs []error
	ifs, err := linuxInterfaces(h)
	if err != nil {
		errs = append(errs, err)
	}
	st.Interfaces = ifs
	st.Routes, err = routesLinux(ctx, h)
	if err != nil {
		errs = append(errs, err)
	}
	st.main, st.mainErr = slices.Clip(st.Routes), err
	pol, err := policy(ctx, h)
	if err != nil {
		errs = append(errs, err)
	}
	st.Routes = append(st.Routes, pol...)

	// Addresses: IPv6 per interface, IPv4 through the trie and the
	// connected routes.
	byName := map[string]*fwv1.NetInterface{}
	for _, i := range st.Interfaces {
		byName[i.Name] = i
	}
	if b, err := h.ReadFile("/proc/net/fib_trie"); err == nil {
		for _, a := range ParseFibTrieLocal(string(b)) {
			name, bits := InterfaceFor(a, st.Routes)
			if i := byName[name]; i != nil {
				i.Addresses = append(i.Addresses, netip.PrefixFrom(a, bits).String())
			}
		}
	}
	if b, err := h.ReadFile("/proc/net/if_inet6"); err == nil {
		for _, a := range ParseIfInet6(string(b)) {
			if i := byName[a.Interface]; i != nil {
				i.Addresses = append(i.Addresses, a.Prefix.String())
			}
		}
	}
	return st, errors.Join(errs...)
}

// routesLinux reads the main routing table: /proc/net/route and
// /proc/net/ipv6_route. Neither file is an error when absent, and the IPv6
// table not when unreadable (a kernel without IPv6).
func routesLinux(_ context.Context, h *host.Host) ([]*fwv1.Route, error) {
	var out []*fwv1.Route
	var err error
	if b, rerr := h.ReadFile("/proc/net/route"); rerr == nil {
		out = ParseRoute(string(b))
	} else if !errors.Is(rerr, fs.ErrNotExist) {
		err = fmt.Errorf("read /proc/net/route: %w", rerr)
	}
	if b, rerr := h.ReadFile("/proc/net/ipv6_route"); rerr == nil {
		out = append(out, ParseIPv6Route(string(b))...)
	}
	return out, err
}

// linuxInterfaces reads /sys/class/net.
func linuxInterfaces(h *host.Host) ([]*fwv1.NetInterface, error) {
	ents, err := h.ReadDir("/sys/class/net")
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, nil
		}
		return nil, fmt.Errorf("list /sys/class/net: %w", err)
	}
	var out []*fwv1.NetInterface
	for _, e := range ents {
		d := path.Join("/sys/class/net", e.Name)
		read := func(f string) string {
			b, err := h.ReadFile(d + "/" + f)
			if err != nil {
				return ""
			}
			return strings.TrimSpace(string(b))
		}
		var s SysNet
		s.Name = e.Name
		s.Type = read("type")
		if s.Type == "" && read("ifindex") == "" {
			continue // not an interface directory (bonding_masters)
		}
		s.Operstate = read("operstate")
		s.Address = read("address")
		s.Flags = read("flags")
		s.MTU = read("mtu")
		s.Uevent = read("uevent")
		s.TunFlags = read("tun_flags")
		s.Wireless = read("phy80211/name") != ""
		if _, err := h.Readlink(d + "/device"); err == nil {
			s.Device = true
		}
		out = append(out, s.Interface())
	}
	return out, nil
}

// SysNet is what /sys/class/net/NAME holds of one interface.
type SysNet struct {
	Name, Type, Operstate, Address, Flags, MTU, Uevent, TunFlags string
	Wireless, Device                                             bool
}

// Interface classifies the interface and fills in its fields.
func (s SysNet) Interface() *fwv1.NetInterface {
	i := &fwv1.NetInterface{Name: s.Name, Type: s.kind()}
	if s.Address != "00:00:00:00:00:00" && strings.Count(s.Address, ":") == 5 {
		i.Mac = strings.ToLower(s.Address)
	}
	if f, err := strconv.ParseUint(strings.TrimPrefix(s.Flags, "0x"), 16, 32); err == nil {
		i.Up = f&1 != 0 && s.Operstate != "down" && s.Operstate != "lowerlayerdown"
	} else {
		i.Up = s.Operstate == "up"
	}
	if m, err := strconv.Atoi(s.MTU); err == nil {
		i.Mtu = int32(m)
	}
	return i
}

func (s SysNet) kind() string {
	devtype := ""
	for _, l := range strings.Split(s.Uevent, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(l), "DEVTYPE="); ok {
			devtype = v
		}
	}
	byName := KindByName(s.Name)
	switch {
	case byName == "tailscale" || byName == "zerotier":
		return byName
	case devtype == "wlan" || s.Wireless:
		return "wifi"
	case devtype == "wireguard":
		return "wireguard"
	case devtype == "bridge", devtype == "ppp", devtype == "vlan", devtype == "bond":
		return devtype
	case s.TunFlags != "":
		f, _ := strconv.ParseUint(strings.TrimPrefix(s.TunFlags, "0x"), 16, 32)
		if f&0x2 != 0 { // IFF_TAP
			return "tap"
		}
		if byName == "wireguard" { // a userspace WireGuard (wireguard-go) on a tun
			return "wireguard"
		}
		return "tun"
	}
	switch s.Type { // ARPHRD_*
	case "772":
		return "loopback"
	case "512":
		return "ppp"
	case "768", "769", "776", "778", "823": // ipip, ip6 tunnel, sit, gre, ip6gre
		return "iptunnel"
	}
	if byName != "" {
		return byName
	}
	if s.Device {
		return "physical"
	}
	return "virtual"
}

// ParseRoute parses /proc/net/route: the IPv4 main table, addresses in
// little-endian hex. Routes that are down or reject routes are left out.
func ParseRoute(s string) []*fwv1.Route {
	var out []*fwv1.Route
	for n, line := range lines(s) {
		f := strings.Fields(line)
		if n == 0 && len(f) > 0 && f[0] == "Iface" || len(f) < 8 {
			continue
		}
		dst, ok1 := leIPv4(f[1])
		gw, ok2 := leIPv4(f[2])
		mask, ok3 := leIPv4(f[7])
		flags, err := strconv.ParseUint(f[3], 16, 32)
		if !ok1 || !ok2 || !ok3 || err != nil || flags&0x1 == 0 || flags&0x200 != 0 {
			continue
		}
		ones := bits.OnesCount32(binary.BigEndian.Uint32(mask.AsSlice()))
		p, err := dst.Prefix(ones)
		if err != nil {
			continue
		}
		r := &fwv1.Route{Destination: p.String(), Interface: f[0], Family: "ipv4"}
		if flags&0x2 != 0 && !gw.IsUnspecified() {
			r.Gateway = gw.String()
		}
		if m, err := strconv.Atoi(f[6]); err == nil {
			r.Metric = int32(m)
		}
		out = append(out, r)
	}
	return out
}

func leIPv4(h string) (netip.Addr, bool) {
	if len(h) != 8 {
		return netip.Addr{}, false
	}
	b, err := hex.DecodeString(h)
	if err != nil {
		return netip.Addr{}, false
	}
	return netip.AddrFrom4([4]byte{b[3], b[2], b[1], b[0]}), true
}

func hexIPv6(h string) (netip.Addr, bool) {
	if len(h) != 32 {
		return netip.Addr{}, false
	}
	b, err := hex.DecodeString(h)
	if err != nil {
		return netip.Addr{}, false
	}
	return netip.AddrFrom16([16]byte(b)), true
}

// ParseIPv6Route parses /proc/net/ipv6_route. Local, cached, reject,
// loopback, multicast and link-local routes are left out: what is left is
// where traffic leaves the host.
func ParseIPv6Route(s string) []*fwv1.Route {
	var out []*fwv1.Route
	for _, line := range lines(s) {
		f := strings.Fields(line)
		if len(f) < 10 {
			continue
		}
		dst, ok1 := hexIPv6(f[0])
		plen, err1 := strconv.ParseUint(f[1], 16, 8)
		gw, ok2 := hexIPv6(f[4])
		metric, err2 := strconv.ParseUint(f[5], 16, 32)
		flags, err3 := strconv.ParseUint(f[8], 16, 32)
		if !ok1 || !ok2 || err1 != nil || err2 != nil || err3 != nil || plen > 128 {
			continue
		}
		const rtfUp, rtfGateway, rtfReject, rtfCache, rtfLocal = 0x1, 0x2, 0x200, 0x01000000, 0x80000000
		if flags&rtfUp == 0 || flags&(rtfReject|rtfCache|rtfLocal) != 0 || f[9] == "lo" {
			continue
		}
		p, err := dst.Prefix(int(plen))
		if err != nil || p.Addr().IsMulticast() || p.Addr().IsLinkLocalUnicast() {
			continue
		}
		r := &fwv1.Route{Destination: p.String(), Interface: f[9], Family: "ipv6", Metric: int32(metric)}
		if flags&rtfGateway != 0 && !gw.IsUnspecified() {
			r.Gateway = gw.String()
		}
		out = append(out, r)
	}
	return out
}

// IfAddr is one line of /proc/net/if_inet6.
type IfAddr struct {
	Prefix    netip.Prefix
	Interface string
}

// ParseIfInet6 parses /proc/net/if_inet6: address, index, prefix length,
// scope, flags, name.
func ParseIfInet6(s string) []IfAddr {
	var out []IfAddr
	for _, line := range lines(s) {
		f := strings.Fields(line)
		if len(f) < 6 {
			continue
		}
		a, ok := hexIPv6(f[0])
		plen, err := strconv.ParseUint(f[2], 16, 8)
		if !ok || err != nil || plen > 128 {
			continue
		}
		out = append(out, IfAddr{Prefix: netip.PrefixFrom(a, int(plen)), Interface: f[5]})
	}
	return out
}

// ParseFibTrieLocal returns the local IPv4 addresses of /proc/net/fib_trie:
// each leaf ("|-- 10.7.0.2") followed by a "/32 host LOCAL" line. The trie
// is printed per table; an address is returned once.
func ParseFibTrieLocal(s string) []netip.Addr {
	var out []netip.Addr
	seen := map[netip.Addr]bool{}
	var leaf netip.Addr
	for _, line := range lines(s) {
		t := strings.TrimSpace(line)
		if v, ok := strings.CutPrefix(t, "|-- "); ok {
			leaf, _ = netip.ParseAddr(strings.TrimSpace(v))
			continue
		}
		f := strings.Fields(t)
		if len(f) == 3 && f[0] == "/32" && f[1] == "host" && f[2] == "LOCAL" && leaf.Is4() && !seen[leaf] {
			seen[leaf] = true
			out = append(out, leaf)
		}
	}
	return out
}

// InterfaceFor names the interface of a local IPv4 address and the prefix
// length of its network: the interface whose connected (gatewayless) route
// holds it, the longest first; 127/8 is lo. An address in no connected
// route gets /32 and no interface.
func InterfaceFor(a netip.Addr, routes []*fwv1.Route) (string, int) {
	best, bestBits := "", -1
	for _, r := range routes {
		if r.Gateway != "" {
			continue
		}
		p, err := netip.ParsePrefix(r.Destination)
		if err != nil || p.Bits() == 0 || !p.Contains(a) || p.Bits() <= bestBits {
			continue
		}
		best, bestBits = r.Interface, p.Bits()
	}
	if best == "" {
		if a.IsLoopback() {
			return "lo", 8
		}
		return "", 32
	}
	return best, bestBits
}
