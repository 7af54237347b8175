package netstate

import (
	"context"
	"net/netip"
	"strconv"
	"strings"

	"github.com/farmwatch/farmwatch/agent/host"
	fwv1 "github.com/farmwatch/farmwatch/proto/farmwatch/v1"
)

// The command run on macOS, exactly.
var netstatRoutes = host.Command{Name: "netstat", Args: []string{"-rn"}}

// readDarwin reads api/interfaces.json and `netstat -rn`.
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
	routes, err := routesDarwin(ctx, h)
	if err != nil {
		errs = append(errs, err)
	}
	st.Routes, st.main, st.mainErr = routes, routes, err
	return st, absentOK(errs)
}

// routesDarwin reads `netstat -rn`.
func routesDarwin(ctx context.Context, h *host.Host) ([]*fwv1.Route, error) {
	out, err := h.Run(ctx, netstatRoutes)
	if err != nil {
		return nil, absentOK([]error{err})
	}
	return ParseNetstat(string(out)), nil
}

// darwinKind classifies a macOS interface that KindByName does not: en* is
// physical, every other one (awdl, llw, gif, stf, anpi, ap...) virtual.
func darwinKind(n string) string {
	if strings.HasPrefix(n, "en") {
		return "physical" // Ethernet or Wi-Fi: the name does not say which
	}
	return "virtual"
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
			if a, err := netip.ParseAddr(gw); err == nil && !a.IsUnspecified() { // unspecified: on-link, as elsewhere
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
		if err != nil || !a.Is6() {
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
