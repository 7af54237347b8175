package display

import (
	"context"
	"testing"

	"github.com/farmwatch/farmwatch/agent/sensor/internal/dumpconv"
	fwv1 "github.com/farmwatch/farmwatch/proto/farmwatch/v1"
	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/testing/protocmp"
)

// publicIoreg converts a published text `ioreg -l` dump (testdata/public,
// sources in testdata/README.md) into the XML that `ioreg -a` records.
func publicIoreg(t testing.TB, name string) []byte {
	t.Helper()
	x, err := dumpconv.IoregText(readTestdata(t, "public/"+name))
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return x
}

// TestIoregAppleSiliconPublic: the AppleCLCD2 framebuffers of an M1 Pro
// (GLPI's AppleCLCD2-2 dump: the built-in panel and two DELL P2421DC).
// The built-in panel's ManufacturerID is Apple's OUI with the PNP id in
// LegacyManufacturerID; its ProductID is not an EDID product code. The
// externals carry their physical size in DisplayAttributes.
func TestIoregAppleSiliconPublic(t *testing.T) {
	io, err := parseIoreg(publicIoreg(t, "glpi-ioreg-AppleCLCD2-2.txt"))
	if err != nil {
		t.Fatal(err)
	}
	if len(io) != 3 {
		t.Fatalf("got %d framebuffers, want 3: %+v", len(io), io)
	}
	builtin, ext := io[0], io[1]
	if builtin.Vendor != appleLegacyVendor || builtin.Product != 0 || builtin.External || builtin.ID != 0x1000003e6 {
		t.Errorf("built-in panel: %+v", builtin)
	}
	if !ext.External || ext.Vendor != int64(pnpCode("DEL")) || ext.Product != 53496 || ext.WidthCm != 53 || ext.HeightCm != 30 {
		t.Errorf("external: %+v", ext)
	}
	ds := joinDarwin(nil, io)
	want := &fwv1.Edid{Manufacturer: "DEL", ProductCode: 53496, MonitorName: "DELL P2421DC", MonitorSerial: "9D5RR63",
		SerialNumber: 809649484, Week: 43, Year: 2021, WidthCm: 53, HeightCm: 30}
	if d := cmp.Diff(want, ds[1].Edid, protocmp.Transform()); d != "" {
		t.Errorf("DELL P2421DC (-want +got):\n%s", d)
	}
	if e := ds[0].Edid; e.GetManufacturer() != "APP" || e.GetProductCode() != 0 {
		t.Errorf("built-in: %v", ds[0])
	}
	checkFound(t, ds, nil)

	// With system_profiler's view of the built-in panel (its vendor 610
	// and an EDID product code that ioreg does not give), the panel is
	// one display, not a second, external one.
	sp := []spDisplay{{GPU: "Apple M1 Pro", Prop: map[string]any{"_name": "Color LCD", "_spdisplays_display-vendor-id": "610",
		"_spdisplays_display-product-id": "a04e", "spdisplays_connection_type": "spdisplays_internal"}}}
	ds = joinDarwin(sp, io)
	if len(ds) != 3 {
		t.Fatalf("got %d displays, want 3 (built-in once, two DELLs): %v", len(ds), ds)
	}
	if !ds[0].Builtin || ds[0].Path != "ioreg AppleCLCD2" || ds[0].Edid.GetManufacturer() != "APP" {
		t.Errorf("built-in panel not joined: %v", ds[0])
	}
	for _, d := range ds[1:] {
		if d.Builtin || d.Edid.GetMonitorName() != "DELL P2421DC" {
			t.Errorf("external: %v", d)
		}
	}
}

// TestIoregM1Public: an M1 (GLPI's AppleCLCD2 dump) whose built-in
// framebuffer has empty ProductAttributes.
func TestIoregM1Public(t *testing.T) {
	io, err := parseIoreg(publicIoreg(t, "glpi-ioreg-AppleCLCD2.txt"))
	if err != nil {
		t.Fatal(err)
	}
	if len(io) != 2 || io[0].External || !io[1].External || io[1].Attrs == nil {
		t.Fatalf("framebuffers: %+v", io)
	}
	ds := joinDarwin(nil, io)
	if e := ds[1].Edid; e.GetMonitorSerial() != "4S0QR63" || e.GetWidthCm() == 0 {
		t.Errorf("DELL: %v", e)
	}
	checkFound(t, ds, nil)
}

// TestIoregIntelPublic: Intel Macs' AppleDisplay (an external DELL 1708FP)
// and AppleBacklightDisplay (the built-in panel), each with IODisplayEDID.
func TestIoregIntelPublic(t *testing.T) {
	for _, c := range []struct{ file, class, name, mfg string }{
		{"glpi-ioreg-AppleDisplay.txt", "AppleDisplay", "DELL 1708FP", "DEL"},
		{"glpi-ioreg-AppleBacklightDisplay.txt", "AppleBacklightDisplay", "Color LCD", "APP"},
	} {
		io, err := parseIoreg(publicIoreg(t, c.file))
		if err != nil || len(io) != 1 {
			t.Fatalf("%s: %+v %v", c.file, io, err)
		}
		ds := joinDarwin(nil, io)
		e := ds[0].Edid
		if ds[0].Path != "ioreg "+c.class || e.GetMonitorName() != c.name || e.GetManufacturer() != c.mfg || !e.GetChecksumValid() || e.GetWidthCm() == 0 {
			t.Errorf("%s: %v", c.file, ds[0])
		}
		checkFound(t, ds, nil)
	}
}

// TestSystemProfilerPublic: system_profiler alone (no ioreg recorded). The
// monitor name is _name, the 32-bit EDID serial number is
// _spdisplays_display-serial-number (hex), the serial string (EDID serial
// descriptor) is spdisplays_display-serial-number, when there is one.
func TestSystemProfilerPublic(t *testing.T) {
	for _, c := range []struct {
		file string
		want *fwv1.Edid
	}{
		{"system-bridge-3408-sp.json", &fwv1.Edid{Manufacturer: "DEL", ProductCode: 0x4231, MonitorName: "DELL U2722DE", SerialNumber: 0x4254554c, Week: 14, Year: 2022}},
		{"displayplacer-77-sp.json", &fwv1.Edid{Manufacturer: "BNQ", ProductCode: 0x8030, MonitorName: "BenQ PD2720U", SerialNumber: 0x5445, Week: 43, Year: 2020}},
	} {
		sp, err := parseSystemProfiler(readTestdata(t, "public/"+c.file))
		if err != nil {
			t.Fatal(err)
		}
		ds := joinDarwin(sp, nil)
		if len(ds) != 1 {
			t.Fatalf("%s: %v", c.file, ds)
		}
		if d := cmp.Diff(c.want, ds[0].Edid, protocmp.Transform()); d != "" {
			t.Errorf("%s (-want +got):\n%s", c.file, d)
		}
	}
	// The serial string, where system_profiler has one.
	ds := joinDarwin([]spDisplay{{Prop: map[string]any{"_name": "E2441", "_spdisplays_display-vendor-id": "5e3",
		"_spdisplays_display-product-id": "2441", "spdisplays_display-serial-number": "AXVB11A000123 "}}}, nil)
	if ds[0].Edid.GetMonitorSerial() != "AXVB11A000123" {
		t.Errorf("serial string: %v", ds[0].Edid)
	}
}

// TestSenseDarwinMobileFramebuffer: a Mac whose framebuffers answer to
// IOMobileFramebuffer (IOMobileFramebufferShim on macOS 26) is read
// without asking for AppleCLCD2; an entry seen twice is one display.
func TestSenseDarwinMobileFramebuffer(t *testing.T) {
	x := publicIoreg(t, "glpi-ioreg-AppleCLCD2-2.txt")
	h := packedHost(t, "darwin", map[string]string{
		"/cmd/ioreg-mobile.txt": "$ /usr/sbin/ioreg -a -l -r -c IOMobileFramebuffer\n" + string(x),
		"/cmd/ioreg-clcd2.txt":  "$ /usr/sbin/ioreg -a -l -r -c AppleCLCD2\n" + string(x),
	})
	obs, err := Sensor{}.Sense(context.Background(), h)
	if err != nil {
		t.Fatal(err)
	}
	if len(obs) != 3 {
		t.Fatalf("got %d observations, want 3: %v", len(obs), obs)
	}
}
