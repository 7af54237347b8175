package display

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/farmwatch/farmwatch/agent/host"
	fwv1 "github.com/farmwatch/farmwatch/proto/farmwatch/v1"
	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/testing/protocmp"
)

func readTestdata(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// packedHost packs a snapshot source directory (files: path under the
// source dir -> content) and opens it, as `snapshot --pack` and `scan
// --snapshot` would.
func packedHost(t testing.TB, goos string, files map[string]string) *host.Host {
	t.Helper()
	src := t.TempDir()
	writeTree(t, src, goos, files, nil)
	s, err := host.Pack(src)
	if err != nil {
		t.Fatal(err)
	}
	b, err := s.Format()
	if err != nil {
		t.Fatal(err)
	}
	f := filepath.Join(t.TempDir(), "snap.txtar")
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

func TestSenseDarwin(t *testing.T) {
	h := packedHost(t, "darwin", map[string]string{
		"/cmd/ioreg-intel.txt":   "$ /usr/sbin/ioreg -a -l -r -c IODisplayConnect\n" + string(readTestdata(t, "ioreg-intel.xml")),
		"/cmd/ioreg-silicon.txt": "$ /usr/sbin/ioreg -a -l -r -c AppleCLCD2\n" + string(readTestdata(t, "ioreg-silicon.xml")),
		"/cmd/sp.txt":            "$ /usr/sbin/system_profiler -json SPDisplaysDataType\n" + string(readTestdata(t, "system_profiler.json")),
	})
	obs, err := Sensor{}.Sense(context.Background(), h)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]*fwv1.Display{}
	for _, o := range obs {
		got[o.Key] = o.GetDisplay()
	}
	if len(got) != 4 {
		t.Fatalf("got %d displays: %v", len(got), obs)
	}
	lcd := got["display/Color LCD"]
	want := &fwv1.Display{Connector: "Color LCD", Adapter: "kHW_AppleM1Item", Status: "connected", Enabled: true, Builtin: true, Main: true,
		Connection: "internal", HardwareId: "610:a047", Path: "system_profiler SPDisplaysDataType",
		Edid: &fwv1.Edid{Manufacturer: "APP", ProductCode: 0xa047, MonitorName: "Color LCD", SerialNumber: 0xfd626d62}}
	if d := cmp.Diff(want, lcd, protocmp.Transform()); d != "" {
		t.Errorf("Color LCD (-want +got):\n%s", d)
	}
	kvm := got["display/PiKVM V4 Plus"]
	if kvm.GetEdid().GetMonitorSerial() != "CAFEBABE" || kvm.GetEdid().GetRawHex() == "" || kvm.Path != "ioreg AppleDisplay" || kvm.Connection != "hdmi" || kvm.Builtin {
		t.Errorf("PiKVM: %v", kvm)
	}
	if d := got["display/Dummy 16:9"]; !d.GetVirtual() || d.GetEdid() != nil {
		t.Errorf("dummy: %v", d)
	}
	lg := got["display/LG HDR 4K"]
	if lg.GetEdid().GetManufacturer() != "GSM" || lg.GetEdid().GetProductCode() != 23305 || lg.GetEdid().GetYear() != 2019 || lg.HardwareId != "1e6d:5b09" {
		t.Errorf("LG (ioreg only): %v", lg)
	}
}

// TestSenseDarwinRoot: a --root tree cannot run commands; that is no error.
func TestSenseDarwinRoot(t *testing.T) {
	dir := t.TempDir()
	writeTree(t, dir, "darwin", map[string]string{}, nil)
	h, err := host.FromRoot(dir)
	if err != nil {
		t.Fatal(err)
	}
	if obs, err := (Sensor{}).Sense(context.Background(), h); err != nil || len(obs) != 0 {
		t.Fatalf("got %v, %v", obs, err)
	}
}

func TestParseIoregErrors(t *testing.T) {
	if ds, err := parseIoreg(nil); err != nil || ds != nil {
		t.Errorf("empty: %v %v", ds, err)
	}
	if _, err := parseIoreg([]byte("<plist><array><dict><key>x</key>")); err == nil {
		t.Error("truncated plist: no error")
	}
	if _, err := parseSystemProfiler([]byte("{")); err == nil {
		t.Error("bad json: no error")
	}
	ds, err := parseSystemProfiler([]byte(`{"SPDisplaysDataType":[{"_name":"gpu","spdisplays_ndrvs":[1,{"_name":"x"}]}]}`))
	if err != nil || len(ds) != 1 {
		t.Errorf("odd entries: %v %v", ds, err)
	}
	for in, want := range map[string]string{"APP": "APP", "LNX": "LNX", "GSM": "GSM"} {
		if got := pnpName(pnpCode(in)); got != want {
			t.Errorf("pnp round trip %q = %q", in, got)
		}
	}
}

func FuzzParseIoreg(f *testing.F) {
	f.Add(readTestdata(f, "ioreg-intel.xml"))
	f.Add(readTestdata(f, "ioreg-silicon.xml"))
	f.Fuzz(func(t *testing.T, b []byte) {
		io, err := parseIoreg(b)
		if err != nil {
			return
		}
		for _, x := range io {
			if x.EDID == nil && x.Attrs == nil {
				t.Fatalf("entry %+v holds neither an EDID nor display attributes", x)
			}
		}
		ds := joinDarwin(nil, io)
		if len(ds) != len(io) {
			t.Fatalf("%d displays from %d ioreg entries", len(ds), len(io))
		}
		for i, d := range ds {
			if d.Status != "connected" || d.Path != "ioreg "+io[i].Class || d.Edid == nil {
				t.Fatalf("display %v of %+v", d, io[i])
			}
		}
		checkFound(t, ds, nil)
	})
}

func FuzzParseSystemProfiler(f *testing.F) {
	f.Add(readTestdata(f, "system_profiler.json"))
	f.Fuzz(func(t *testing.T, b []byte) {
		sp, err := parseSystemProfiler(b)
		if err != nil {
			return
		}
		ds := joinDarwin(sp, nil)
		if len(ds) != len(sp) {
			t.Fatalf("%d displays from %d system_profiler entries", len(ds), len(sp))
		}
		for _, d := range ds {
			if d.Connector == "" || d.Path != "system_profiler SPDisplaysDataType" || d.Status != "connected" || d.Connection == "internal" && !d.Builtin {
				t.Fatalf("display %v", d)
			}
		}
		checkFound(t, ds, nil)
	})
}
