package netid

import (
	"bytes"
	"context"
	"encoding/binary"
	"testing"

	fwv1 "github.com/farmwatch/farmwatch/proto/farmwatch/v1"
	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/testing/protocmp"
)

func le(t testing.TB, vs ...any) []byte {
	t.Helper()
	var b bytes.Buffer
	for _, v := range vs {
		if err := binary.Write(&b, binary.LittleEndian, v); err != nil {
			t.Fatal(err)
		}
	}
	return b.Bytes()
}

func utf16Array(s string) (a [256]uint16) {
	for i, r := range s {
		a[i] = uint16(r)
	}
	return a
}

// wlanList builds a WLAN_INTERFACE_INFO_LIST as WlanEnumInterfaces returns it.
func wlanList(t testing.TB, infos ...wlanInterfaceInfo) []byte {
	return le(t, wlanInterfaceInfoListHeader{NumberOfItems: uint32(len(infos))}, infos)
}

var intelGUID = [16]byte{0x8a, 0x1e, 0x3b, 0x5c, 0x21, 0x4d, 0x9e, 0x41, 0xa1, 0xb2, 0xc3, 0xd4, 0xe5, 0xf6, 0x07, 0x18}

func TestDecodeWlan(t *testing.T) {
	list := wlanList(t, wlanInterfaceInfo{InterfaceGUID: intelGUID, Description: utf16Array("Intel(R) Wi-Fi 6E AX211 160MHz"), State: 1},
		wlanInterfaceInfo{Description: utf16Array("Realtek 8821CE"), State: 4})
	recs := decodeWlanInterfaceList(list)
	want := []wlanRecord{{GUID: "{5c3b1e8a-4d21-419e-a1b2-c3d4e5f60718}", Description: "Intel(R) Wi-Fi 6E AX211 160MHz", State: "connected"},
		{GUID: "{00000000-0000-0000-0000-000000000000}", Description: "Realtek 8821CE", State: "disconnected"}}
	if d := cmp.Diff(want, recs); d != "" {
		t.Fatalf("(-want +got):\n%s", d)
	}
	// A list that claims more entries than its bytes hold.
	if got := decodeWlanInterfaceList(list[:len(list)-1]); len(got) != 1 {
		t.Errorf("truncated list: %d entries", len(got))
	}
	ssid := [32]byte{}
	copy(ssid[:], "HOME: 5G")
	conn := le(t, wlanConnectionAttributes{State: 1, ProfileName: utf16Array("HOME"), SSIDLength: 8, SSID: ssid, BSSType: 1,
		BSSID: [6]byte{0xf4, 0x92, 0xbf, 0xaa, 0xbb, 0x02}, PhyType: 8, SignalQuality: 80})
	r := recs[0]
	if !decodeWlanConnection(&r, conn) {
		t.Fatal("connection not decoded")
	}
	if r.SSID != "HOME: 5G" || r.SSIDHex != "484f4d453a203547" || r.BSSID != "f4:92:bf:aa:bb:02" || r.Profile != "HOME" {
		t.Errorf("connection: %+v", r)
	}
	if decodeWlanConnection(&r, conn[:603]) {
		t.Error("short attributes decoded")
	}
}

func TestDecodeIpNetRow(t *testing.T) {
	addr := [28]byte{2, 0, 0, 0, 192, 168, 1, 1}
	row := le(t, mibIpnetRow2{Address: addr, InterfaceIndex: 12, PhysicalAddress: [32]byte{0xf4, 0x92, 0xbf, 0xaa, 0xbb, 0x01},
		PhysicalAddressLength: 6, State: 5, Flags: 1})
	r, ok := decodeIpNetRow(row)
	if !ok || r != (neighborRecord{IP: "192.168.1.1", MAC: "f4:92:bf:aa:bb:01", IfIndex: 12, State: "reachable", Router: true}) {
		t.Fatalf("got %+v %v", r, ok)
	}
	v6 := [28]byte{23, 0}
	copy(v6[8:], []byte{0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1})
	r, ok = decodeIpNetRow(le(t, mibIpnetRow2{Address: v6, InterfaceIndex: 12, State: 1}))
	if !ok || r.IP != "fe80::1" || r.State != "incomplete" || r.MAC != "" {
		t.Errorf("v6: %+v", r)
	}
	if _, ok := decodeIpNetRow(row[:87]); ok {
		t.Error("short row decoded")
	}
}

func TestWindowsRecords(t *testing.T) {
	ns := neighborsOf([]neighborRecord{
		{IP: "192.168.1.1", MAC: "f4:92:bf:aa:bb:01", IfIndex: 12, Interface: "Wi-Fi", State: "reachable", Router: true},
		{IP: "192.168.1.50", MAC: "30:52:53:0a:0b:0c", IfIndex: 12, Interface: "Wi-Fi", State: "permanent"},
		{IP: "192.168.1.7", IfIndex: 12, Interface: "Wi-Fi", State: "incomplete"},
		{IP: "192.168.1.9", MAC: "00:00:00:00:00:00", IfIndex: 12, State: "unreachable"},
		{IP: "192.168.1.255", MAC: "ff:ff:ff:ff:ff:ff", IfIndex: 12, State: "permanent"},
		{IP: "224.0.0.22", MAC: "01:00:5e:00:00:16", IfIndex: 12, State: "permanent"},
		{IP: "10.0.0.2", MAC: "00:ff:aa:bb:cc:dd", IfIndex: 19, State: "stale"},
	})
	want := []*fwv1.Neighbor{
		{Ip: "192.168.1.1", Mac: "f4:92:bf:aa:bb:01", Interface: "Wi-Fi", State: "reachable"},
		{Ip: "192.168.1.50", Mac: "30:52:53:0a:0b:0c", Interface: "Wi-Fi", State: "permanent"},
		{Ip: "192.168.1.7", Interface: "Wi-Fi", State: "incomplete"},
		{Ip: "10.0.0.2", Mac: "00:ff:aa:bb:cc:dd", Interface: "if19", State: "reachable"},
	}
	if d := cmp.Diff(want, ns, protocmp.Transform()); d != "" {
		t.Errorf("neighbours (-want +got):\n%s", d)
	}
	ws := wifiOf([]wlanRecord{
		{Interface: "Wi-Fi", State: "connected", SSIDHex: "484f4d45", BSSID: "f4:92:bf:aa:bb:02"},
		{Interface: "Wi-Fi 2", State: "connected", Error: "WlanQueryInterface: Access is denied.", Denied: true},
		{Interface: "Wi-Fi 3", State: "disconnected"},
	})
	wantW := []Wifi{{Interface: "Wi-Fi", SSID: "HOME", BSSID: "f4:92:bf:aa:bb:02", Source: "wlanapi"},
		{Interface: "Wi-Fi 2", Source: "wlanapi", Status: "denied"}}
	if d := cmp.Diff(wantW, ws); d != "" {
		t.Errorf("wifi (-want +got):\n%s", d)
	}
}

// TestReadWindowsAPIs: the API entries are read; an older snapshot's
// English arp and netsh outputs still replay.
func TestReadWindowsAPIs(t *testing.T) {
	h := packed(t, "windows", map[string]string{
		"api/neighbors.json": `[{"ip":"192.168.1.1","mac":"f4:92:bf:aa:bb:01","if_index":12,"interface":"Wi-Fi","state":"reachable","router":true}]`,
		"api/wlan.json":      `[{"interface":"Wi-Fi","guid":"{5c3b1e8a-4d21-419e-a1b2-c3d4e5f60718}","state":"connected","ssid":"HOME","bssid":"f4:92:bf:aa:bb:02"}]`,
	})
	st, err := readWindows(context.Background(), h)
	if err != nil || len(st.Neighbors) != 1 || len(st.Wifi) != 1 || st.Wifi[0].Source != "wlanapi" {
		t.Fatalf("%+v %v", st, err)
	}
	old := packed(t, "windows", map[string]string{
		"cmd/arp.txt":   "$ C:\\Windows\\System32\\ARP.EXE -a\n" + winARP,
		"cmd/netsh.txt": "$ C:\\Windows\\System32\\netsh.exe wlan show interfaces\n    Name                   : Wi-Fi\n    State                  : connected\n    SSID                   : HOME\n    AP BSSID               : f4:92:bf:aa:bb:02\n",
	})
	st, err = readWindows(context.Background(), old)
	if err != nil || len(st.Neighbors) != 2 || len(st.Wifi) != 1 || st.Wifi[0].Source != "netsh" {
		t.Fatalf("older snapshot: %+v %v", st, err)
	}
}

func FuzzDecodeWindows(f *testing.F) {
	f.Add(wlanList(f, wlanInterfaceInfo{State: 1}), le(f, wlanConnectionAttributes{SSIDLength: 40}), le(f, mibIpnetRow2{Address: [28]byte{2}, PhysicalAddressLength: 6, State: 9}))
	f.Fuzz(func(t *testing.T, list, conn, row []byte) {
		recs := decodeWlanInterfaceList(list)
		if len(recs) > 64 || len(recs)*sizeofWlanInterfaceInfo > len(list) {
			t.Fatalf("%d interfaces from %d bytes", len(recs), len(list))
		}
		var r wlanRecord
		if decodeWlanConnection(&r, conn) && (len(r.SSIDHex) > 64 || len(conn) < sizeofWlanConnectionAttributes) {
			t.Fatalf("connection %+v from %d bytes", r, len(conn))
		}
		recs = append(recs, r)
		n, ok := decodeIpNetRow(row)
		if ok && (n.IP == "" || len(row) < sizeofMibIpnetRow2) {
			t.Fatalf("row %+v", n)
		}
		st := State{Wifi: wifiOf(recs), Neighbors: neighborsOf([]neighborRecord{n})}
		checkObservations(t, st.Observations("salt"))
	})
}
