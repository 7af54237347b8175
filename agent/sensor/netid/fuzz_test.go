package netid

import (
	"encoding/json"
	"testing"
)

// Every parser of outside text has a fuzz target; the seeds are the test
// inputs. Nothing may panic, and a gateway's raw MAC never survives.

func FuzzParseProcARP(f *testing.F) {
	f.Add(procARP)
	f.Fuzz(func(t *testing.T, s string) {
		ns := ParseProcARP(s)
		var gws []Gateway
		for _, n := range ns {
			gws = append(gws, Gateway{IP: n.Ip, Interface: n.Interface})
		}
		for _, o := range (State{Gateways: gws, Neighbors: ns}).Observations("salt") {
			if n := o.GetNeighbor(); n != nil && n.Gateway && n.Mac != "" {
				t.Fatalf("gateway MAC kept: %v", n)
			}
		}
	})
}

func FuzzParseArp(f *testing.F) {
	f.Add("? (192.168.1.1) at 0:11:22:33:44:55 on en0 ifscope [ethernet]\n", winARP)
	f.Fuzz(func(t *testing.T, an, a string) {
		ParseArpAn(an)
		ParseArpA(a, map[string]string{"192.168.1.57": "Wi-Fi"})
	})
}

func FuzzParseWifi(f *testing.F) {
	f.Add("    Name : Wi-Fi\n    State : connected\n    SSID : X\n    BSSID : 00:11:22:33:44:55\n", "  SSID : X\n  BSSID : 00:11:22:33:44:55\n")
	f.Fuzz(func(t *testing.T, netsh, ipconfig string) {
		ws := ParseNetshWlan(netsh)
		if w, ok := ParseIpconfigSummary(ipconfig); ok {
			ws = append(ws, w)
		}
		for _, o := range (State{Wifi: ws}).Observations("salt") {
			if w := o.GetWifiNetwork(); w != nil && (w.Ssid != "" || w.Bssid != "") {
				t.Fatalf("raw Wi-Fi identifier kept: %v", w)
			}
		}
	})
}

func FuzzNetworkManager(f *testing.F) {
	f.Add("[timestamps]\nu=1795860000\n", "[seen-bssids]\nu=f4:92:bf:aa:bb:02;\n", "Inter-| sta-|\n face | tus |\nwlan0: 0000   70.  -40.  -256 0 0 0 0 0 0\n")
	f.Fuzz(func(t *testing.T, stamps, seen, wireless string) {
		LastSeenBSSIDs(ParseKeyfile(stamps)["timestamps"], ParseKeyfile(seen)["seen-bssids"])
		ParseProcWireless(wireless)
	})
}

func FuzzParseMDNS(f *testing.F) {
	f.Add(mdnsAnswer())
	f.Add([]byte{0, 0, 0x84, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0xC0, 12})
	f.Fuzz(func(t *testing.T, b []byte) { ParseMDNS(b) })
}

func FuzzAPIJSON(f *testing.F) {
	f.Add(`[{"name":"pikvm.local","ip":"192.168.1.60"}]`)
	f.Fuzz(func(t *testing.T, s string) {
		var recs []MDNSRecord
		if json.Unmarshal([]byte(s), &recs) == nil {
			(State{MDNS: recs}).Observations("")
		}
	})
}

func FuzzNormMAC(f *testing.F) {
	f.Add("0:11:2:33:44:55")
	f.Fuzz(func(t *testing.T, s string) {
		if m := NormMAC(s); m != "" && len(m) != 17 {
			t.Fatalf("%q -> %q", s, m)
		}
	})
}
