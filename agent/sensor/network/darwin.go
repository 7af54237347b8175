package network

import (
	"context"
	"net/netip"
	"strings"

	"github.com/farmwatch/farmwatch/agent/host"
	"github.com/farmwatch/farmwatch/agent/netstate"
	fwv1 "github.com/farmwatch/farmwatch/proto/farmwatch/v1"
)

// readDarwin reads the macOS sources named in the package doc.
func readDarwin(ctx context.Context, h *host.Host) (State, error) {
	var errs []error
	ns, err := netstate.Read(ctx, h)
	if err != nil {
		errs = append(errs, err)
	}
	st := State{Interfaces: ns.Interfaces, Routes: ns.Routes}
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
