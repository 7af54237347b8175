package usb

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/farmwatch/farmwatch/agent/host"
	"github.com/farmwatch/farmwatch/agent/sensor/internal/dumpconv"
	fwv1 "github.com/farmwatch/farmwatch/proto/farmwatch/v1"
	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/testing/protocmp"
)

func publicFile(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "public", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// publicProfilerJSON converts a published `system_profiler -xml
// SPUSBDataType` report into the -json form the agent records.
func publicProfilerJSON(t testing.TB, name string) []byte {
	t.Helper()
	j, err := dumpconv.SystemProfilerJSON(publicFile(t, name))
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return j
}

// TestSystemProfilerPublic reads real SPUSBDataType reports (GLPI's test
// data; sources in testdata/README.md).
func TestSystemProfilerPublic(t *testing.T) {
	for _, c := range []struct {
		file  string
		n     int
		check *fwv1.UsbDevice
	}{
		{"glpi-SPUSBDataType.xml", 8, &fwv1.UsbDevice{VendorId: 0x0480, ProductId: 0xa00c, Manufacturer: "TOSHIBA", Product: "External USB 3.0",
			Serial: "20150123045944", BusPath: "fa200000", Speed: "480"}},
		{"glpi-SPUSBDataType4.xml", 2, &fwv1.UsbDevice{VendorId: 0x80ee, ProductId: 0x0021, Manufacturer: "VirtualBox", Product: "USB Tablet",
			BusPath: "9f200000", Speed: "12"}},
		{"glpi-SPUSBDataType_with_inserted_dvd.xml", 4, &fwv1.UsbDevice{VendorId: 0x059b, ProductId: 0x0252, Manufacturer: "Iomega",
			Product: "Optical USB 2.0", Serial: "DEF109C77CF6", BusPath: "14200000", Speed: "480"}},
	} {
		ds, err := parseSystemProfiler(publicProfilerJSON(t, c.file))
		if err != nil || len(ds) != c.n {
			t.Fatalf("%s: %d devices, %v", c.file, len(ds), err)
		}
		found := false
		for _, d := range ds {
			if d.BusPath == c.check.BusPath {
				found = true
				if diff := cmp.Diff(c.check, d, protocmp.Transform()); diff != "" {
					t.Errorf("%s (-want +got):\n%s", c.file, diff)
				}
			}
		}
		if !found {
			t.Errorf("%s: no device at %s", c.file, c.check.BusPath)
		}
	}
}

// TestSystemProfilerHost: macOS 26's SPUSBHostDataType, whose buses carry
// a location but no vendor id, and whose absent serial is "Not Provided".
func TestSystemProfilerHost(t *testing.T) {
	ds, err := parseSystemProfilerHost(publicFile(t, "spusbhost-assembled.json"))
	if err != nil {
		t.Fatal(err)
	}
	want := []*fwv1.UsbDevice{
		{VendorId: 0x1a86, ProductId: 0x7523, Product: "USB Serial", BusPath: "01100000", Speed: "12"},
		{VendorId: 0x2717, ProductId: 0x5411, Manufacturer: "Generic", Product: "USB2.1 Hub", BusPath: "02100000", Speed: "480"},
		{VendorId: 0x0781, ProductId: 0x55fd, Manufacturer: "USB", Product: "SanDisk 3.2 Gen1", Serial: "03017022120225210315", BusPath: "02110000", Speed: "5000"},
	}
	if d := cmp.Diff(want, ds, protocmp.Transform()); d != "" {
		t.Errorf("(-want +got):\n%s", d)
	}
}

// TestReadDarwinTahoe: without ioreg, an empty SPUSBDataType (macOS 26)
// falls through to SPUSBHostDataType.
func TestReadDarwinTahoe(t *testing.T) {
	src := t.TempDir()
	files := map[string]string{
		"snapshot.json":  `{"os":"darwin","hostname":"mac26"}`,
		"cmd/sp.txt":     "$ /usr/sbin/system_profiler -json SPUSBDataType\n{\n  \"SPUSBDataType\" : [ ]\n}\n",
		"cmd/sphost.txt": "$ /usr/sbin/system_profiler -json SPUSBHostDataType\n" + string(publicFile(t, "spusbhost-assembled.json")),
	}
	for p, c := range files {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(src, p)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(src, p), []byte(c), 0o644); err != nil {
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
	defer h.Close()
	ds, err := readDarwin(context.Background(), h)
	if err != nil || len(ds) != 3 {
		t.Fatalf("got %d devices, %v", len(ds), err)
	}
}

func FuzzParseSystemProfilerHost(f *testing.F) {
	f.Add(publicFile(f, "spusbhost-assembled.json"))
	f.Fuzz(func(t *testing.T, b []byte) {
		ds, err := parseSystemProfilerHost(b)
		if err != nil {
			return
		}
		seen := map[string]bool{}
		for _, d := range ds {
			if len(d.BusPath) < 8 || seen[d.BusPath] || d.Serial == "Not Provided" {
				t.Fatalf("device %v", d)
			}
			seen[d.BusPath] = true
		}
	})
}
