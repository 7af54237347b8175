// Package fleet finds the places and devices that hosts share: it groups
// hosts into clusters by signals (an egress IP outside the organisation's
// known networks, a gateway, a Wi-Fi access point, one host in another's
// neighbour table, one KVM or capture device on several hosts), and keeps
// each cluster's identity and history across recomputations (Tracker).
// Whether a cluster is a farm is the fleet rules' judgement (rules, scope
// fleet); this package only says what is shared, by whom, since when.
//
// Everything here is pure: the collector (collector/server) gathers the
// hosts, their facts and findings, and stores what comes out.
package fleet

import (
	"cmp"
	"net/netip"
	"slices"
	"strings"

	"github.com/farmwatch/farmwatch/fleethash"
	fwv1 "github.com/farmwatch/farmwatch/proto/farmwatch/v1"
)

// The kinds of signal.
const (
	EgressIP   = "egress_ip"
	Gateway    = "gateway"
	BSSID      = "bssid"
	Neighbor   = "neighbor"
	USBSerial  = "usb_serial"
	EDIDSerial = "edid_serial"
)

// LAN says whether a kind of signal puts hosts on one LAN.
func LAN(kind string) bool { return kind == Gateway || kind == BSSID || kind == Neighbor }

// Host is what the grouping knows of one host.
type Host struct {
	ID, Hostname, OS string
	Person           *fwv1.Person // nil: the roster does not name it
	EgressIP         string
	EgressCountry    string
	EgressASN        uint32
	Online           bool
	// Findings are the host's own open, unsuppressed findings.
	Findings []*fwv1.Finding
	Facts    Facts
}

// virtualGateways are gateway MACs that every virtual machine of a kind
// sees: sharing one says nothing of a place.
var virtualGateways = []string{
	"52:54:00:12:35:02", // QEMU and VirtualBox user-mode NAT (slirp) gateway 10.0.2.2
	"52:55:0a:00:02:02", // libslirp's gateway MAC for 10.0.2.2
}

// maxDeviceHosts: a device serial on more hosts than this is a model's
// default, not one device moving between laptops.
const maxDeviceHosts = 8

// Group groups hosts by the signals they share. salt is the fleet salt,
// with which the networks' gateway MACs are hashed to compare them with
// what agents send. The clusters have no id or times yet (Tracker).
func Group(hosts []Host, nets []Network, salt string) []*fwv1.Cluster {
	hosts = slices.Clone(hosts) // their egress IPs are made canonical below
	known := compileNetworks(nets, salt)
	ignoredGW := map[string]bool{}
	for _, m := range virtualGateways {
		ignoredGW[fleethash.MACHash(salt, m)] = true
	}
	office := make([]bool, len(hosts))
	network := make([]string, len(hosts))
	for i, h := range hosts {
		office[i] = known.office(h) != ""
		network[i] = known.network(h)
		if ip, ok := publicEgress(h.EgressIP); ok {
			hosts[i].EgressIP = ip.String() // as the egress_ip signal's value
		}
	}
	type key struct{ kind, value string }
	sig := map[key][]int{}
	labels := map[key]string{}
	add := func(kind, value string, i int) {
		k := key{kind, value}
		if !slices.Contains(sig[k], i) {
			sig[k] = append(sig[k], i)
		}
	}
	// Own MACs: a hash two hosts both claim (a virtual adapter's fixed
	// address) is nobody's identity.
	owners := map[string][]int{}
	for i, h := range hosts {
		for _, m := range h.Facts.OwnMACs {
			if !slices.Contains(owners[m], i) {
				owners[m] = append(owners[m], i)
			}
		}
	}
	for i, h := range hosts {
		if ip, ok := publicEgress(h.EgressIP); ok && !office[i] && !known.egressKnown(ip) {
			add(EgressIP, ip.String(), i)
		}
		for _, d := range h.Facts.Devices {
			add(d.Kind, d.Value, i)
			labels[key{d.Kind, d.Value}] = d.Label
		}
		if office[i] {
			continue // an office covers everything its hosts share on it
		}
		for _, g := range h.Facts.Gateways {
			if !ignoredGW[g] {
				add(Gateway, g, i)
			}
		}
		for _, b := range h.Facts.BSSIDs {
			add(BSSID, b, i)
		}
		for _, n := range h.Facts.Neighbors {
			if o := owners[n]; len(o) == 1 && o[0] != i && !office[o[0]] {
				add(Neighbor, n, o[0]) // the host that is seen first
				add(Neighbor, n, i)
			}
		}
	}
	// Union the hosts of each signal.
	parent := make([]int, len(hosts))
	for i := range parent {
		parent[i] = i
	}
	var find func(int) int
	find = func(i int) int {
		for parent[i] != i {
			parent[i] = parent[parent[i]]
			i = parent[i]
		}
		return i
	}
	var keys []key
	for k, hs := range sig {
		if len(hs) < 2 || (!LAN(k.kind) && k.kind != EgressIP && len(hs) > maxDeviceHosts) {
			continue
		}
		keys = append(keys, k)
		for _, i := range hs[1:] {
			parent[find(i)] = find(hs[0])
		}
	}
	slices.SortFunc(keys, func(a, b key) int { return cmp.Or(strings.Compare(a.kind, b.kind), strings.Compare(a.value, b.value)) })
	byRoot := map[int]*fwv1.Cluster{}
	var out []*fwv1.Cluster
	for _, k := range keys {
		hs := sig[k]
		root := find(hs[0])
		c := byRoot[root]
		if c == nil {
			c = &fwv1.Cluster{}
			byRoot[root] = c
			out = append(out, c)
		}
		s := &fwv1.Signal{Kind: k.kind, Value: k.value, Lan: LAN(k.kind)}
		slices.SortFunc(hs, func(a, b int) int {
			return cmp.Or(strings.Compare(hosts[a].Hostname, hosts[b].Hostname), strings.Compare(hosts[a].ID, hosts[b].ID))
		})
		var members []Host
		for _, i := range hs {
			s.Hosts = append(s.Hosts, hosts[i].Hostname)
			s.HostIds = append(s.HostIds, hosts[i].ID)
			members = append(members, hosts[i])
		}
		_, _, s.DistinctPeople = people(members)
		s.Countries = countries(members)
		s.Label = signalLabel(k.kind, k.value, labels[k], hosts, hs, sig[k])
		c.Signals = append(c.Signals, s)
	}
	for root, c := range byRoot {
		var members []Host
		var nets []string
		for i := range hosts {
			if find(i) == root {
				members = append(members, hosts[i])
				nets = append(nets, network[i])
			}
		}
		order := make([]int, len(members))
		for i := range order {
			order[i] = i
		}
		slices.SortFunc(order, func(a, b int) int {
			return cmp.Or(strings.Compare(members[a].Hostname, members[b].Hostname), strings.Compare(members[a].ID, members[b].ID))
		})
		sorted, sortedNets := make([]Host, len(order)), make([]string, len(order))
		for i, j := range order {
			sorted[i], sortedNets[i] = members[j], nets[j]
		}
		fill(c, sorted, sortedNets)
	}
	slices.SortFunc(out, func(a, b *fwv1.Cluster) int {
		return cmp.Or(strings.Compare(a.Members[0].Hostname, b.Members[0].Hostname), strings.Compare(a.Members[0].HostId, b.Members[0].HostId))
	})
	return out
}

// countries are the roster's claimed countries of hosts, distinct, sorted.
func countries(hs []Host) []string {
	var out []string
	for _, h := range hs {
		out = addSorted(out, h.Person.GetCountry())
	}
	return out
}

// fill sets a cluster's members (with the declared network each is on)
// and what the roster claims for them.
func fill(c *fwv1.Cluster, members []Host, nets []string) {
	var countries, regions, cities, zones, egress []string
	for i, h := range members {
		c.Members = append(c.Members, &fwv1.ClusterMember{HostId: h.ID, Hostname: h.Hostname, Person: h.Person, EgressIp: h.EgressIP,
			Os: h.OS, Findings: h.Findings, Online: h.Online, EgressCountry: h.EgressCountry, EgressAsn: h.EgressASN, Network: nets[i]})
		if p := h.Person; p != nil {
			countries, regions, cities, zones = addSorted(countries, p.Country), addSorted(regions, p.Region), addSorted(cities, p.City), addSorted(zones, p.Timezone)
		}
		egress = addSorted(egress, h.EgressCountry)
	}
	c.People, c.Unrostered, c.DistinctPeople = people(members)
	c.Countries, c.Regions, c.Cities, c.Timezones, c.EgressCountries = countries, regions, cities, zones, egress
}

// people are the roster's people of hosts (by name and email, case
// aside), the hosts the roster does not name, and how many people that
// makes: each unnamed host is one.
func people(hs []Host) (names, unrostered []string, n int32) {
	seen := map[string]bool{}
	for _, h := range hs {
		if h.Person == nil || h.Person.Name == "" {
			unrostered = append(unrostered, h.Hostname)
			n++
			continue
		}
		k := strings.ToLower(h.Person.Name + "\x00" + h.Person.Email)
		if !seen[k] {
			seen[k] = true
			names = addSorted(names, h.Person.Name)
			n++
		}
	}
	return names, unrostered, n
}

func addSorted(list []string, v string) []string {
	if v == "" {
		return list
	}
	i, found := slices.BinarySearch(list, v)
	if found {
		return list
	}
	return slices.Insert(list, i, v)
}

func short(h string) string { return h[:min(8, len(h))] }

// signalLabel words a signal for people.
func signalLabel(kind, value, device string, hosts []Host, hs []int, _ []int) string {
	switch kind {
	case EgressIP:
		return "egress " + value
	case Gateway:
		return "gateway " + short(value)
	case BSSID:
		return "Wi-Fi " + short(value)
	case Neighbor:
		// hs is sorted; the seen host is the one that owns value.
		var seen string
		var by []string
		for _, i := range hs {
			if slices.Contains(hosts[i].Facts.OwnMACs, value) {
				seen = hosts[i].Hostname
			} else {
				by = append(by, hosts[i].Hostname)
			}
		}
		return seen + " seen by " + strings.Join(by, ", ")
	}
	if device != "" {
		return device
	}
	return kind + " " + value
}

// publicEgress is an egress IP that can be shared by hosts in one place:
// not loopback, link-local, multicast or unspecified (a collector reached
// on this machine, or without an address, says nothing of a place).
func publicEgress(s string) (netip.Addr, bool) {
	ip, err := netip.ParseAddr(s)
	if err != nil {
		return ip, false
	}
	ip = ip.Unmap().WithZone("")
	if ip.IsLoopback() || ip.IsUnspecified() || ip.IsLinkLocalUnicast() || ip.IsMulticast() || ip.IsInterfaceLocalMulticast() {
		return ip, false
	}
	return ip, true
}
