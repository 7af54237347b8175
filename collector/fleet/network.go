package fleet

import (
	"fmt"
	"net/netip"
	"strings"
	"unicode"

	"github.com/farmwatch/farmwatch/fleethash"
)

// The kinds of known network.
const (
	Office = "office" // everything its hosts share on it: egress, gateway, Wi-Fi, neighbours
	VPN    = "vpn"    // only the egress IP: a farm behind the VPN still shares its LAN
	Cloud  = "cloud"  // only the egress IP
)

// Network is a network the organisation declares (the --org file's
// networks:): hosts that share only it are not co-located.
type Network struct {
	Name     string
	Kind     string
	Egress   []netip.Prefix
	Gateways []string // MACs, normalised (fleethash.NormMAC)
}

// NetworkSpec is a network as the org file writes it.
type NetworkSpec struct {
	Name     string   `yaml:"name"`
	Kind     string   `yaml:"kind"`
	Egress   []string `yaml:"egress"`
	Gateways []string `yaml:"gateways"`
}

// Bounds of the declared networks.
const (
	MaxNetworks    = 1024
	maxPerNetwork  = 4096
	maxNetworkName = 128
)

// ParseNetworks checks and parses declared networks: a name (unique), a
// kind (office, vpn or cloud), CIDRs (a bare address is its own /32 or
// /128) and gateway MACs in any case and separator. A network that can
// match nothing (no egress and no gateway) is refused, as is an egress
// prefix wider than /8 (IPv4) or /16 (IPv6): it would hide the internet.
func ParseNetworks(specs []NetworkSpec) ([]Network, error) {
	if len(specs) > MaxNetworks {
		return nil, fmt.Errorf("networks: %d, the limit is %d", len(specs), MaxNetworks)
	}
	seen := map[string]bool{}
	var out []Network
	for i, s := range specs {
		name := strings.TrimSpace(s.Name)
		where := fmt.Sprintf("networks[%d]", i)
		if name != "" {
			where = fmt.Sprintf("network %q", name)
		}
		switch {
		case name == "":
			return nil, fmt.Errorf("%s: a name is required", where)
		case len(name) > maxNetworkName || strings.IndexFunc(s.Name, unicode.IsControl) >= 0:
			return nil, fmt.Errorf("%s: the name is over %d bytes or holds a control character", where, maxNetworkName)
		case seen[strings.ToLower(name)]:
			return nil, fmt.Errorf("%s: named twice", where)
		case s.Kind != Office && s.Kind != VPN && s.Kind != Cloud:
			return nil, fmt.Errorf("%s: kind %q: want office, vpn or cloud", where, s.Kind)
		case len(s.Egress) > maxPerNetwork || len(s.Gateways) > maxPerNetwork:
			return nil, fmt.Errorf("%s: more than %d egress CIDRs or gateways", where, maxPerNetwork)
		case len(s.Egress) == 0 && len(s.Gateways) == 0:
			return nil, fmt.Errorf("%s: no egress CIDRs and no gateways: it would match nothing", where)
		}
		seen[strings.ToLower(name)] = true
		n := Network{Name: name, Kind: s.Kind}
		for _, e := range s.Egress {
			p, err := parsePrefix(strings.TrimSpace(e))
			if err != nil {
				return nil, fmt.Errorf("%s: egress %q: %v", where, e, err)
			}
			if (p.Addr().Is4() && p.Bits() < 8) || (p.Addr().Is6() && p.Bits() < 16) {
				return nil, fmt.Errorf("%s: egress %s is wider than a /8 (IPv4) or /16 (IPv6): it would hide everyone", where, p)
			}
			n.Egress = append(n.Egress, p)
		}
		for _, g := range s.Gateways {
			m := fleethash.NormMAC(g)
			if m == "" {
				return nil, fmt.Errorf("%s: gateway %q: not a unicast MAC (00:11:22:33:44:55)", where, g)
			}
			n.Gateways = append(n.Gateways, m)
		}
		out = append(out, n)
	}
	return out, nil
}

func parsePrefix(s string) (netip.Prefix, error) {
	if !strings.Contains(s, "/") {
		a, err := netip.ParseAddr(s)
		if err != nil || a.Zone() != "" {
			return netip.Prefix{}, fmt.Errorf("not a CIDR or an address")
		}
		a = a.Unmap()
		return netip.PrefixFrom(a, a.BitLen()), nil
	}
	p, err := netip.ParsePrefix(s)
	if err != nil || p.Addr().Zone() != "" {
		return netip.Prefix{}, fmt.Errorf("not a CIDR")
	}
	if p.Addr().Is4In6() {
		if p.Bits() < 96 {
			return netip.Prefix{}, fmt.Errorf("an IPv4-mapped prefix shorter than /96")
		}
		p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
	}
	return p.Masked(), nil
}

// known is the declared networks, ready to compare with hosts.
type known struct {
	offices, all []named
	officeGW     map[string]string // salted hashes of the offices' gateways: the office's name
}

// named is a declared network's egress prefix, with the network's name.
type named struct {
	p    netip.Prefix
	name string
}

func compileNetworks(nets []Network, salt string) known {
	k := known{officeGW: map[string]string{}}
	for _, n := range nets {
		for _, p := range n.Egress {
			k.all = append(k.all, named{p, n.Name})
			if n.Kind == Office { // a VPN or cloud network covers the egress IP only
				k.offices = append(k.offices, named{p, n.Name})
			}
		}
		if n.Kind != Office {
			continue
		}
		for _, g := range n.Gateways {
			if h := fleethash.MACHash(salt, g); k.officeGW[h] == "" {
				k.officeGW[h] = n.Name
			}
		}
	}
	return k
}

// in is the name of the first network whose prefixes hold ip, or "".
func in(ns []named, ip netip.Addr) string {
	for _, n := range ns {
		if n.p.Contains(ip) {
			return n.name
		}
	}
	return ""
}

// office is the declared office a host is on, or "": its egress IP is in
// an office's CIDRs, or its gateway is an office's.
func (k known) office(h Host) string {
	if ip, err := netip.ParseAddr(h.EgressIP); err == nil {
		if n := in(k.offices, ip.Unmap()); n != "" {
			return n
		}
	}
	for _, g := range h.Facts.Gateways {
		if n := k.officeGW[g]; n != "" {
			return n
		}
	}
	return ""
}

// network is the declared network a host is on: an office (office), or
// the network its egress IP is in; "" for none.
func (k known) network(h Host) string {
	if n := k.office(h); n != "" {
		return n
	}
	if ip, ok := publicEgress(h.EgressIP); ok {
		return in(k.all, ip)
	}
	return ""
}

// egressKnown says whether an egress IP is in any declared network.
func (k known) egressKnown(ip netip.Addr) bool { return in(k.all, ip) != "" }
