package netid

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/farmwatch/farmwatch/agent/host"
	"github.com/google/go-cmp/cmp"
)

func publicFile(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "public", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// packed packs a snapshot source tree (path -> content) and opens it.
func packed(t *testing.T, goos string, files map[string]string) *host.Host {
	t.Helper()
	src := t.TempDir()
	files["snapshot.json"] = `{"os":"` + goos + `","hostname":"h","captured":"2025-02-22T12:00:00Z"}`
	for p, c := range files {
		full := filepath.Join(src, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(c), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	s, err := host.Pack(src)
	if err != nil {
		t.Fatal(err)
	}
	b, err := s.Format()
	if err != nil {
		t.Fatal(err)
	}
	f := filepath.Join(t.TempDir(), "s.txtar")
	if err := os.WriteFile(f, b, 0o644); err != nil {
		t.Fatal(err)
	}
	h, err := host.Open(f)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	return h
}

// TestParseNetworkInterfacesPublic: the Wi-Fi interface is the one the
// system configuration types IEEE80211 (en0 on the MacBook Pro of the
// published plist); an iMac's Wi-Fi is en1 (its en0 is Ethernet).
func TestParseNetworkInterfacesPublic(t *testing.T) {
	got, err := ParseNetworkInterfaces(publicFile(t, "thm-NetworkInterfaces.plist"))
	if err != nil || !cmp.Equal(got, []string{"en0"}) {
		t.Fatalf("MacBook Pro: %v %v", got, err)
	}
	// The iMac of GLPI's networksetup listing: Ethernet en0, Wi-Fi en1.
	var dicts []string
	port := ""
	for _, line := range strings.Split(string(publicFile(t, "glpi-imac-networksetup.txt")), "\n") {
		if v, ok := strings.CutPrefix(line, "Hardware Port: "); ok {
			port = v
		}
		if dev, ok := strings.CutPrefix(line, "Device: "); ok {
			typ := map[string]string{"Wi-Fi": "IEEE80211", "Ethernet": "Ethernet"}[port]
			if typ == "" {
				typ = "Ethernet"
			}
			dicts = append(dicts, "<dict><key>BSD Name</key><string>"+dev+"</string><key>SCNetworkInterfaceType</key><string>"+typ+"</string></dict>")
		}
	}
	imac := `<?xml version="1.0" encoding="UTF-8"?><plist version="1.0"><dict><key>Interfaces</key><array>` + strings.Join(dicts, "") + `</array></dict></plist>`
	got, err = ParseNetworkInterfaces([]byte(imac))
	if err != nil || !cmp.Equal(got, []string{"en1"}) {
		t.Fatalf("iMac: %v %v", got, err)
	}
}

// TestParseWdutilInfoPublic: `wdutil info` as root, the output fastfetch
// published (macOS 26 beta).
func TestParseWdutilInfoPublic(t *testing.T) {
	w, ok := ParseWdutilInfo(string(publicFile(t, "fastfetch-wdutil-info.txt")))
	want := Wifi{Interface: "en0", SSID: "iQOO 13", BSSID: "92:ad:bb:24:51:bb", Source: "wdutil"}
	if !ok || w != want {
		t.Fatalf("got %+v %v", w, ok)
	}
	red, ok := ParseWdutilInfo("WIFI\n————\n    Interface Name       : en1\n    SSID                 : <redacted>\n    BSSID                : <redacted>\n")
	if !ok || red.Status != "redacted" || red.SSID != "" {
		t.Errorf("redacted: %+v", red)
	}
}

func TestParseDHCPLeasePublic(t *testing.T) {
	l, ok := ParseDHCPLease(publicFile(t, "thm-lease-en0.plist"))
	if !ok || l.SSID != "402-5G" || l.Length.Hours() != 24 || l.Start.Format("2006-01-02") != "2025-02-22" {
		t.Fatalf("got %+v %v", l, ok)
	}
}

// TestReadDarwinWifi: the Wi-Fi interface comes from the system
// configuration; ipconfig redacts; wdutil (root) gives the identifiers,
// else the current DHCP lease gives the SSID, else the network is
// reported as redacted.
func TestReadDarwinWifi(t *testing.T) {
	redactedSummary := "$ /usr/sbin/ipconfig getsummary en0\n<dictionary> {\n  BSSID : <redacted>\n  InterfaceType : WiFi\n  LinkStatusActive : TRUE\n  SSID : <redacted>\n}\n"
	base := func() map[string]string {
		return map[string]string{
			"root/Library/Preferences/SystemConfiguration/NetworkInterfaces.plist": string(publicFile(t, "thm-NetworkInterfaces.plist")),
			"cmd/ipconfig.txt": redactedSummary,
		}
	}
	for _, c := range []struct {
		name  string
		extra map[string]string
		want  Wifi
	}{
		{"wdutil", map[string]string{"cmd/wdutil.txt": "$ /usr/bin/wdutil info\n" + string(publicFile(t, "fastfetch-wdutil-info.txt"))},
			Wifi{Interface: "en0", SSID: "iQOO 13", BSSID: "92:ad:bb:24:51:bb", Source: "ipconfig+wdutil"}},
		{"lease", map[string]string{"root/private/var/db/dhcpclient/leases/en0.plist": string(publicFile(t, "thm-lease-en0.plist")),
			"root/private/var/db/dhcpclient/leases/en01.plist": "not a lease of en0"},
			Wifi{Interface: "en0", SSID: "402-5G", Source: "ipconfig+dhcp_lease"}},
		{"redacted", nil, Wifi{Interface: "en0", Source: "ipconfig", Status: "redacted"}},
	} {
		files := base()
		for k, v := range c.extra {
			files[k] = v
		}
		st, err := readDarwin(context.Background(), packed(t, "darwin", files))
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if len(st.Wifi) != 1 || st.Wifi[0] != c.want {
			t.Errorf("%s: %+v", c.name, st.Wifi)
		}
		obs := st.Observations("salt")
		if len(obs) != 1 || obs[0].GetWifiNetwork().GetStatus() != c.want.Status {
			t.Errorf("%s: observations %v", c.name, obs)
		}
	}
	// An older snapshot without the system configuration: en0, as before.
	st, err := readDarwin(context.Background(), packed(t, "darwin", map[string]string{
		"cmd/ipconfig.txt": "$ /usr/sbin/ipconfig getsummary en0\n<dictionary> {\n  BSSID : f4:92:bf:aa:bb:02\n  SSID : HOME\n}\n"}))
	if err != nil || len(st.Wifi) != 1 || st.Wifi[0].SSID != "HOME" {
		t.Errorf("older snapshot: %+v %v", st.Wifi, err)
	}
}

func FuzzParseMacWifiFiles(f *testing.F) {
	f.Add(publicFile(f, "thm-NetworkInterfaces.plist"), publicFile(f, "thm-lease-en0.plist"))
	f.Fuzz(func(t *testing.T, ifs, lease []byte) {
		names, err := ParseNetworkInterfaces(ifs)
		if err == nil && len(names) > 16 {
			t.Fatalf("%d interfaces", len(names))
		}
		for _, n := range names {
			if n == "" || strings.ContainsAny(n, "/*?[") {
				t.Fatalf("interface %q", n)
			}
		}
		if l, ok := ParseDHCPLease(lease); ok && (l.Start.IsZero() || l.Length < 0) {
			t.Fatalf("lease %+v", l)
		}
	})
}
