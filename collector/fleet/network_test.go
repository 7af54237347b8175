package fleet

import (
	"net/netip"
	"strings"
	"testing"
)

func TestParseNetworks(t *testing.T) {
	got, err := ParseNetworks([]NetworkSpec{
		{Name: "hq", Kind: Office, Egress: []string{"203.0.113.0/28", " 198.51.100.7"}, Gateways: []string{"00-25-90-AA-BB-01"}},
		{Name: "vpn", Kind: VPN, Egress: []string{"2001:db8:1::/48", "::ffff:192.0.2.0/120"}, Gateways: []string{}},
		{Name: "lab", Kind: Office, Gateways: []string{"0:25:90:aa:bb:2"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if got[0].Egress[1] != netip.MustParsePrefix("198.51.100.7/32") || got[0].Gateways[0] != "00:25:90:aa:bb:01" ||
		got[1].Egress[1] != netip.MustParsePrefix("192.0.2.0/24") || got[2].Gateways[0] != "00:25:90:aa:bb:02" {
		t.Fatalf("%+v", got)
	}
	for _, tc := range []struct {
		spec NetworkSpec
		want string
	}{
		{NetworkSpec{Kind: Office, Egress: []string{"10.0.0.0/8"}}, "a name is required"},
		{NetworkSpec{Name: "x", Kind: "home", Egress: []string{"10.0.0.0/8"}}, "want office, vpn or cloud"},
		{NetworkSpec{Name: "x", Kind: VPN}, "match nothing"},
		{NetworkSpec{Name: "x", Kind: VPN, Egress: []string{"10.0.0.0/33"}}, "not a CIDR"},
		{NetworkSpec{Name: "x", Kind: VPN, Egress: []string{"0.0.0.0/0"}}, "wider than"},
		{NetworkSpec{Name: "x", Kind: VPN, Egress: []string{"::/0"}}, "wider than"},
		{NetworkSpec{Name: "x", Kind: VPN, Egress: []string{"fe80::1%eth0"}}, "not a CIDR"},
		{NetworkSpec{Name: "x", Kind: Office, Gateways: []string{"ff:ff:ff:ff:ff:ff"}}, "not a unicast MAC"},
		{NetworkSpec{Name: "x", Kind: Office, Gateways: []string{"00:11:22:33:44"}}, "not a unicast MAC"},
		{NetworkSpec{Name: "x\n", Kind: Office, Gateways: []string{"00:11:22:33:44:55"}}, "control"},
	} {
		if _, err := ParseNetworks([]NetworkSpec{tc.spec}); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v, want %q", tc.spec, err, tc.want)
		}
	}
	if _, err := ParseNetworks([]NetworkSpec{{Name: "a", Kind: VPN, Egress: []string{"10.0.0.0/8"}}, {Name: "A", Kind: Cloud, Egress: []string{"10.0.0.0/8"}}}); err == nil {
		t.Error("a name twice was taken")
	}
}

// FuzzParseNetworks: a network that parses has a name, a kind, canonical
// prefixes no wider than the bound and normalised MACs, and parsing what
// it says again gives the same network.
func FuzzParseNetworks(f *testing.F) {
	f.Add("hq", "office", "203.0.113.0/28", "00-25-90-AA-BB-01")
	f.Add("v", "vpn", "::ffff:10.0.0.0/104", "")
	f.Add("c", "cloud", "2001:db8::1", "zz")
	f.Fuzz(func(t *testing.T, name, kind, egress, gw string) {
		spec := NetworkSpec{Name: name, Kind: kind}
		if egress != "" {
			spec.Egress = strings.Split(egress, ",")
		}
		if gw != "" {
			spec.Gateways = strings.Split(gw, ",")
		}
		ns, err := ParseNetworks([]NetworkSpec{spec})
		if err != nil {
			return
		}
		n := ns[0]
		if n.Name == "" || (n.Kind != Office && n.Kind != VPN && n.Kind != Cloud) || len(n.Egress)+len(n.Gateways) == 0 {
			t.Fatalf("%+v", n)
		}
		again := NetworkSpec{Name: n.Name, Kind: n.Kind}
		for _, p := range n.Egress {
			if p != p.Masked() || (p.Addr().Is4() && p.Bits() < 8) || (p.Addr().Is6() && p.Bits() < 16) || p.Addr().Is4In6() {
				t.Fatalf("prefix %s", p)
			}
			again.Egress = append(again.Egress, p.String())
		}
		again.Gateways = n.Gateways
		back, err := ParseNetworks([]NetworkSpec{again})
		if err != nil || len(back[0].Egress) != len(n.Egress) {
			t.Fatalf("parsed again: %v %v", back, err)
		}
		for i := range n.Egress {
			if back[0].Egress[i] != n.Egress[i] {
				t.Fatalf("%s, then %s", n.Egress[i], back[0].Egress[i])
			}
		}
	})
}
