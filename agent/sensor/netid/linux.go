package netid

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/farmwatch/farmwatch/agent/host"
	"github.com/farmwatch/farmwatch/agent/netstate"
	fwv1 "github.com/farmwatch/farmwatch/proto/farmwatch/v1"
)

// readLinux reads the Linux files named in the package doc.
func readLinux(ctx context.Context, h *host.Host) (State, error) {
	var st State
	var errs []error
	routes, err := netstate.Routes(ctx, h)
	if err != nil {
		errs = append(errs, err)
	}
	st.Gateways = gatewaysOf(routes)
	if b, err := h.ReadFile("/proc/net/arp"); err == nil {
		st.Neighbors = ParseProcARP(string(b))
	} else if !errors.Is(err, fs.ErrNotExist) {
		errs = append(errs, fmt.Errorf("read /proc/net/arp: %w", err))
	}
	b, err := h.ReadFile("/proc/net/wireless")
	if err != nil {
		return st, errors.Join(errs...)
	}
	wl := ParseProcWireless(string(b))
	if len(wl) == 0 {
		return st, errors.Join(errs...)
	}
	// NetworkManager: the BSSIDs seen for the Wi-Fi profile used last.
	// The profiles themselves (system-connections/*.nmconnection) are not
	// read: they hold the Wi-Fi passwords, which would then be recorded in
	// snapshots. So Linux reports no SSID.
	var stamps, seen map[string]string
	if b, err := h.ReadFile("/var/lib/NetworkManager/timestamps"); err == nil {
		stamps = ParseKeyfile(string(b))["timestamps"]
	}
	if b, err := h.ReadFile("/var/lib/NetworkManager/seen-bssids"); err == nil {
		seen = ParseKeyfile(string(b))["seen-bssids"]
	}
	bssids := LastSeenBSSIDs(stamps, seen)
	if len(bssids) == 0 {
		return st, errors.Join(errs...)
	}
	for _, w := range wl {
		if w.Associated {
			st.Wifi = append(st.Wifi, Wifi{Interface: w.Interface, BSSID: strings.Join(bssids, ","), Source: "networkmanager"})
			break // one profile, one interface: the first associated
		}
	}
	return st, errors.Join(errs...)
}

// ParseProcARP parses /proc/net/arp:
//
//	IP address       HW type     Flags       HW address            Mask     Device
//	192.168.1.1      0x1         0x2         00:11:22:33:44:55     *        eth0
//
// Flags 0x2 is a complete entry, 0x4 a permanent one, 0x0 incomplete.
func ParseProcARP(s string) []*fwv1.Neighbor {
	var out []*fwv1.Neighbor
	for i, line := range splitLines(s) {
		f := strings.Fields(line)
		if i == 0 && len(f) > 0 && f[0] == "IP" || len(f) < 6 {
			continue
		}
		ip, ok := validIP(f[0])
		if !ok {
			continue
		}
		fl, _ := strconv.ParseUint(strings.TrimPrefix(f[2], "0x"), 16, 32)
		state := "incomplete"
		switch {
		case fl&0x4 != 0:
			state = "permanent"
		case fl&0x2 != 0:
			state = "reachable"
		}
		out = append(out, &fwv1.Neighbor{Ip: ip, Mac: f[3], Interface: f[5], State: state})
	}
	return out
}

// WirelessIf is one interface of /proc/net/wireless.
type WirelessIf struct {
	Interface  string
	Associated bool // link quality above zero
}

// ParseProcWireless parses /proc/net/wireless: two header lines, then
// "wlan0: 0000   70.  -40.  -256 ..." per wireless interface.
func ParseProcWireless(s string) []WirelessIf {
	var out []WirelessIf
	for _, line := range splitLines(s) {
		name, rest, ok := strings.Cut(line, ":")
		name = strings.TrimSpace(name)
		if !ok || name == "" || strings.ContainsAny(name, " |") {
			continue
		}
		f := strings.Fields(rest)
		if len(f) < 2 {
			continue
		}
		q, err := strconv.ParseFloat(strings.TrimSuffix(f[1], "."), 64)
		out = append(out, WirelessIf{Interface: name, Associated: err == nil && q > 0})
	}
	return out
}

// LastSeenBSSIDs returns, sorted, the BSSIDs NetworkManager saw for the
// Wi-Fi profile used last: of the uuids in seen-bssids (only Wi-Fi
// profiles have any), the one with the latest timestamp. A mesh or a
// multi-AP network gives several; the set is stable for one place.
func LastSeenBSSIDs(stamps, seen map[string]string) []string {
	best, bestAt := "", int64(-1)
	for uuid := range seen {
		at, _ := strconv.ParseInt(stamps[uuid], 10, 64)
		if at > bestAt || (at == bestAt && uuid < best) {
			best, bestAt = uuid, at
		}
	}
	var out []string
	for _, b := range strings.FieldsFunc(seen[best], func(r rune) bool { return r == ';' || r == ',' }) {
		if m := NormMAC(b); m != "" && !slices.Contains(out, m) {
			out = append(out, m)
		}
	}
	sort.Strings(out)
	if len(out) > 32 {
		out = out[:32]
	}
	return out
}

// ParseKeyfile reads a GLib key file ([group] then key=value lines; '#'
// comments) into group -> key -> value.
func ParseKeyfile(s string) map[string]map[string]string {
	out := map[string]map[string]string{}
	group := ""
	for _, line := range splitLines(s) {
		t := strings.TrimSpace(line)
		if t == "" || t[0] == '#' || t[0] == ';' {
			continue
		}
		if t[0] == '[' && t[len(t)-1] == ']' {
			group = t[1 : len(t)-1]
			continue
		}
		k, v, ok := strings.Cut(t, "=")
		if !ok {
			continue
		}
		if out[group] == nil {
			out[group] = map[string]string{}
		}
		out[group][strings.TrimSpace(k)] = strings.TrimSpace(v)
	}
	return out
}

// splitLines splits text into at most 4096 lines.
func splitLines(s string) []string {
	ls := strings.Split(s, "\n")
	if len(ls) > 4096 {
		ls = ls[:4096]
	}
	for i := range ls {
		ls[i] = strings.TrimSuffix(ls[i], "\r")
	}
	return ls
}
