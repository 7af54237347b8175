package netstate

import (
	"context"
	"net/netip"
	"strings"

	"github.com/farmwatch/farmwatch/agent/host"
	fwv1 "github.com/farmwatch/farmwatch/proto/farmwatch/v1"
)

// RouteRecord is one route of api/routes.json (GetIpForwardTable2).
type RouteRecord struct {
	Destination string `json:"destination"` // CIDR
	NextHop     string `json:"next_hop,omitempty"`
	IfIndex     int    `json:"if_index"`
	Metric      int    `json:"metric,omitempty"`
}

// readWindows reads api/interfaces.json and api/routes.json.
func readWindows(ctx context.Context, h *host.Host) (State, error) {
	var st State
	var errs []error
	var recs []IfaceRecord
	if err := h.API(ctx, "interfaces", &recs, liveInterfaces); err != nil {
		errs = append(errs, err)
	}
	names := map[int]string{}
	for _, r := range recs {
		i := r.Interface()
		i.Type = WindowsKind(r)
		st.Interfaces = append(st.Interfaces, i)
		names[r.Index] = r.Name
		for _, d := range r.DNSServers {
			if a, err := netip.ParseAddr(d); err == nil {
				st.DNS = append(st.DNS, &fwv1.DnsResolver{Server: a.String(), Interface: r.Name, Source: "adapter"})
			}
		}
	}
	var routes []RouteRecord
	if err := h.API(ctx, "routes", &routes, liveRoutes); err != nil {
		errs = append(errs, err)
	}
	st.Routes = WindowsRoutes(routes, names)
	st.main, st.mainErr = st.Routes, absentOK(errs)
	return st, st.mainErr
}

// WindowsKind classifies an adapter by its description, name and IANA
// ifType: Wintun and TAP-Windows by their driver's description, the
// overlays by theirs.
func WindowsKind(r IfaceRecord) string {
	d := strings.ToLower(r.Description)
	n := strings.ToLower(r.Name)
	switch {
	case strings.Contains(d, "tailscale") || n == "tailscale":
		return "tailscale"
	case strings.Contains(d, "zerotier"):
		return "zerotier"
	case strings.Contains(d, "wintun"):
		return "wintun"
	case strings.Contains(d, "wireguard"):
		return "wireguard"
	case strings.Contains(d, "tap-windows") || strings.Contains(d, "tap-nordvpn") || strings.HasPrefix(d, "tap-"):
		return "tap"
	}
	switch r.IfType {
	case 24:
		return "loopback"
	case 71:
		return "wifi"
	case 23:
		return "ppp"
	case 131:
		return "tun"
	case 6:
		if strings.Contains(d, "virtual") || strings.Contains(d, "hyper-v") {
			return "virtual"
		}
		return "physical"
	}
	return "virtual"
}

// WindowsRoutes turns route records into routes, naming interfaces by
// their index. Loopback, multicast, link-local and host routes on the
// loopback are left out; an unspecified next hop is on-link.
func WindowsRoutes(rs []RouteRecord, names map[int]string) []*fwv1.Route {
	var out []*fwv1.Route
	for _, r := range rs {
		p, err := netip.ParsePrefix(r.Destination)
		if err != nil {
			continue
		}
		a := p.Addr()
		if a.IsLoopback() || a.IsMulticast() || a.IsLinkLocalUnicast() || (a.Is4() && a == netip.AddrFrom4([4]byte{255, 255, 255, 255})) {
			continue
		}
		rt := &fwv1.Route{Destination: p.Masked().String(), Interface: names[r.IfIndex], Metric: int32(r.Metric)}
		if rt.Interface == "" {
			continue
		}
		if nh, err := netip.ParseAddr(r.NextHop); err == nil && !nh.IsUnspecified() {
			rt.Gateway = nh.String()
		}
		out = append(out, rt)
	}
	return out
}
