package main

import (
	"strings"
	"testing"

	farm "github.com/farmwatch/farmwatch/collector/fleet"
	"go.yaml.in/yaml/v3"
)

func TestParseOrg(t *testing.T) {
	org, nets, err := parseOrg([]byte(`networks:
  - {name: hq, kind: office, egress: [203.0.113.0/28], gateways: ["00:25:90:AA:BB:01"]}
  - {name: corp-vpn, kind: vpn, egress: ["192.0.2.96/29"], gateways: []}
`))
	if err != nil || org != nil || len(nets) != 2 || nets[0].Gateways[0] != "00:25:90:aa:bb:01" {
		t.Fatalf("networks only: %v %v %v", org, nets, err)
	}
	org, nets, err = parseOrg([]byte("countries: [US]\nnetworks: [{name: hq, kind: office, gateways: ['0:1:2:3:4:5']}]\n"))
	if err != nil || org.GetExpectedCountries()[0] != "US" || len(nets) != 1 {
		t.Fatalf("both: %v %v %v", org, nets, err)
	}
	for _, tc := range []struct{ in, want string }{
		{"", "no countries"},
		{"networks: []\n", "no countries"},
		{"network: []\n", "field network not found"},
		{"networks: [{name: hq, kind: home, egress: [10.0.0.0/8]}]\n", "want office, vpn or cloud"},
		{"networks: [{name: hq, kind: office, egress: [0.0.0.0/0]}]\n", "wider than"},
		{"networks: [{name: hq, kind: office, egress: [10.0.0.0/8], gateway: []}]\n", "field gateway not found"},
		{"networks: {name: hq}\n", "cannot unmarshal"},
		{"countries: [US]\n" + strings.Repeat("#", maxOrgBytes), "over"},
	} {
		if _, _, err := parseOrg([]byte(tc.in)); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%.60q: %v, want %q", tc.in, err, tc.want)
		}
	}
}

// FuzzParseOrg: an org file is refused, or it sets expectations or
// networks, and what it set, written out as an org file again, parses to
// the same.
func FuzzParseOrg(f *testing.F) {
	for _, s := range []string{
		"countries: [US]\n", "networks: [{name: hq, kind: office, egress: [203.0.113.0/28], gateways: ['00-25-90-aa-bb-01']}]\n",
		"timezones: [America/New_York]\nnetworks:\n  - name: v\n    kind: vpn\n    egress: ['2001:db8::/32', 198.51.100.7]\n",
		"networks: [{name: x, kind: cloud, egress: [::ffff:10.0.0.0/104]}]", "{", "countries: !!binary AAAA",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		org, nets, err := parseOrg(b)
		if err != nil {
			return
		}
		if org == nil && len(nets) == 0 {
			t.Fatal("an org file that sets nothing was taken")
		}
		var again orgFile
		if org != nil {
			again.Countries, again.Locales, again.Timezones = org.ExpectedCountries, org.ExpectedLocales, org.ExpectedTimezones
		}
		for _, n := range nets {
			spec := farm.NetworkSpec{Name: n.Name, Kind: n.Kind, Gateways: n.Gateways}
			for _, p := range n.Egress {
				spec.Egress = append(spec.Egress, p.String())
			}
			again.Networks = append(again.Networks, spec)
		}
		out, err := yaml.Marshal(again)
		if err != nil {
			t.Fatal(err)
		}
		org2, nets2, err := parseOrg(out)
		if err != nil || len(nets2) != len(nets) || (org == nil) != (org2 == nil) {
			t.Fatalf("written out again: %v\n%s", err, out)
		}
		for i := range nets {
			if nets[i].Name != nets2[i].Name || len(nets[i].Egress) != len(nets2[i].Egress) {
				t.Fatalf("network %d: %+v, then %+v", i, nets[i], nets2[i])
			}
		}
	})
}
