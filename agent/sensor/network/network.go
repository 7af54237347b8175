// Package network is the sensor for the network paths out of a host: the
// interfaces and their kinds (tunnels, overlays, Wi-Fi), the routes (default
// routes flagged, and whether they go through a tunnel, split tunnels
// recognised), the DNS servers and the configured proxies. It reports
// neutral observations; rules/network.yaml judges them. Running VPN clients
// and ssh tunnels are processes, which the remoteaccess sensor already
// reports; rules match them there.
//
// What it reads, per OS (the parser of each is chosen by the host's OS at
// run time, so every OS's snapshot scans on any machine):
//
// Linux (files only, through the host root):
//   - /sys/class/net/*/{type,operstate,address,uevent,tun_flags,mtu},
//     /sys/class/net/*/wireless and the link /sys/class/net/*/device;
//   - addresses: /proc/net/if_inet6 (IPv6) and /proc/net/fib_trie (IPv4:
//     procfs has no per-interface IPv4 file and the ip command is not
//     allowed; each local /32 of the trie is given to the interface whose
//     connected route holds it, 127/8 to lo);
//   - routes: /proc/net/route and /proc/net/ipv6_route (the main table
//     only: a policy-routed tunnel such as wg-quick's table 51820 is not
//     seen there, only its interface);
//   - DNS: /etc/resolv.conf;
//   - proxies: /etc/environment, export lines of /etc/profile.d/*.sh, and
//     Acquire::*::Proxy lines of /etc/apt/apt.conf and /etc/apt/apt.conf.d/*.
//     The agent's own environment is not the user's and is not read;
//     GNOME's per-user proxy lives in a binary dconf database and is not
//     read either.
//
// macOS: api/interfaces.json (gopsutil net.Interfaces), `/usr/sbin/netstat
// -rn` (routes), `/usr/sbin/scutil --dns`, `/usr/sbin/scutil --proxy`.
//
// Windows: api/interfaces.json (GetAdaptersAddresses, with descriptions such
// as "Wintun Userspace Tunnel" and "TAP-Windows Adapter V9" and each
// adapter's DNS servers), api/routes.json (GetIpForwardTable2),
// api/proxy.json (the WinINET settings under HKCU\Software\Microsoft\Windows\
// CurrentVersion\Internet Settings of every loaded user hive in HKEY_USERS),
// and `netsh winhttp show proxy`. The formats are in API.md.
package network

import (
	"context"
	"errors"
	"net/netip"
	"sort"
	"strings"

	"github.com/farmwatch/farmwatch/agent/host"
	"github.com/farmwatch/farmwatch/agent/sensor"
	fwv1 "github.com/farmwatch/farmwatch/proto/farmwatch/v1"
)

// Sensor is the network sensor.
type Sensor struct{}

// Name is "network".
func (Sensor) Name() string { return "network" }

// maxRoutes bounds the routes reported, so a router-sized table cannot
// flood the observations; the default routes are kept first.
const maxRoutes = 256

// Sense reads the host's network paths. Each part (interfaces, routes, DNS,
// proxies) is read on its own; a part that fails leaves the others.
func (Sensor) Sense(ctx context.Context, h *host.Host) ([]*fwv1.Observation, error) {
	st, err := sensor.ByOS[State]{Linux: readLinux, Darwin: readDarwin, Windows: readWindows}.Read(ctx, h)
	return st.Observations(), err
}

// State is what the sensor read, before it becomes observations.
type State struct {
	Interfaces []*fwv1.NetInterface
	Routes     []*fwv1.Route
	DNS        []*fwv1.DnsResolver
	Proxies    []*fwv1.ProxySetting
}

// Observations finishes the state (tunnel flags, split defaults) and turns
// it into keyed observations.
func (st State) Observations() []*fwv1.Observation {
	kinds := map[string]string{}
	for _, i := range st.Interfaces {
		i.Tunnel = TunnelKind(i.Type)
		kinds[i.Name] = i.Type
	}
	MarkRoutes(st.Routes, kinds)
	routes := st.Routes
	sort.SliceStable(routes, func(a, b int) bool { return routes[a].Default && !routes[b].Default })
	if len(routes) > maxRoutes {
		routes = routes[:maxRoutes]
	}
	var obs []*fwv1.Observation
	for _, i := range st.Interfaces {
		obs = append(obs, &fwv1.Observation{Key: "net_interface/" + i.Name, Kind: &fwv1.Observation_NetInterface{NetInterface: i}})
	}
	seen := map[string]bool{}
	add := func(key string, o *fwv1.Observation) {
		if seen[key] {
			return
		}
		seen[key] = true
		o.Key = key
		obs = append(obs, o)
	}
	for _, r := range routes {
		add("route/"+r.Destination+"@"+r.Interface+"/"+r.Gateway, &fwv1.Observation{Kind: &fwv1.Observation_Route{Route: r}})
	}
	for _, d := range st.DNS {
		add("dns_resolver/"+d.Source+"/"+d.Server+"@"+d.Interface, &fwv1.Observation{Kind: &fwv1.Observation_DnsResolver{DnsResolver: d}})
	}
	for _, p := range st.Proxies {
		add("proxy_setting/"+p.Source+"/"+p.Scope+"/"+p.Protocol, &fwv1.Observation{Kind: &fwv1.Observation_ProxySetting{ProxySetting: p}})
	}
	return obs
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
		for _, x := range p {
			if strings.HasPrefix(n, x) {
				return true
			}
		}
		return false
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

// LiveInterfaces is the live OS call behind api/interfaces.json (macOS,
// Windows), for the netid sensor, which reads the same record.
func LiveInterfaces(ctx context.Context) (any, error) { return liveInterfaces(ctx) }

// LiveRoutes is the live OS call behind api/routes.json (Windows).
func LiveRoutes(ctx context.Context) (any, error) { return liveRoutes(ctx) }

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
