package netid

import (
	"context"
	"strings"

	"github.com/farmwatch/farmwatch/agent/host"
	"github.com/farmwatch/farmwatch/agent/netstate"
	fwv1 "github.com/farmwatch/farmwatch/proto/farmwatch/v1"
)

// readDarwin reads the macOS commands named in the package doc.
func readDarwin(ctx context.Context, h *host.Host) (State, error) {
	var st State
	var errs []error
	routes, err := netstate.Routes(ctx, h)
	if err != nil {
		errs = append(errs, err)
	}
	st.Gateways = gatewaysOf(routes)
	if out, err := h.Run(ctx, host.Command{Name: "arp", Args: []string{"-an"}}); err == nil {
		st.Neighbors = ParseArpAn(string(out))
	} else {
		errs = append(errs, err)
	}
	if out, err := h.Run(ctx, host.Command{Name: "ipconfig", Args: []string{"getsummary", "en0"}}); err == nil {
		if w, ok := ParseIpconfigSummary(string(out)); ok {
			w.Interface = "en0"
			st.Wifi = append(st.Wifi, w)
		}
	} else {
		errs = append(errs, err)
	}
	return st, absentOK(errs)
}

// ParseArpAn parses macOS `arp -an`:
//
//	? (192.168.1.1) at 0:11:22:33:44:55 on en0 ifscope [ethernet]
//	? (192.168.1.7) at (incomplete) on en0 ifscope [ethernet]
func ParseArpAn(s string) []*fwv1.Neighbor {
	var out []*fwv1.Neighbor
	for _, line := range splitLines(s) {
		f := strings.Fields(line)
		if len(f) < 6 || f[2] != "at" || f[4] != "on" {
			continue
		}
		ip, ok := validIP(strings.Trim(f[1], "()"))
		if !ok {
			continue
		}
		n := &fwv1.Neighbor{Ip: ip, Interface: f[5], State: "reachable"}
		if f[3] == "(incomplete)" {
			n.State = "incomplete"
		} else if NormMAC(f[3]) == "" {
			continue // broadcast and multicast entries
		} else {
			n.Mac = f[3]
			if strings.Contains(line, "permanent") {
				n.State = "permanent"
			}
		}
		out = append(out, n)
	}
	return out
}

// ParseIpconfigSummary reads the SSID and BSSID of `ipconfig getsummary
// IF` (macOS): top-level "  SSID : name" and "  BSSID : aa:bb:..." lines.
// "<redacted>" (no Location Services permission) is unknown.
func ParseIpconfigSummary(s string) (Wifi, bool) {
	w := Wifi{Source: "ipconfig"}
	for _, line := range splitLines(s) {
		k, v, ok := strings.Cut(strings.TrimSpace(line), " : ")
		if !ok {
			continue
		}
		v = strings.TrimSpace(v)
		if v == "<redacted>" {
			v = ""
		}
		switch strings.TrimSpace(k) {
		case "SSID":
			if w.SSID == "" {
				w.SSID = v
			}
		case "BSSID":
			if w.BSSID == "" {
				w.BSSID = v
			}
		}
	}
	return w, w.SSID != "" || w.BSSID != ""
}
