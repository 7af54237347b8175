package network

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/farmwatch/farmwatch/agent/host"
	fwv1 "github.com/farmwatch/farmwatch/proto/farmwatch/v1"
)

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

// readDarwin reads the macOS sources named in the package doc.
func readDarwin(ctx context.Context, h *host.Host) (State, error) {
	var st State
	var errs []error
	var recs []IfaceRecord
	if err := h.API(ctx, "interfaces", &recs, liveInterfaces); err != nil {
		errs = append(errs, err)
	}
	for _, r := range recs {
		i := r.Interface()
		i.Type = KindByName(r.Name)
		if i.Type == "" {
			i.Type = darwinKind(r.Name)
		}
		st.Interfaces = append(st.Interfaces, i)
	}
	if out, err := h.Run(ctx, host.Command{Name: "netstat", Args: []string{"-rn"}}); err == nil {
		st.Routes = ParseNetstat(string(out))
	} else {
		errs = append(errs, err)
	}
	if out, err := h.Run(ctx, host.Command{Name: "scutil", Args: []string{"--dns"}}); err == nil {
		st.DNS = ParseScutilDNS(string(out))
	} else {
		errs = append(errs, err)
	}
	if out, err := h.Run(ctx, host.Command{Name: "scutil", Args: []string{"--proxy"}}); err == nil {
		st.Proxies = ParseScutilProxy(string(out))
	} else {
		errs = append(errs, err)
	}
	return st, absentOK(errs)
}

func darwinKind(n string) string {
	switch {
	case strings.HasPrefix(n, "en"):
		return "physical" // Ethernet or Wi-Fi: the name does not say which
	case strings.HasPrefix(n, "awdl"), strings.HasPrefix(n, "llw"), strings.HasPrefix(n, "gif"),
		strings.HasPrefix(n, "stf"), strings.HasPrefix(n, "anpi"), strings.HasPrefix(n, "ap"):
		return "virtual"
	}
	return "virtual"
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

// ParseNetstat reads the output of macOS `netstat -rn`: the "Internet:" and
// "Internet6:" tables, columns found by the header (Destination, Gateway,
// Flags, Netif). Host routes (flag H), interface-scoped routes (flag I),
// loopback routes and link-local or multicast destinations are left out.
func ParseNetstat(s string) []*fwv1.Route {
	var out []*fwv1.Route
	fam := ""
	col := -1
	for _, line := range lines(s) {
		t := strings.TrimSpace(line)
		switch t {
		case "Internet:":
			fam, col = "ipv4", -1
			continue
		case "Internet6:":
			fam, col = "ipv6", -1
			continue
		}
		f := strings.Fields(t)
		if fam == "" || len(f) < 3 {
			continue
		}
		if f[0] == "Destination" {
			for i, c := range f {
				if c == "Netif" {
					col = i
				}
			}
			continue
		}
		if col < 0 || len(f) <= col {
			continue
		}
		flags, ifname := f[2], f[col]
		// H: a host route (an ARP/ND entry); I: an interface-scoped route,
		// which only sockets bound to that interface use (every Mac has a
		// scoped IPv6 default on a system utun), never the host's default.
		if strings.ContainsAny(flags, "HI") || strings.HasPrefix(ifname, "lo") {
			continue
		}
		p, ok := darwinDest(f[0], fam)
		if !ok || p.Addr().IsMulticast() || p.Addr().IsLinkLocalUnicast() {
			continue
		}
		r := &fwv1.Route{Destination: p.String(), Interface: ifname, Family: fam}
		if strings.Contains(flags, "G") {
			gw := f[1]
			if i := strings.IndexByte(gw, '%'); i >= 0 {
				gw = gw[:i]
			}
			if a, err := netip.ParseAddr(gw); err == nil {
				r.Gateway = a.String()
			}
		}
		out = append(out, r)
	}
	return out
}

// darwinDest reads netstat's shortened destinations: "default", "0/1",
// "128.0/1", "10.8/16", "192.168.1" (a /24), "fd00::/8", "fe80::%en0/64".
func darwinDest(d, fam string) (netip.Prefix, bool) {
	if d == "default" {
		if fam == "ipv6" {
			return netip.MustParsePrefix("::/0"), true
		}
		return netip.MustParsePrefix("0.0.0.0/0"), true
	}
	addr, bitsStr, hasBits := strings.Cut(d, "/")
	if i := strings.IndexByte(addr, '%'); i >= 0 {
		addr = addr[:i]
	}
	if fam == "ipv6" {
		a, err := netip.ParseAddr(addr)
		if err != nil {
			return netip.Prefix{}, false
		}
		n := 128
		if hasBits {
			if n, err = strconv.Atoi(bitsStr); err != nil {
				return netip.Prefix{}, false
			}
		}
		p, err := a.Prefix(n)
		return p, err == nil
	}
	parts := strings.Split(addr, ".")
	if len(parts) == 0 || len(parts) > 4 {
		return netip.Prefix{}, false
	}
	var b [4]byte
	for i, x := range parts {
		v, err := strconv.Atoi(x)
		if err != nil || v < 0 || v > 255 {
			return netip.Prefix{}, false
		}
		b[i] = byte(v)
	}
	n := 8 * len(parts)
	if hasBits {
		var err error
		if n, err = strconv.Atoi(bitsStr); err != nil {
			return netip.Prefix{}, false
		}
	}
	p, err := netip.AddrFrom4(b).Prefix(n)
	return p, err == nil
}

// ParseScutilDNS reads the "DNS configuration" part of `scutil --dns`:
// resolver blocks with "nameserver[N] : ADDR" and "if_index : N (IFNAME)".
// The "scoped queries" part repeats the same servers per interface and is
// only read for servers not seen before.
func ParseScutilDNS(s string) []*fwv1.DnsResolver {
	var out []*fwv1.DnsResolver
	seen := map[string]*fwv1.DnsResolver{}
	var block []string
	var iface string
	flush := func() {
		for _, srv := range block {
			if d := seen[srv]; d != nil {
				if d.Interface == "" {
					d.Interface = iface
				}
				continue
			}
			d := &fwv1.DnsResolver{Server: srv, Interface: iface, Source: "scutil"}
			seen[srv] = d
			out = append(out, d)
		}
		block, iface = nil, ""
	}
	for _, line := range lines(s) {
		t := strings.TrimSpace(line)
		if strings.HasPrefix(t, "resolver #") {
			flush()
			continue
		}
		k, v, ok := strings.Cut(t, ":")
		if !ok {
			continue
		}
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		switch {
		case strings.HasPrefix(k, "nameserver["):
			if a, err := netip.ParseAddr(strings.SplitN(v, "%", 2)[0]); err == nil {
				block = append(block, a.String())
			}
		case k == "if_index":
			if i := strings.IndexByte(v, '('); i >= 0 {
				iface = strings.TrimSuffix(v[i+1:], ")")
			}
		}
	}
	flush()
	if len(out) > 64 {
		out = out[:64]
	}
	return out
}

// errNotThisOS is what a live API of another OS returns.
var errNotThisOS = fmt.Errorf("this OS: %w", errors.ErrUnsupported)
