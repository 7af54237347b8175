package netid

import (
	"encoding/hex"
	"testing"

	"github.com/farmwatch/farmwatch/agent/netstate"
	fwv1 "github.com/farmwatch/farmwatch/proto/farmwatch/v1"
	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/testing/protocmp"
)

// As this kernel wrote it inside the capture namespace.
const procARP = `IP address       HW type     Flags       HW address            Mask     Device
192.168.77.50    0x1         0x6         30:52:53:0a:0b:0c     *        eth0
192.168.77.1     0x1         0x2         f4:92:bf:10:20:01     *        eth0
192.168.77.9     0x1         0x0         00:00:00:00:00:00     *        eth0
garbage
`

func TestParseProcARP(t *testing.T) {
	got := ParseProcARP(procARP)
	want := []*fwv1.Neighbor{
		{Ip: "192.168.77.50", Mac: "30:52:53:0a:0b:0c", Interface: "eth0", State: "permanent"},
		{Ip: "192.168.77.1", Mac: "f4:92:bf:10:20:01", Interface: "eth0", State: "reachable"},
		{Ip: "192.168.77.9", Mac: "00:00:00:00:00:00", Interface: "eth0", State: "incomplete"},
	}
	if d := cmp.Diff(want, got, protocmp.Transform()); d != "" {
		t.Fatalf("(-want +got):\n%s", d)
	}
}

func TestObservationsHashGateway(t *testing.T) {
	st := State{
		Gateways:  []Gateway{{IP: "192.168.77.1", Interface: "eth0"}, {IP: "10.8.0.1", Interface: "tun0"}},
		Neighbors: ParseProcARP(procARP),
		Wifi:      []Wifi{{Interface: "wlan0", SSID: "HOME-5G", BSSID: "F4-92-BF-AA-BB-02", Source: "netsh"}},
		MDNS:      []MDNSRecord{{Name: "pikvm.local", IP: "192.168.77.50"}},
	}
	obs := st.Observations("fleet-salt")
	byKey := map[string]*fwv1.Observation{}
	for _, o := range obs {
		byKey[o.Key] = o
	}
	gw := byKey["neighbor/eth0/192.168.77.1"].GetNeighbor()
	if gw == nil || !gw.Gateway || gw.Mac != "" || gw.MacHash != Hash("fleet-salt", "mac", "f4:92:bf:10:20:01") || gw.Oui != "f4:92:bf" {
		t.Errorf("gateway: %v", gw)
	}
	if n := byKey["neighbor/tun0/10.8.0.1"].GetNeighbor(); n == nil || !n.Gateway || n.MacHash != "" {
		t.Errorf("tunnel gateway without a MAC: %v", n)
	}
	kvm := byKey["neighbor/eth0/192.168.77.50"].GetNeighbor()
	if kvm.Mac != "" || kvm.MacHash != Hash("fleet-salt", "mac", "30:52:53:0a:0b:0c") || kvm.MacPrefix != "30:52:53:0a" || kvm.Oui != "30:52:53" ||
		kvm.MdnsName != "pikvm.local" || kvm.Gateway {
		t.Errorf("kvm: %v", kvm)
	}
	if n := byKey["neighbor/eth0/192.168.77.9"].GetNeighbor(); n.Mac != "" || n.Oui != "" {
		t.Errorf("incomplete: %v", n)
	}
	w := byKey["wifi_network/wlan0"].GetWifiNetwork()
	if w.Ssid != "" || w.Bssid != "" || w.SsidHash != Hash("fleet-salt", "ssid", "HOME-5G") || w.BssidHash != Hash("fleet-salt", "bssid", "f4:92:bf:aa:bb:02") {
		t.Errorf("wifi: %v", w)
	}
	if h := Hash("fleet-salt", "ssid", "HOME-5G"); len(h) != 32 || h == Hash("", "ssid", "HOME-5G") || h == Hash("fleet-salt", "bssid", "HOME-5G") {
		t.Errorf("hash %s", h)
	}
	if _, err := hex.DecodeString(Hash("", "mac", "x")); err != nil {
		t.Error(err)
	}
}

func TestGatewaysFallBack(t *testing.T) {
	// A full tunnel whose default route is the device: the LAN router is
	// the next hop of the tunnel endpoint's route.
	rs := netstate.ParseRoute("Iface\tDestination\tGateway\tFlags\tRefCnt\tUse\tMetric\tMask\tMTU\tWindow\tIRTT\nwg0\t00000000\t00000000\t0001\t0\t0\t0\t00000000\t0\t0\t0\neth0\t146433C6\t014DA8C0\t0007\t0\t0\t0\tFFFFFFFF\t0\t0\t0\n")
	got := gatewaysOf(rs)
	if len(got) != 1 || got[0].IP != "192.168.77.1" || got[0].Interface != "eth0" {
		t.Fatalf("got %v", got)
	}
}

func TestNormMAC(t *testing.T) {
	for in, want := range map[string]string{
		"0:11:2:33:44:55": "00:11:02:33:44:55", "00-11-22-33-44-55": "00:11:22:33:44:55", "AA:BB:CC:DD:EE:FF": "aa:bb:cc:dd:ee:ff",
		"ff-ff-ff-ff-ff-ff": "", "01-00-5e-00-00-16": "", "00:00:00:00:00:00": "", "zz:11:22:33:44:55": "", "1:2:3": "", "(incomplete)": "",
	} {
		if got := NormMAC(in); got != want {
			t.Errorf("NormMAC(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestParseArpAn(t *testing.T) {
	got := ParseArpAn("? (192.168.1.1) at 0:11:22:33:44:55 on en0 ifscope [ethernet]\n? (192.168.1.7) at (incomplete) on en0 ifscope [ethernet]\n? (224.0.0.251) at 1:0:5e:0:0:fb on en0 ifscope permanent [ethernet]\nnot an entry\n")
	want := []*fwv1.Neighbor{
		{Ip: "192.168.1.1", Mac: "0:11:22:33:44:55", Interface: "en0", State: "reachable"},
		{Ip: "192.168.1.7", Interface: "en0", State: "incomplete"},
	}
	if d := cmp.Diff(want, got, protocmp.Transform()); d != "" {
		t.Fatalf("(-want +got):\n%s", d)
	}
}

const winARP = "\r\nInterface: 192.168.1.57 --- 0xc\r\n  Internet Address      Physical Address      Type\r\n  192.168.1.1           f4-92-bf-aa-bb-01     dynamic\r\n  192.168.1.255         ff-ff-ff-ff-ff-ff     static\r\n  224.0.0.22            01-00-5e-00-00-16     static\r\n\r\nInterface: 10.20.30.14 --- 0x13\r\n  Internet Address      Physical Address      Type\r\n  10.20.30.2            00-ff-aa-bb-cc-dd     static\r\n"

func TestParseArpA(t *testing.T) {
	got := ParseArpA(winARP, map[string]string{"192.168.1.57": "Wi-Fi"})
	want := []*fwv1.Neighbor{
		{Ip: "192.168.1.1", Mac: "f4-92-bf-aa-bb-01", Interface: "Wi-Fi", State: "reachable"},
		{Ip: "10.20.30.2", Mac: "00-ff-aa-bb-cc-dd", Interface: "10.20.30.14", State: "permanent"},
	}
	if d := cmp.Diff(want, got, protocmp.Transform()); d != "" {
		t.Fatalf("(-want +got):\n%s", d)
	}
}

func TestParseNetshWlan(t *testing.T) {
	s := "\r\nThere is 2 interfaces on the system:\r\n\r\n    Name                   : Wi-Fi\r\n    Description            : Intel(R) Wi-Fi 6E AX211 160MHz\r\n    State                  : connected\r\n    SSID                   : HOME: 5G\r\n    AP BSSID               : f4:92:bf:aa:bb:02\r\n    Profile                : HOME\r\n\r\n    Name                   : Wi-Fi 2\r\n    State                  : disconnected\r\n"
	got := ParseNetshWlan(s)
	want := []Wifi{{Interface: "Wi-Fi", SSID: "HOME: 5G", BSSID: "f4:92:bf:aa:bb:02", Source: "netsh"}}
	if d := cmp.Diff(want, got); d != "" {
		t.Fatal(d)
	}
	old := ParseNetshWlan("    Name                   : Wireless Network Connection\n    State                  : connected\n    SSID                   : CORP\n    BSSID                  : 00:11:22:33:44:55\n")
	if len(old) != 1 || old[0].BSSID != "00:11:22:33:44:55" {
		t.Errorf("older layout: %v", old)
	}
}

func TestParseIpconfigSummary(t *testing.T) {
	w, ok := ParseIpconfigSummary("<dictionary> {\n  BSSID : f4:92:bf:aa:bb:02\n  InterfaceType : WiFi\n  SSID : HOME-5G\n  Security : WPA2_PSK\n}\n")
	if !ok || w.SSID != "HOME-5G" || w.BSSID != "f4:92:bf:aa:bb:02" {
		t.Errorf("got %+v", w)
	}
	// macOS 14.4 and later: associated, but the identifiers withheld.
	w, ok = ParseIpconfigSummary("<dictionary> {\n  BSSID : <redacted>\n  InterfaceType : WiFi\n  LinkStatusActive : TRUE\n  NetworkID : <redacted>\n  SSID : <redacted>\n  Security : WPA2_PSK\n}\n")
	if !ok || w.SSID != "" || w.BSSID != "" || w.Status != "redacted" {
		t.Errorf("redacted: %+v %v", w, ok)
	}
	if _, ok := ParseIpconfigSummary("<dictionary> {\n  InterfaceType : WiFi\n  LinkStatusActive : FALSE\n}\n"); ok {
		t.Error("not associated: reported")
	}
}

func TestNetworkManager(t *testing.T) {
	stamps := ParseKeyfile("[timestamps]\n8b1b7c5e-0000-4000-8000-000000000001=1795860000\nwired-uuid=1795869999\nold-uuid=1700000000\n")["timestamps"]
	seen := ParseKeyfile("[seen-bssids]\n8b1b7c5e-0000-4000-8000-000000000001=F4:92:BF:AA:BB:03;f4:92:bf:aa:bb:02;\nold-uuid=00:11:22:33:44:55;\n")["seen-bssids"]
	if d := cmp.Diff([]string{"f4:92:bf:aa:bb:02", "f4:92:bf:aa:bb:03"}, LastSeenBSSIDs(stamps, seen)); d != "" {
		t.Error(d)
	}
	if got := LastSeenBSSIDs(nil, nil); len(got) != 0 {
		t.Errorf("nothing seen: %v", got)
	}
	if normMACs("F4:92:BF:AA:BB:02,f4:92:bf:aa:bb:03") != "f4:92:bf:aa:bb:02,f4:92:bf:aa:bb:03" {
		t.Error("normMACs")
	}
	ws := ParseProcWireless("Inter-| sta-|   Quality        |   Discarded packets               | Missed | WE\n face | tus | link level noise |  nwid  crypt   frag  retry   misc | beacon | 22\nwlp2s0: 0000   70.  -40.  -256        0      0      0      0      0        0\nwlan1: 0000    0.  0.  0        0      0      0      0      0        0\n")
	if d := cmp.Diff([]WirelessIf{{"wlp2s0", true}, {"wlan1", false}}, ws); d != "" {
		t.Error(d)
	}
}

// mdnsAnswer is an mDNS response announcing pikvm.local at 192.168.1.60
// and a printer, with a compressed second name.
func mdnsAnswer() []byte {
	b := []byte{0, 0, 0x84, 0, 0, 0, 0, 2, 0, 0, 0, 0}
	name := []byte{5, 'p', 'i', 'k', 'v', 'm', 5, 'l', 'o', 'c', 'a', 'l', 0}
	b = append(b, name...)
	b = append(b, 0, 1, 0x80, 1, 0, 0, 0, 120, 0, 4, 192, 168, 1, 60)
	b = append(b, 7, 'p', 'r', 'i', 'n', 't', 'e', 'r', 0xC0, 18) // printer.local (pointer to "local")
	b = append(b, 0, 1, 0x80, 1, 0, 0, 0, 120, 0, 4, 192, 168, 1, 61)
	return b
}

func TestParseMDNS(t *testing.T) {
	got := ParseMDNS(mdnsAnswer())
	if d := cmp.Diff([]MDNSRecord{{Name: "pikvm.local", IP: "192.168.1.60"}}, got); d != "" {
		t.Fatal(d)
	}
	if got := ParseMDNS(mdnsAnswer()[:30]); len(got) != 0 {
		t.Errorf("truncated: %v", got)
	}
	loop := []byte{0, 0, 0x84, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0xC0, 12}
	if got := ParseMDNS(loop); len(got) != 0 {
		t.Errorf("pointer loop: %v", got)
	}
}
