package netid

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/farmwatch/farmwatch/agent/host"
	"github.com/farmwatch/farmwatch/agent/netstate"
	fwv1 "github.com/farmwatch/farmwatch/proto/farmwatch/v1"
)

// wlanRecord is one wireless interface of api/wlan.json (API.md): what
// WlanEnumInterfaces and WlanQueryInterface(wlan_intf_opcode_current_connection)
// say of it.
type wlanRecord struct {
	Interface   string `json:"interface,omitempty"` // its alias, "Wi-Fi"
	GUID        string `json:"guid"`
	Description string `json:"description,omitempty"`
	State       string `json:"state"` // connected, disconnected, ... (WLAN_INTERFACE_STATE)
	Profile     string `json:"profile,omitempty"`
	SSID        string `json:"ssid,omitempty"`     // as text when it is UTF-8
	SSIDHex     string `json:"ssid_hex,omitempty"` // the SSID's bytes
	BSSID       string `json:"bssid,omitempty"`
	Error       string `json:"error,omitempty"`
	Denied      bool   `json:"denied,omitempty"` // ERROR_ACCESS_DENIED: location consent (24H2)
}

// neighborRecord is one entry of api/neighbors.json: a row of
// GetIpNetTable2(AF_UNSPEC).
type neighborRecord struct {
	IP        string `json:"ip"`
	MAC       string `json:"mac,omitempty"`
	IfIndex   uint32 `json:"if_index"`
	Interface string `json:"interface,omitempty"` // the interface's alias
	State     string `json:"state"`               // NL_NEIGHBOR_STATE: unreachable, incomplete, probe, delay, stale, reachable, permanent
	Router    bool   `json:"router,omitempty"`
}

// readWindows reads the Windows sources named in the package doc.
func readWindows(ctx context.Context, h *host.Host) (State, error) {
	var st State
	var errs []error
	ns, err := netstate.Read(ctx, h)
	if err != nil {
		errs = append(errs, err)
	}
	st.Gateways = gatewaysOf(ns.Routes)

	var nrecs []neighborRecord
	switch err := h.API(ctx, "neighbors", &nrecs, liveNeighbors); {
	case err == nil:
		st.Neighbors = neighborsOf(nrecs)
	case errors.Is(err, host.ErrNotRecorded):
		// A snapshot of an older agent: its `arp -a`, English only.
		byAddr := map[string]string{}
		for _, i := range ns.Interfaces {
			for _, a := range i.Addresses {
				if p, err := netip.ParsePrefix(a); err == nil {
					byAddr[p.Addr().String()] = i.Name
				}
			}
		}
		if out, err := h.Run(ctx, host.Command{Name: "arp", Args: []string{"-a"}}); err == nil {
			st.Neighbors = ParseArpA(string(out), byAddr)
		} else {
			errs = append(errs, err)
		}
	default:
		errs = append(errs, err)
	}

	var wrecs []wlanRecord
	switch err := h.API(ctx, "wlan", &wrecs, liveWLAN); {
	case err == nil:
		st.Wifi = wifiOf(wrecs)
	case errors.Is(err, host.ErrNotRecorded):
		if out, err := h.Run(ctx, host.Command{Name: "netsh", Args: []string{"wlan", "show", "interfaces"}}); err == nil {
			st.Wifi = ParseNetshWlan(string(out))
		} else {
			errs = append(errs, err)
		}
	default:
		errs = append(errs, err)
	}
	return st, absentOK(errs)
}

// neighborsOf turns api/neighbors.json into neighbours: reachable,
// stale, delay and probe rows are "reachable", permanent rows
// "permanent", incomplete rows "incomplete"; unreachable rows and
// broadcast or multicast MACs are left out.
func neighborsOf(recs []neighborRecord) []*fwv1.Neighbor {
	var out []*fwv1.Neighbor
	for _, r := range recs {
		ip, ok := validIP(r.IP)
		if !ok {
			continue
		}
		a, _ := netip.ParseAddr(ip)
		if a.IsMulticast() || a.IsLinkLocalMulticast() || a.Is4() && a.As4()[3] == 255 {
			continue
		}
		iface := r.Interface
		if iface == "" {
			iface = fmt.Sprintf("if%d", r.IfIndex)
		}
		n := &fwv1.Neighbor{Ip: ip, Interface: iface}
		switch r.State {
		case "unreachable", "":
			continue
		case "incomplete":
			n.State = "incomplete"
		case "permanent":
			n.State = "permanent"
		default:
			n.State = "reachable"
		}
		if n.State != "incomplete" {
			if NormMAC(r.MAC) == "" {
				continue
			}
			n.Mac = r.MAC
		}
		out = append(out, n)
		if len(out) >= 1024 {
			break
		}
	}
	return out
}

// wifiOf turns api/wlan.json into the associated networks: connected
// interfaces with their SSID and BSSID, or with Status "denied" when
// Windows refused the connection's attributes.
func wifiOf(recs []wlanRecord) []Wifi {
	var out []Wifi
	seen := map[string]bool{}
	for _, r := range recs {
		if r.State != "connected" {
			continue
		}
		w := Wifi{Interface: r.Interface, Source: "wlanapi", SSID: r.SSID, BSSID: r.BSSID}
		if w.Interface == "" {
			w.Interface = r.GUID
		}
		if seen[w.Interface] {
			continue
		}
		seen[w.Interface] = true
		if w.SSID == "" && r.SSIDHex != "" {
			if b, err := hex.DecodeString(r.SSIDHex); err == nil && len(b) <= 32 {
				w.SSID = string(b)
			}
		}
		if r.Denied {
			w.Status = "denied"
		}
		if w.SSID == "" && w.BSSID == "" && w.Status == "" {
			continue
		}
		out = append(out, w)
	}
	return out
}

// The Native Wifi and IP Helper structures that the live agent decodes,
// as wlanapi.h, windot11.h and netioapi.h declare them. They hold no
// pointers, so their layout is the same on 386, amd64 and arm64;
// layout_test.go checks it against the documented sizes and offsets.

// wlanInterfaceInfo mirrors WLAN_INTERFACE_INFO.
type wlanInterfaceInfo struct {
	InterfaceGUID [16]byte
	Description   [256]uint16
	State         uint32 // WLAN_INTERFACE_STATE
}

// wlanInterfaceInfoListHeader mirrors the head of WLAN_INTERFACE_INFO_LIST,
// which its InterfaceInfo array follows.
type wlanInterfaceInfoListHeader struct {
	NumberOfItems uint32
	Index         uint32
}

// wlanConnectionAttributes mirrors WLAN_CONNECTION_ATTRIBUTES with its
// WLAN_ASSOCIATION_ATTRIBUTES (DOT11_SSID, DOT11_MAC_ADDRESS ...) and
// WLAN_SECURITY_ATTRIBUTES inline.
type wlanConnectionAttributes struct {
	State           uint32 // WLAN_INTERFACE_STATE
	Mode            uint32 // WLAN_CONNECTION_MODE
	ProfileName     [256]uint16
	SSIDLength      uint32 // DOT11_SSID.uSSIDLength
	SSID            [32]byte
	BSSType         uint32
	BSSID           [6]byte
	_               [2]byte // DOT11_PHY_TYPE is 4-aligned
	PhyType         uint32
	PhyIndex        uint32
	SignalQuality   uint32
	RxRate          uint32
	TxRate          uint32
	SecurityEnabled uint32
	OneXEnabled     uint32
	AuthAlgorithm   uint32
	CipherAlgorithm uint32
}

// mibIpnetRow2 mirrors MIB_IPNET_ROW2.
type mibIpnetRow2 struct {
	Address               [28]byte // SOCKADDR_INET
	InterfaceIndex        uint32
	InterfaceLuid         uint64
	PhysicalAddress       [32]byte
	PhysicalAddressLength uint32
	State                 uint32 // NL_NEIGHBOR_STATE
	Flags                 uint8  // IsRouter: 1, IsUnreachable: 2
	_                     [3]byte
	ReachabilityTime      uint32
}

// mibIpnetTable2Rows is the offset of MIB_IPNET_TABLE2.Table: NumEntries,
// then the rows at their 8-byte alignment.
const mibIpnetTable2Rows = 8

var (
	sizeofWlanInterfaceInfo        = binary.Size(wlanInterfaceInfo{})
	sizeofWlanConnectionAttributes = binary.Size(wlanConnectionAttributes{})
	sizeofMibIpnetRow2             = binary.Size(mibIpnetRow2{})
)

var wlanStates = []string{"not_ready", "connected", "ad_hoc_network_formed", "disconnecting", "disconnected", "associating", "discovering", "authenticating"}

func wlanState(s uint32) string {
	if int(s) < len(wlanStates) {
		return wlanStates[s]
	}
	return fmt.Sprint(s)
}

// decodeWlanInterfaceList reads the WLAN_INTERFACE_INFO_LIST that
// WlanEnumInterfaces returns, from its bytes: at most as many entries as
// the bytes hold, and at most 64.
func decodeWlanInterfaceList(b []byte) []wlanRecord {
	var head wlanInterfaceInfoListHeader
	if binary.Read(bytes.NewReader(b), binary.LittleEndian, &head) != nil {
		return nil
	}
	n := min(int(head.NumberOfItems), (len(b)-8)/sizeofWlanInterfaceInfo, 64)
	out := make([]wlanRecord, 0, max(n, 0))
	for i := 0; i < n; i++ {
		var info wlanInterfaceInfo
		off := 8 + i*sizeofWlanInterfaceInfo
		if binary.Read(bytes.NewReader(b[off:off+sizeofWlanInterfaceInfo]), binary.LittleEndian, &info) != nil {
			break
		}
		out = append(out, wlanRecord{GUID: guidString(info.InterfaceGUID), Description: utf16z(info.Description[:]), State: wlanState(info.State)})
	}
	return out
}

// decodeWlanConnection fills a record from the WLAN_CONNECTION_ATTRIBUTES
// that WlanQueryInterface returns; false when the bytes are too few.
func decodeWlanConnection(r *wlanRecord, b []byte) bool {
	var c wlanConnectionAttributes
	if len(b) < sizeofWlanConnectionAttributes || binary.Read(bytes.NewReader(b), binary.LittleEndian, &c) != nil {
		return false
	}
	r.State = wlanState(c.State)
	r.Profile = utf16z(c.ProfileName[:])
	ssid := c.SSID[:min(int(c.SSIDLength), len(c.SSID))]
	r.SSIDHex = hex.EncodeToString(ssid)
	if utf8.Valid(ssid) {
		r.SSID = string(ssid)
	}
	if c.BSSID != [6]byte{} {
		r.BSSID = fmt.Sprintf("%02x:%02x:%02x:%02x:%02x:%02x", c.BSSID[0], c.BSSID[1], c.BSSID[2], c.BSSID[3], c.BSSID[4], c.BSSID[5])
	}
	return true
}

var neighborStates = []string{"unreachable", "incomplete", "probe", "delay", "stale", "reachable", "permanent"}

// decodeIpNetRow reads one MIB_IPNET_ROW2 from its bytes.
func decodeIpNetRow(b []byte) (neighborRecord, bool) {
	var row mibIpnetRow2
	if len(b) < sizeofMibIpnetRow2 || binary.Read(bytes.NewReader(b), binary.LittleEndian, &row) != nil {
		return neighborRecord{}, false
	}
	ip, ok := sockaddrInet(row.Address)
	if !ok {
		return neighborRecord{}, false
	}
	r := neighborRecord{IP: ip.String(), IfIndex: row.InterfaceIndex, Router: row.Flags&1 != 0, State: fmt.Sprint(row.State)}
	if int(row.State) < len(neighborStates) {
		r.State = neighborStates[row.State]
	}
	if n := int(row.PhysicalAddressLength); n == 6 {
		p := row.PhysicalAddress
		r.MAC = fmt.Sprintf("%02x:%02x:%02x:%02x:%02x:%02x", p[0], p[1], p[2], p[3], p[4], p[5])
	}
	return r, true
}

// sockaddrInet reads a SOCKADDR_INET: the family (little-endian), then a
// sockaddr_in (address at byte 4) or sockaddr_in6 (address at byte 8).
func sockaddrInet(b [28]byte) (netip.Addr, bool) {
	switch binary.LittleEndian.Uint16(b[0:]) {
	case 2: // AF_INET
		return netip.AddrFrom4([4]byte(b[4:8])), true
	case 23: // AF_INET6
		return netip.AddrFrom16([16]byte(b[8:24])), true
	}
	return netip.Addr{}, false
}

// guidString writes a GUID as Windows does: {xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx}.
func guidString(g [16]byte) string {
	return fmt.Sprintf("{%08x-%04x-%04x-%x-%x}", binary.LittleEndian.Uint32(g[0:]), binary.LittleEndian.Uint16(g[4:]),
		binary.LittleEndian.Uint16(g[6:]), g[8:10], g[10:16])
}

// utf16z decodes UTF-16 up to its first NUL.
func utf16z(u []uint16) string {
	for i, c := range u {
		if c == 0 {
			u = u[:i]
			break
		}
	}
	return string(utf16.Decode(u))
}

// ParseArpA parses Windows `arp -a` in English (snapshots of older agents,
// which ran it): per interface a block
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

// ParseNetshWlan reads `netsh wlan show interfaces` in English (snapshots
// of older agents): one block per interface, from its "Name" line, with
// "SSID", "BSSID" (Windows 11: "AP BSSID") and "State" lines. Only
// connected interfaces are returned.
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
