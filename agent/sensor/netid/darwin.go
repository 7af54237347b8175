package netid

import (
	"context"
	"errors"
	"io/fs"
	"path"
	"sort"
	"strings"
	"time"

	"github.com/farmwatch/farmwatch/agent/host"
	"github.com/farmwatch/farmwatch/agent/netstate"
	fwv1 "github.com/farmwatch/farmwatch/proto/farmwatch/v1"
	"howett.net/plist"
)

// The macOS sources, exactly.
const (
	// networkInterfacesPlist is the system configuration's list of network
	// interfaces: BSD name, SCNetworkInterfaceType (IEEE80211 for Wi-Fi).
	networkInterfacesPlist = "/Library/Preferences/SystemConfiguration/NetworkInterfaces.plist"
	// dhcpLeases holds one DHCP lease per interface and network (named
	// IF-1,MAC or IF.plist); a lease on Wi-Fi records the SSID.
	dhcpLeases = "/private/var/db/dhcpclient/leases"
	// redacted is what macOS prints in place of an SSID or BSSID to a
	// process without Location Services permission.
	redacted = "<redacted>"
)

var wdutilInfo = host.Command{Name: "wdutil", Args: []string{"info"}}

// readDarwin reads the macOS sources named in the package doc.
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
	ifaces, err := wifiInterfaces(h)
	if err != nil {
		errs = append(errs, err)
	}
	var wd map[string]Wifi // wdutil info, asked for once when ipconfig redacts
	for _, ifc := range ifaces {
		out, err := h.Run(ctx, host.Command{Name: "ipconfig", Args: []string{"getsummary", ifc}})
		if err != nil {
			errs = append(errs, err)
			continue
		}
		w, ok := ParseIpconfigSummary(string(out))
		if !ok {
			continue // not associated
		}
		w.Interface = ifc
		if w.Status == "redacted" {
			if wd == nil {
				wd = map[string]Wifi{}
				if out, err := h.Run(ctx, wdutilInfo); err == nil {
					if x, ok := ParseWdutilInfo(string(out)); ok {
						wd[x.Interface] = x
					}
				} else {
					errs = append(errs, err)
				}
			}
			w = mergeWifi(w, wd[ifc])
		}
		if w.SSID == "" {
			if l, err := leaseSSID(h, ifc); err == nil && l != "" {
				w.SSID = l
				w.Source += "+dhcp_lease"
			} else if err != nil {
				errs = append(errs, err)
			}
		}
		if w.SSID != "" || w.BSSID != "" {
			w.Status = ""
		}
		st.Wifi = append(st.Wifi, w)
	}
	return st, absentOK(errs)
}

// wifiInterfaces returns the BSD names of the Wi-Fi interfaces that the
// system configuration lists (SCNetworkInterfaceType IEEE80211): en0 on a
// MacBook, en1 on a Mac mini or iMac whose en0 is Ethernet. Without the
// file (an older snapshot) it is en0, as older agents read.
func wifiInterfaces(h *host.Host) ([]string, error) {
	b, err := h.ReadFile(networkInterfacesPlist)
	if err != nil {
		return []string{"en0"}, absentOK([]error{notRecorded(err)})
	}
	ifs, err := ParseNetworkInterfaces(b)
	if err != nil {
		return []string{"en0"}, err
	}
	return ifs, nil
}

// notRecorded maps a missing file to ErrNotRecorded: the file is optional.
func notRecorded(err error) error {
	if isNotExist(err) {
		return host.ErrNotRecorded
	}
	return err
}

// ParseNetworkInterfaces returns the BSD names of the Wi-Fi interfaces of
// NetworkInterfaces.plist: the dictionaries of its Interfaces array whose
// SCNetworkInterfaceType is IEEE80211.
func ParseNetworkInterfaces(b []byte) ([]string, error) {
	var doc struct {
		Interfaces []map[string]any `plist:"Interfaces"`
	}
	if _, err := plist.Unmarshal(b, &doc); err != nil {
		return nil, err
	}
	var out []string
	for _, i := range doc.Interfaces {
		name, _ := i["BSD Name"].(string)
		typ, _ := i["SCNetworkInterfaceType"].(string)
		if typ == "IEEE80211" && name != "" && len(out) < 16 && strings.Trim(name, "abcdefghijklmnopqrstuvwxyz0123456789") == "" {
			out = append(out, name)
		}
	}
	sort.Strings(out)
	return out, nil
}

// leaseSSID returns the SSID of the newest DHCP lease of an interface that
// is still valid at the host's capture time, "" when there is none.
func leaseSSID(h *host.Host, ifc string) (string, error) {
	paths, err := h.Glob(dhcpLeases + "/" + ifc + "*")
	if err != nil {
		return "", err
	}
	var best string
	var bestStart time.Time
	for _, p := range paths {
		base := path.Base(p)
		if base != ifc && base != ifc+".plist" && !strings.HasPrefix(base, ifc+"-") {
			continue // en1 is not en10
		}
		b, err := h.ReadFile(p)
		if err != nil {
			continue
		}
		l, ok := ParseDHCPLease(b)
		if !ok || l.SSID == "" || l.Start.Before(bestStart) {
			continue
		}
		if !h.Captured().IsZero() && l.Start.Add(l.Length).Before(h.Captured()) {
			continue // expired: not the network of now
		}
		best, bestStart = l.SSID, l.Start
	}
	return best, nil
}

// DHCPLease is what a macOS DHCP lease file says of its network.
type DHCPLease struct {
	SSID   string
	Start  time.Time
	Length time.Duration
}

// ParseDHCPLease reads a lease file of /private/var/db/dhcpclient/leases
// (a plist with SSID, LeaseStartDate and LeaseLength in seconds).
func ParseDHCPLease(b []byte) (DHCPLease, bool) {
	var m map[string]any
	if _, err := plist.Unmarshal(b, &m); err != nil || m == nil {
		return DHCPLease{}, false
	}
	var l DHCPLease
	l.SSID, _ = m["SSID"].(string)
	l.Start, _ = m["LeaseStartDate"].(time.Time)
	switch n := m["LeaseLength"].(type) {
	case uint64:
		l.Length = time.Duration(min(n, 1<<31)) * time.Second
	case int64:
		if n > 0 {
			l.Length = time.Duration(min(n, 1<<31)) * time.Second
		}
	}
	return l, !l.Start.IsZero()
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
// It reports whether the interface is associated (an SSID or BSSID line,
// even redacted). "<redacted>" (macOS 14.4 and later, to a process without
// Location Services permission, root included) leaves the value empty and
// sets Status to "redacted".
func ParseIpconfigSummary(s string) (Wifi, bool) {
	w := Wifi{Source: "ipconfig"}
	seen := false
	for _, line := range splitLines(s) {
		k, v, ok := strings.Cut(strings.TrimSpace(line), " : ")
		if !ok {
			continue
		}
		v = strings.TrimSpace(v)
		switch strings.TrimSpace(k) {
		case "SSID":
			if !seen || w.SSID == "" {
				w.SSID = v
			}
			seen = true
		case "BSSID":
			if w.BSSID == "" {
				w.BSSID = v
			}
			seen = true
		}
	}
	return unredact(w), seen && (w.SSID != "" || w.BSSID != "" || w.Status != "")
}

// unredact empties "<redacted>" values and says so in Status.
func unredact(w Wifi) Wifi {
	if w.SSID == redacted {
		w.SSID, w.Status = "", "redacted"
	}
	if w.BSSID == redacted {
		w.BSSID, w.Status = "", "redacted"
	}
	return w
}

// ParseWdutilInfo reads the WIFI section of `wdutil info` (run as root):
//
//	WIFI
//	————————————————————————
//	    Interface Name       : en0
//	    Op Mode              : STA
//	    SSID                 : iQOO 13
//	    BSSID                : 92:ad:bb:24:51:bb
//
// It reports whether the section names an SSID or BSSID (redacted or not).
// "None" (not associated) is no value.
func ParseWdutilInfo(s string) (Wifi, bool) {
	w := Wifi{Source: "wdutil"}
	section := ""
	seen := false
	for _, line := range splitLines(s) {
		t := strings.TrimSpace(line)
		if t != "" && strings.Trim(t, "—-") == "" {
			continue
		}
		k, v, ok := strings.Cut(t, ":")
		if !ok {
			section = t
			continue
		}
		if section != "WIFI" {
			continue
		}
		v = strings.TrimSpace(v)
		if v == "None" {
			v = ""
		}
		switch strings.TrimSpace(k) {
		case "Interface Name":
			w.Interface = v
		case "SSID":
			w.SSID, seen = v, seen || v != ""
		case "BSSID":
			w.BSSID, seen = v, seen || v != ""
		}
	}
	return unredact(w), seen
}

// mergeWifi fills what ipconfig redacted from another source.
func mergeWifi(w, other Wifi) Wifi {
	used := false
	if w.SSID == "" && other.SSID != "" {
		w.SSID, used = other.SSID, true
	}
	if w.BSSID == "" && other.BSSID != "" {
		w.BSSID, used = other.BSSID, true
	}
	if used {
		w.Source += "+" + other.Source
	}
	return w
}

func isNotExist(err error) bool {
	return errors.Is(err, host.ErrNotRecorded) || errors.Is(err, fs.ErrNotExist)
}
