// Package network is the sensor for the network paths out of a host: the
// interfaces and their kinds (tunnels, overlays, Wi-Fi), the routes (default
// routes flagged, and whether they go through a tunnel, split tunnels
// recognised), the DNS servers and the configured proxies. It reports
// neutral observations; rules/network.yaml judges them. Running VPN clients
// and ssh tunnels are processes, which the remoteaccess sensor already
// reports; rules match them there.
//
// What it reads, per OS (the parser of each is chosen by the host's OS at
// run time, so every OS's snapshot scans on any machine). The interfaces,
// their kinds and addresses, and the routes come from package netstate,
// whose doc says what it reads on each OS (on Linux /sys/class/net,
// /proc/net/{route,ipv6_route,fib_trie,if_inet6}; on macOS
// api/interfaces.json and `/usr/sbin/netstat -rn`; on Windows
// api/interfaces.json, with each adapter's DNS servers, and
// api/routes.json). Besides:
//
// Linux (files only, through the host root):
//   - DNS: /etc/resolv.conf;
//   - proxies: /etc/environment, export lines of /etc/profile.d/*.sh, and
//     Acquire::*::Proxy lines of /etc/apt/apt.conf and /etc/apt/apt.conf.d/*.
//     The agent's own environment is not the user's and is not read;
//     GNOME's per-user proxy lives in a binary dconf database and is not
//     read either.
//
// macOS: `/usr/sbin/scutil --dns`, `/usr/sbin/scutil --proxy`.
//
// Windows: the DNS servers of each adapter (from api/interfaces.json) and
// api/proxy.json: the WinINET settings (ProxyEnable, ProxyServer,
// ProxyOverride, AutoConfigURL) of every loaded hive of a person, local,
// domain or Microsoft Entra ID (HKU\S-1-5-21-*, HKU\S-1-12-1-*), the
// machine's (HKLM, in force when the policy ProxySettingsPerUser is 0), and
// the WinHTTP default proxy (WinHttpGetDefaultProxyConfiguration, not the
// localised text of `netsh winhttp show proxy`, which only snapshots of
// older agents hold). The formats are in API.md.
package network

import (
	"context"
	"errors"
	"sort"

	"github.com/farmwatch/farmwatch/agent/host"
	"github.com/farmwatch/farmwatch/agent/netstate"
	"github.com/farmwatch/farmwatch/agent/sensor"
	"github.com/farmwatch/farmwatch/fleethash"
	fwv1 "github.com/farmwatch/farmwatch/proto/farmwatch/v1"
)

// Sensor is the network sensor. Salt is the fleet salt with which each
// interface's MAC is also hashed (NetInterface.mac_hash, fleethash), so
// the collector can tell which hosts hold it in their neighbour tables.
type Sensor struct{ Salt string }

// Name is "network".
func (Sensor) Name() string { return "network" }

// maxRoutes bounds the routes reported, so a router-sized table cannot
// flood the observations; the default routes are kept first.
const maxRoutes = 256

// Sense reads the host's network paths. Each part (interfaces, routes, DNS,
// proxies) is read on its own; a part that fails leaves the others.
func (s Sensor) Sense(ctx context.Context, h *host.Host) ([]*fwv1.Observation, error) {
	st, err := sensor.ByOS[State]{Linux: readLinux, Darwin: readDarwin, Windows: readWindows}.Read(ctx, h)
	return st.Observations(s.Salt), err
}

// State is what the sensor read, before it becomes observations.
type State struct {
	Interfaces []*fwv1.NetInterface
	Routes     []*fwv1.Route
	DNS        []*fwv1.DnsResolver
	Proxies    []*fwv1.ProxySetting
}

// Observations finishes the state (tunnel flags, split defaults, the
// salted hash of each interface's MAC) and turns it into keyed
// observations.
func (st State) Observations(salt string) []*fwv1.Observation {
	kinds := map[string]string{}
	for _, i := range st.Interfaces {
		i.Tunnel = netstate.TunnelKind(i.Type)
		i.MacHash = fleethash.MACHash(salt, i.Mac)
		kinds[i.Name] = i.Type
	}
	netstate.MarkRoutes(st.Routes, kinds)
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
