package netid

import (
	"context"
	"net/netip"
	"strings"

	"github.com/farmwatch/farmwatch/agent/host"
	"github.com/farmwatch/farmwatch/agent/netstate"
	fwv1 "github.com/farmwatch/farmwatch/proto/farmwatch/v1"
)

// readWindows reads the Windows sources named in the package doc.
func readWindows(ctx context.Context, h *host.Host) (State, error) {
	var st State
	var errs []error
	ns, err := netstate.Read(ctx, h)
	if err != nil {
		errs = append(errs, err)
	}
	byAddr := map[string]string{}
	for _, i := range ns.Interfaces {
		for _, a := range i.Addresses {
			if p, err := netip.ParsePrefix(a); err == nil {
				byAddr[p.Addr().String()] = i.Name
			}
		}
	}
	st.Gateways = gatewaysOf(ns.Routes)
	if out, err := h.Run(ctx, host.Command{Name: "arp", Args: []string{"-a"}}); err == nil {
		st.Neighbors = ParseArpA(string(out), byAddr)
	} else {
		errs = append(errs, err)
	}
	if out, err := h.Run(ctx, host.Command{Name: "netsh", Args: []string{"wlan", "show", "interfaces"}}); err == nil {
		st.Wifi = ParseNetshWlan(string(out))
	} else {
		errs = append(errs, err)
	}
	return st, absentOK(errs)
}

// ParseArpA parses Windows `arp -a`: per interface a block
//
//	Interface: 192.168.1.100 --- 0xb
//	  Internet Address      Physical Address      Type
//	  192.168.1.1           00-11-22-33-44-55     dynamic
//
// The interface is named through its address (byAddr), else by the
// address itself.
func ParseArpA(s string, byAddr map[string]string) []*fwv1.Neighbor {
	var out []*fwv1.Neighbor
	iface := ""
	for _, line := range splitLines(s) {
		f := strings.Fields(line)
		if len(f) >= 2 && f[0] == "Interface:" {
			iface = f[1]
			if n := byAddr[f[1]]; n != "" {
				iface = n
			}
			continue
		}
		if len(f) != 3 {
			continue
		}
		ip, ok := validIP(f[0])
		if !ok || NormMAC(f[1]) == "" {
			continue
		}
		state := "reachable"
		if f[2] == "static" {
			state = "permanent"
		}
		out = append(out, &fwv1.Neighbor{Ip: ip, Mac: f[1], Interface: iface, State: state})
	}
	return out
}

// ParseNetshWlan reads `netsh wlan show interfaces`: one block per
// interface, from its "Name" line, with "SSID", "BSSID" (Windows 11:
// "AP BSSID") and "State" lines. Only connected interfaces are returned.
func ParseNetshWlan(s string) []Wifi {
	var out []Wifi
	var cur *Wifi
	connected := false
	flush := func() {
		if cur != nil && connected && (cur.SSID != "" || cur.BSSID != "") {
			out = append(out, *cur)
		}
		cur, connected = nil, false
	}
	for _, line := range splitLines(s) {
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		k, v = strings.ToLower(strings.TrimSpace(k)), strings.TrimSpace(v)
		switch k {
		case "name":
			flush()
			cur = &Wifi{Interface: v, Source: "netsh"}
		case "state":
			connected = cur != nil && strings.EqualFold(v, "connected")
		case "ssid":
			if cur != nil {
				cur.SSID = v
			}
		case "bssid", "ap bssid":
			if cur != nil {
				cur.BSSID = v
			}
		}
	}
	flush()
	return out
}
