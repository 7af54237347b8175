// Package netid is the sensor for the network identity of a host: the
// default gateway (IP and MAC), the neighbour table, the Wi-Fi network it
// is associated with, and, when asked, IP-KVMs that announce themselves
// over mDNS. The laptops of one farm share a gateway and a Wi-Fi network;
// the collector compares these across hosts. Which neighbours are KVMs is
// decided by rules (rules/network.yaml), not here.
//
// Identifiers that could locate a person (the MACs of the gateway and of
// every neighbour, the SSID and the BSSID) are hashed before they leave
// the host: HMAC-SHA256 keyed with the fleet salt over "mac:", "ssid:" or
// "bssid:" and the value, hex, truncated to 16 bytes. The collector hands
// every agent the same salt (ConfigUpdate.fleet_salt), so the hashes
// compare across the fleet: two hosts behind one gateway, on one Wi-Fi,
// or one host's neighbour table holding another's interface (whose MAC
// the network sensor hashes with the same Hash). The agent config's
// fleet_salt is for offline scans. The raw values are not kept in the
// observations. With no salt set the hashes are still made, with an empty
// key: an unsalted hash is weak (a MAC is 24 unknown bits behind its OUI,
// SSIDs are guessable). The OUI (the first three bytes) and the first four
// bytes of every neighbour's MAC are kept for the KVM vendor rules (some
// vendors' blocks are 28 bits, IEEE MA-M).
//
// What it reads, per OS (parsers chosen by the host's OS at run time):
//
// The routes that give the default gateways come from package netstate:
// /proc/net/route and /proc/net/ipv6_route on Linux, `/usr/sbin/netstat
// -rn` on macOS, api/routes.json and api/interfaces.json on Windows.
// Besides:
//
// Linux: /proc/net/arp (IPv4 neighbours; IPv6 neighbours are only in netlink
// and are not read), /proc/net/wireless (which interfaces are wireless and
// associated), and NetworkManager's state: /var/lib/NetworkManager/
// timestamps (the profile used last) and /var/lib/NetworkManager/
// seen-bssids (the BSSIDs seen for it; several for a mesh, hashed as one
// sorted set). The Wi-Fi profiles (system-connections/*.nmconnection) hold
// the SSID but also the Wi-Fi password, which a snapshot would then carry,
// so they are not read and Linux reports no SSID. The current BSSID itself
// is only in nl80211, which is not read.
//
// macOS: `/usr/sbin/arp -an` (neighbours). The Wi-Fi interfaces are those
// that /Library/Preferences/SystemConfiguration/NetworkInterfaces.plist
// types IEEE80211 (en0 on a MacBook, en1 on an iMac or Mac mini whose en0
// is Ethernet; en0 when the file is missing). For each,
// `/usr/sbin/ipconfig getsummary IF` (SSID and BSSID; the airport tool is
// gone, and `system_profiler SPAirPortDataType` is slow and redacts the
// same fields). From macOS 14.4 (15.6 for some fields) ipconfig prints
// <redacted> to any process without Location Services permission, root
// included; then the sensor asks `/usr/bin/wdutil info` (root only; it
// printed both identifiers to root on macOS 15.6 and 26 betas, and its
// recorded output also holds the Mac's network and Bluetooth summary),
// and for a still missing SSID reads the interface's newest DHCP lease that
// is valid at the scan (/private/var/db/dhcpclient/leases/IF*, root only,
// which records the SSID). A network whose identifiers stay withheld is
// reported with status "redacted" rather than left out.
//
// Windows, from APIs rather than `arp -a` and `netsh`, whose words are in
// the installation's language: api/neighbors.json (GetIpNetTable2, each
// row's interface named by its alias) and api/wlan.json (WlanEnumInterfaces
// and WlanQueryInterface(wlan_intf_opcode_current_connection): SSID and
// BSSID of each connected interface; Windows 11 24H2 refuses them to a
// caller without location consent, which is reported as status "denied").
// Snapshots of older agents hold English `ARP.EXE -a` and `netsh wlan show
// interfaces` outputs instead; those are still read.
//
// mDNS (all OSes, Config.mdns, off by default): for two seconds the sensor
// listens, without sending anything, on 224.0.0.251:5353 and keeps the
// addresses announced for pikvm, tinypilot, jetkvm, glkvm and blikvm .local
// names, recorded as api/mdns.json. It hears only what devices announce on
// their own or answer to another host's query.
package netid

import (
	"context"
	"errors"
	"net/netip"
	"slices"
	"sort"
	"strings"

	"github.com/farmwatch/farmwatch/agent/host"
	"github.com/farmwatch/farmwatch/agent/netstate"
	"github.com/farmwatch/farmwatch/agent/sensor"
	"github.com/farmwatch/farmwatch/fleethash"
	fwv1 "github.com/farmwatch/farmwatch/proto/farmwatch/v1"
)

// Options configure the sensor.
type Options struct {
	Salt string // fleet salt for the identifier hashes
	MDNS bool   // listen for IP-KVM mDNS names
}

// Sensor is the network-identity sensor.
type Sensor struct{ opt Options }

// New returns the sensor with its options.
func New(o Options) *Sensor { return &Sensor{opt: o} }

// Name is "netid".
func (*Sensor) Name() string { return "netid" }

// Gateway is the next hop of a default route.
type Gateway struct {
	IP        string
	Interface string
}

// Wifi is an associated Wi-Fi network, before hashing. Status says why
// the SSID and BSSID are missing: "redacted", "denied" ("" when read).
type Wifi struct {
	Interface, SSID, BSSID, Source, Status string
}

// State is what the sensor read, before hashing.
type State struct {
	Gateways  []Gateway
	Neighbors []*fwv1.Neighbor
	Wifi      []Wifi
	MDNS      []MDNSRecord
}

// Sense reads the identity; each part failing leaves the others.
func (s *Sensor) Sense(ctx context.Context, h *host.Host) ([]*fwv1.Observation, error) {
	st, err := sensor.ByOS[State]{Linux: readLinux, Darwin: readDarwin, Windows: readWindows}.Read(ctx, h)
	if s.opt.MDNS {
		var recs []MDNSRecord
		if merr := h.API(ctx, "mdns", &recs, liveMDNS); merr == nil {
			st.MDNS = recs
		} else if !errors.Is(merr, host.ErrNotRecorded) {
			err = errors.Join(err, merr)
		}
	}
	return st.Observations(s.opt.Salt), err
}

// Hash is the salted identifier hash: fleethash.Hash.
func Hash(salt, kind, value string) string { return fleethash.Hash(salt, kind, value) }

// gatewaysOf returns the next hops of the default routes (split halves
// included). When no default route has a next hop (a full tunnel whose
// default route is the tunnel device itself), the next hops of the other
// routes are the gateways: that is the LAN's router, which still carries
// the tunnel to its endpoint and which the farm's laptops share.
func gatewaysOf(routes []*fwv1.Route) []Gateway {
	netstate.MarkRoutes(routes, nil)
	var out []Gateway
	seen := map[string]bool{}
	for _, pass := range []bool{true, false} {
		for _, r := range routes {
			if r.Default == pass && r.Gateway != "" && !seen[r.Gateway+"@"+r.Interface] {
				seen[r.Gateway+"@"+r.Interface] = true
				out = append(out, Gateway{IP: r.Gateway, Interface: r.Interface})
			}
		}
		if len(out) > 0 {
			break
		}
	}
	return out
}

// Observations hashes the identifiers and keys the observations.
func (st State) Observations(salt string) []*fwv1.Observation {
	gw := map[string]bool{}
	for _, g := range st.Gateways {
		gw[g.IP] = true
	}
	byIP := map[string]*fwv1.Neighbor{}
	var ns []*fwv1.Neighbor
	for _, n := range st.Neighbors {
		if byIP[n.Ip+"@"+n.Interface] != nil {
			continue
		}
		byIP[n.Ip+"@"+n.Interface] = n
		ns = append(ns, n)
	}
	for _, g := range st.Gateways {
		if !slices.ContainsFunc(ns, func(n *fwv1.Neighbor) bool { return n.Ip == g.IP }) {
			n := &fwv1.Neighbor{Ip: g.IP, Interface: g.Interface}
			byIP[n.Ip+"@"+n.Interface] = n
			ns = append(ns, n)
		}
	}
	for _, m := range st.MDNS {
		var hit *fwv1.Neighbor
		for _, n := range ns {
			if n.Ip == m.IP {
				hit = n
			}
		}
		if hit == nil {
			hit = &fwv1.Neighbor{Ip: m.IP}
			ns = append(ns, hit)
		}
		hit.MdnsName = m.Name
	}
	var obs []*fwv1.Observation
	for _, n := range ns {
		n.Mac = NormMAC(n.Mac)
		if len(n.Mac) == 17 {
			n.Oui, n.MacPrefix = n.Mac[:8], n.Mac[:11]
		}
		n.Gateway = gw[n.Ip]
		// Every neighbour's MAC leaves the host only as its hash (the
		// collector compares it with the hosts' own interface hashes:
		// host A sees host B) and its vendor prefix (the KVM rules).
		n.MacHash = Hash(salt, "mac", n.Mac)
		n.Mac = ""
		obs = append(obs, &fwv1.Observation{Key: "neighbor/" + n.Interface + "/" + n.Ip, Kind: &fwv1.Observation_Neighbor{Neighbor: n}})
	}
	for _, w := range st.Wifi {
		if w.SSID == "" && w.BSSID == "" && w.Status == "" {
			continue
		}
		wn := &fwv1.WifiNetwork{Interface: w.Interface, Source: w.Source, Status: w.Status,
			SsidHash: Hash(salt, "ssid", w.SSID), BssidHash: Hash(salt, "bssid", normMACs(w.BSSID))}
		obs = append(obs, &fwv1.Observation{Key: "wifi_network/" + w.Interface, Kind: &fwv1.Observation_WifiNetwork{WifiNetwork: wn}})
	}
	sort.SliceStable(obs, func(i, j int) bool { return obs[i].Key < obs[j].Key })
	if len(obs) > 1024 {
		obs = obs[:1024]
	}
	return obs
}

// NormMAC writes a MAC in one form: fleethash.NormMAC.
func NormMAC(s string) string { return fleethash.NormMAC(s) }

func validIP(s string) (string, bool) {
	a, err := netip.ParseAddr(s)
	if err != nil {
		return "", false
	}
	return a.String(), true
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

// normMACs normalises a comma-separated set of MACs (one BSSID, or the
// set NetworkManager saw for a profile).
func normMACs(s string) string {
	var out []string
	for _, m := range strings.Split(s, ",") {
		if n := NormMAC(m); n != "" {
			out = append(out, n)
		}
	}
	return strings.Join(out, ",")
}
