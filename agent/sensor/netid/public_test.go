package netid

import (
	"testing"
)

// TestParseWdutilInfoRedactedPublic: a real macOS 15 `wdutil info` whose
// SSID, BSSID and MAC address are "<redacted>" (wifi-heatmapper's
// capture), and GLPI's macOS 14.5 excerpt that names the interface only.
// Neither yields an identifier; the first is reported as withheld.
func TestParseWdutilInfoRedactedPublic(t *testing.T) {
	w, ok := ParseWdutilInfo(string(publicFile(t, "heatmapper-macOS15-wdutil-redacted.txt")))
	want := Wifi{Interface: "en0", Source: "wdutil", Status: "redacted"}
	if !ok || w != want {
		t.Errorf("redacted: got %+v %v, want %+v", w, ok, want)
	}
	w, ok = ParseWdutilInfo(string(publicFile(t, "glpi-m1pro-wdutil.txt")))
	if ok || w.SSID != "" || w.BSSID != "" || w.Interface != "en0" {
		t.Errorf("GLPI excerpt: got %+v %v", w, ok)
	}
}

// TestParseNetshWlanPublic pins what the English-only text parser, kept
// for snapshots of older agents, does with real `netsh wlan show
// interfaces` outputs: it reads the English one; the German one (State is
// "Status : Verbunden") and the 24H2 location refusal ("Function
// WlanQueryInterface returns error 5") give no network and nothing made
// up. The live agent reads WlanQueryInterface itself, which is why.
func TestParseNetshWlanPublic(t *testing.T) {
	got := ParseNetshWlan(string(publicFile(t, "heatmapper-netsh-wlan-en.txt")))
	want := []Wifi{{Interface: "Wi-Fi", SSID: "SSID-1", BSSID: "fe:dc:ba:09:87:02", Source: "netsh"}}
	if len(got) != 1 || got[0] != want[0] {
		t.Errorf("English: %+v, want %+v", got, want)
	}
	for _, f := range []string{"heatmapper-netsh-wlan-de.txt", "heatmapper-netsh-wlan-location-denied-en.txt"} {
		if got := ParseNetshWlan(string(publicFile(t, f))); len(got) != 0 {
			t.Errorf("%s: %+v, want nothing", f, got)
		}
	}
}
