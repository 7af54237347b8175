package main

import (
	"os"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseRegistry(t *testing.T) {
	reg, err := parseRegistry(strings.NewReader("AAA\tAvolites Ltd\n# comment\n\ninu\tInovatec S.p.A.\nEGA\tElgato Systems LLC \r\n"))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(map[string]string{"AAA": "Avolites Ltd", "EGA": "Elgato Systems LLC"}, reg); diff != "" {
		t.Error(diff)
	}
	for _, bad := range []string{"", "AAAA Avolites\n", "AAA Avolites\n"} {
		if _, err := parseRegistry(strings.NewReader(bad)); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

func TestParseMakers(t *testing.T) {
	for _, c := range []struct{ in, err string }{
		{"makers: [{id: EGA, kind: capture, maker: Elgato, registry: x, source: s}]", ""},
		{"makers: [{id: ega, kind: capture, maker: Elgato, source: s}]", "not a PNP id"},
		{"makers: [{id: EGA, kind: camera, maker: Elgato, source: s}]", "kind"},
		{"makers: [{id: EGA, kind: capture, maker: Elgato}]", "required"},
		{"makers: [{id: EGA, kind: capture, maker: E, source: s}, {id: EGA, kind: kvm, maker: E, source: s}]", "twice"},
		{"makers: [{id: ADR, kind: kvm, maker: Adder, squatted: true, source: s}]", "squatted"},
		{"makers: [{id: EGA, kind: capture, maker: Elgato, source: s, vendor: x}]", "vendor"},
		{"makers: []", "no makers"},
	} {
		_, err := parseMakers([]byte(c.in))
		if (err == nil) != (c.err == "") || err != nil && !strings.Contains(err.Error(), c.err) {
			t.Errorf("%s: error %v, want %q", c.in, err, c.err)
		}
	}
}

func TestLabelAndRegistry(t *testing.T) {
	ms := []maker{
		{ID: "EGA", Kind: "capture", Maker: "Elgato", Registry: "Elgato Systems LLC", Source: "s"},
		{ID: "HJW", Kind: "bridge", Maker: "MacroSilicon", Source: "s"},
		{ID: "ADR", Kind: "kvm", Maker: "Adder", Registry: "Nasa Ames Research Center", Squatted: true, Source: "s"},
	}
	want := []string{
		"capture device (Elgato)",
		"HDMI receiver or bridge chip (MacroSilicon, unregistered id)",
		"KVM switch or extender (Adder, id registered to Nasa Ames Research Center)",
	}
	for i, m := range ms {
		if got := label(m); got != want[i] {
			t.Errorf("label(%s) = %q, want %q", m.ID, got, want[i])
		}
	}
	reg := map[string]string{"EGA": "Elgato Systems LLC", "ADR": "Nasa Ames Research Center"}
	if err := checkRegistry(ms, reg); err != nil {
		t.Error(err)
	}
	reg["HJW"] = "Someone Else"
	reg["EGA"] = "Corsair"
	err := checkRegistry(ms, reg)
	if err == nil || !strings.Contains(err.Error(), "HJW") || !strings.Contains(err.Error(), "EGA") {
		t.Errorf("reassigned ids: %v", err)
	}
	out := string(render(ms, "0.1", 3))
	for _, s := range []string{"edid_capture_makers:", "edid_av_makers:", "edid_bridge_makers:", `"HJW": "HDMI receiver`, "hwdata 0.1"} {
		if !strings.Contains(out, s) {
			t.Errorf("output lacks %q:\n%s", s, out)
		}
	}
}

// TestCurrent checks that rules/edid_makers.yaml is what makers.yaml and
// the installed registry give, where the registry is installed (Debian's
// hwdata package).
func TestCurrent(t *testing.T) {
	const pnp = "/usr/share/hwdata/pnp.ids"
	if _, err := os.Stat(pnp); err != nil {
		t.Skipf("%s: %v (apt-get install hwdata)", pnp, err)
	}
	const version = "0.368-1"
	status, _ := os.ReadFile("/var/lib/dpkg/status")
	if !strings.Contains(string(status), "Package: hwdata\n") || !strings.Contains(strings.SplitN(strings.SplitN(string(status), "Package: hwdata\n", 2)[1], "\n\n", 2)[0], "Version: "+version+"\n") {
		t.Skipf("hwdata %s is not the installed package", version)
	}
	if err := run(config{pnp: pnp, version: version, makers: "makers.yaml", out: "../edid_makers.yaml", check: true}); err != nil {
		t.Error(err)
	}
}
