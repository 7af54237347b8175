package netid

import (
	"encoding/json"
	"net/netip"
	"regexp"
	"sort"
	"strings"
	"testing"

	fwv1 "github.com/farmwatch/farmwatch/proto/farmwatch/v1"
	"golang.org/x/net/dns/dnsmessage"
)

// Every parser of outside text has a fuzz target; the seeds are the test
// inputs. Nothing may panic, what is parsed must be well formed, and a
// gateway's raw MAC and a raw SSID or BSSID never survive.

var (
	macForm       = regexp.MustCompile(`^([0-9a-f]{2}:){5}[0-9a-f]{2}$`)
	hashForm      = regexp.MustCompile(`^([0-9a-f]{32})?$`)
	macPrefixForm = regexp.MustCompile(`^([0-9a-f]{2}:){3}[0-9a-f]{2}$`)
)

// checkNeighbors fails unless every neighbour has a canonical IP, an
// interface (when iface), a known state, and a MAC that NormMAC takes.
func checkNeighbors(t *testing.T, ns []*fwv1.Neighbor, iface bool) {
	t.Helper()
	for _, n := range ns {
		if a, err := netip.ParseAddr(n.Ip); err != nil || a.String() != n.Ip {
			t.Fatalf("neighbour %v: IP not canonical", n)
		}
		if iface && n.Interface == "" || !map[string]bool{"reachable": true, "permanent": true, "incomplete": true}[n.State] {
			t.Fatalf("neighbour %v: interface or state", n)
		}
		if n.State != "incomplete" && NormMAC(n.Mac) == "" {
			t.Fatalf("neighbour %v: MAC not a unicast MAC", n)
		}
	}
}

// checkObservations fails unless the observations are keyed, typed, sorted
// and unique, every MAC is normalised (and its OUI is its first three
// bytes), a gateway keeps only a hash of its MAC, and a Wi-Fi network only
// hashes.
func checkObservations(t *testing.T, obs []*fwv1.Observation) {
	t.Helper()
	if !sort.SliceIsSorted(obs, func(i, j int) bool { return obs[i].Key < obs[j].Key }) || len(obs) > 1024 {
		t.Fatalf("%d observations, not sorted by key", len(obs))
	}
	seen := map[string]bool{}
	for _, o := range obs {
		if o.Key == "" || o.Kind == nil || seen[o.Key] {
			t.Fatalf("observation %v: no key, no kind, or a key twice", o)
		}
		seen[o.Key] = true
		if n := o.GetNeighbor(); n != nil {
			switch {
			case n.Mac != "":
				t.Fatalf("neighbour MAC %q left the host raw", n.Mac)
			case (n.MacHash == "") != (n.Oui == "") || (n.Oui == "") != (n.MacPrefix == ""):
				t.Fatalf("neighbour %v: a hash without its prefixes, or prefixes without a hash", n)
			case n.MacPrefix != "" && (!macPrefixForm.MatchString(n.MacPrefix) || n.Oui != n.MacPrefix[:8]):
				t.Fatalf("neighbour %v: prefixes", n)
			case n.MacHash != "" && !hashForm.MatchString(n.MacHash):
				t.Fatalf("bad hash: %v", n)
			}
		}
		if w := o.GetWifiNetwork(); w != nil && (w.Ssid != "" || w.Bssid != "" || !hashForm.MatchString(w.SsidHash) || !hashForm.MatchString(w.BssidHash)) {
			t.Fatalf("raw Wi-Fi identifier kept, or a bad hash: %v", w)
		}
	}
}

func FuzzParseProcARP(f *testing.F) {
	f.Add(procARP)
	f.Fuzz(func(t *testing.T, s string) {
		ns := ParseProcARP(s)
		if len(ns) > strings.Count(s, "\n")+1 {
			t.Fatalf("%d neighbours from %d lines", len(ns), strings.Count(s, "\n")+1)
		}
		var gws []Gateway
		for _, n := range ns {
			if a, err := netip.ParseAddr(n.Ip); err != nil || a.String() != n.Ip || n.Interface == "" {
				t.Fatalf("neighbour %v", n)
			}
			gws = append(gws, Gateway{IP: n.Ip, Interface: n.Interface})
		}
		checkObservations(t, (State{Gateways: gws[:len(gws)/2], Neighbors: ns}).Observations("salt"))
	})
}

func FuzzParseArp(f *testing.F) {
	f.Add("? (192.168.1.1) at 0:11:22:33:44:55 on en0 ifscope [ethernet]\n", winARP)
	f.Fuzz(func(t *testing.T, an, a string) {
		macs := ParseArpAn(an)
		checkNeighbors(t, macs, true)
		win := ParseArpA(a, map[string]string{"192.168.1.57": "Wi-Fi"})
		checkNeighbors(t, win, false)
		checkObservations(t, (State{Neighbors: append(macs, win...), Gateways: []Gateway{{IP: "192.168.1.1", Interface: "en0"}}}).Observations("salt"))
	})
}

func FuzzParseWifi(f *testing.F) {
	f.Add("    Name : Wi-Fi\n    State : connected\n    SSID : X\n    BSSID : 00:11:22:33:44:55\n", "  SSID : X\n  BSSID : 00:11:22:33:44:55\n")
	// Real outputs (testdata/README.md): English, German and the 24H2
	// location refusal of netsh, beside real wdutil outputs.
	for _, p := range [][2]string{
		{"heatmapper-netsh-wlan-en.txt", "heatmapper-macOS15-wdutil-redacted.txt"},
		{"heatmapper-netsh-wlan-de.txt", "fastfetch-wdutil-info.txt"},
		{"heatmapper-netsh-wlan-location-denied-en.txt", "glpi-m1pro-wdutil.txt"},
	} {
		f.Add(string(publicFile(f, p[0])), string(publicFile(f, p[1])))
	}
	f.Fuzz(func(t *testing.T, netsh, ipconfig string) {
		ws := ParseNetshWlan(netsh)
		if w, ok := ParseIpconfigSummary(ipconfig); ok {
			ws = append(ws, w)
		}
		if w, ok := ParseWdutilInfo("WIFI\n" + ipconfig); ok {
			w.Interface = "wdutil:" + w.Interface // merged into ipconfig's on a real host
			ws = append(ws, w)
		}
		for _, w := range ws {
			if w.SSID == "" && w.BSSID == "" && w.Status == "" || w.Source == "" || w.SSID == redacted || w.BSSID == redacted {
				t.Fatalf("Wi-Fi network %+v", w)
			}
		}
		checkObservations(t, (State{Wifi: ws}).Observations("salt"))
	})
}

func FuzzNetworkManager(f *testing.F) {
	f.Add("[timestamps]\nu=1795860000\n", "[seen-bssids]\nu=f4:92:bf:aa:bb:02;\n", "Inter-| sta-|\n face | tus |\nwlan0: 0000   70.  -40.  -256 0 0 0 0 0 0\n")
	f.Fuzz(func(t *testing.T, stamps, seen, wireless string) {
		bs := LastSeenBSSIDs(ParseKeyfile(stamps)["timestamps"], ParseKeyfile(seen)["seen-bssids"])
		if len(bs) > 32 || !sort.StringsAreSorted(bs) {
			t.Fatalf("BSSIDs %q: more than 32, or not sorted", bs)
		}
		for i, b := range bs {
			if !macForm.MatchString(b) || i > 0 && bs[i-1] == b {
				t.Fatalf("BSSIDs %q: not normalised, or twice", bs)
			}
		}
		for _, w := range ParseProcWireless(wireless) {
			if w.Interface == "" || strings.ContainsAny(w.Interface, " |:") {
				t.Fatalf("wireless interface %q", w.Interface)
			}
		}
	})
}

// mdnsMessage builds a response announcing name at the address a.
func mdnsMessage(t *testing.T, name string, a netip.Addr) []byte {
	t.Helper()
	b := dnsmessage.NewBuilder(nil, dnsmessage.Header{Response: true, Authoritative: true})
	b.EnableCompression()
	n, err := dnsmessage.NewName(name)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.StartAnswers(); err != nil {
		t.Fatal(err)
	}
	h := dnsmessage.ResourceHeader{Name: n, Class: dnsmessage.ClassINET | 0x8000, TTL: 120}
	if a.Is4() {
		err = b.AResource(h, dnsmessage.AResource{A: a.As4()})
	} else {
		err = b.AAAAResource(h, dnsmessage.AAAAResource{AAAA: a.As16()})
	}
	if err != nil {
		t.Fatal(err)
	}
	out, err := b.Finish()
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func FuzzParseMDNS(f *testing.F) {
	f.Add(mdnsAnswer())
	f.Add([]byte{0, 0, 0x84, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0xC0, 12})
	f.Add([]byte{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 192, 168, 1, 60}) // announced as an IPv4-mapped IPv6 address
	f.Fuzz(func(t *testing.T, b []byte) {
		rs := ParseMDNS(b)
		if len(rs) > maxMDNSRecords || len(rs) > len(b)/16 {
			t.Fatalf("%d records from %d bytes", len(rs), len(b))
		}
		for _, r := range rs {
			if a, err := netip.ParseAddr(r.IP); err != nil || a.String() != r.IP || !kvmName(r.Name) || r.Name != strings.ToLower(r.Name) {
				t.Fatalf("record %+v", r)
			}
		}
		// Any address announced for a KVM's name is heard.
		for _, a := range []netip.Addr{netip.AddrFrom4([4]byte(append(b, 0, 0, 0, 0)[:4])), netip.AddrFrom16([16]byte(append(b, make([]byte, 16)...)[:16]))} {
			got := ParseMDNS(mdnsMessage(t, "JetKVM-1.local.", a))
			if len(got) != 1 || got[0] != (MDNSRecord{Name: "jetkvm-1.local", IP: a.String()}) {
				t.Fatalf("announced %v, heard %v", a, got)
			}
		}
	})
}

func FuzzAPIJSON(f *testing.F) {
	f.Add(`[{"name":"pikvm.local","ip":"192.168.1.60"}]`)
	f.Fuzz(func(t *testing.T, s string) {
		var recs []MDNSRecord
		if json.Unmarshal([]byte(s), &recs) != nil {
			return
		}
		obs := (State{MDNS: recs}).Observations("")
		checkObservations(t, obs)
		ips := map[string]bool{}
		for _, o := range obs {
			if n := o.GetNeighbor(); n != nil {
				ips[n.Ip] = true
			}
		}
		for _, r := range recs {
			if len(obs) < 1024 && !ips[r.IP] {
				t.Fatalf("the address %q of mDNS name %q has no neighbour", r.IP, r.Name)
			}
		}
	})
}

func FuzzNormMAC(f *testing.F) {
	f.Add("0:11:2:33:44:55")
	f.Add("F4-92-BF-AA-BB-02")
	f.Fuzz(func(t *testing.T, s string) {
		m := NormMAC(s)
		if m == "" {
			return
		}
		if !macForm.MatchString(m) || m == "00:00:00:00:00:00" || m == "ff:ff:ff:ff:ff:ff" || strings.IndexAny(m[1:2], "13579bdf") == 0 {
			t.Fatalf("NormMAC(%q) = %q: not a lower-case colon unicast MAC", s, m)
		}
		short := strings.Split(m, ":")
		for i, b := range short {
			short[i] = strings.TrimPrefix(b, "0") // "0a" as arp -an writes it: "a"
		}
		for _, form := range []string{m, strings.ToUpper(m), strings.ReplaceAll(m, ":", "-"), " " + m + " ", strings.Join(short, ":")} {
			if got := NormMAC(form); got != m {
				t.Fatalf("NormMAC(%q) = %q, want %q (of %q)", form, got, m, s)
			}
		}
	})
}
