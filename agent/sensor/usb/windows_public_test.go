package usb

import (
	"bytes"
	"encoding/binary"
	"strconv"
	"strings"
	"testing"
	"unicode/utf16"

	"github.com/farmwatch/farmwatch/agent/sensor/internal/dumpconv"
)

// usbTreeViewRecord reads the "Device Information" block that UsbTreeView
// prints for a device into the record the agent writes: instance id,
// hardware ids, service, class, SPDRP_MFG ("Manufacturer Info"), location,
// address and capabilities.
func usbTreeViewRecord(t *testing.T, text string) pnpRecord {
	t.Helper()
	var r pnpRecord
	for _, line := range strings.Split(text, "\n") {
		k, v, ok := strings.Cut(line, " : ")
		if !ok {
			continue
		}
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		switch k {
		case "Device ID":
			r.InstanceID = v
		case "Hardware IDs":
			r.HardwareIDs = strings.Fields(v)
		case "Service":
			r.Service = v
		case "Class":
			r.Class = v
		case "Manufacturer Info":
			r.Manufacturer = v
		case "Device Description":
			r.Description = v
		case "Location Info":
			r.LocationInformation = v
		case "Address":
			n, err := strconv.ParseUint(v, 10, 32)
			if err != nil {
				t.Fatal(err)
			}
			a := uint32(n)
			r.Address = &a
		case "Capabilities":
			f, _, _ := strings.Cut(v, " ")
			n, err := strconv.ParseUint(strings.TrimPrefix(f, "0x"), 16, 32)
			if err != nil {
				t.Fatal(err)
			}
			c := uint32(n)
			r.Capabilities = &c
		}
	}
	return r
}

// TestUSBIdentityPublic: two devices as UsbTreeView shows them
// (testdata/README.md). SPDRP_MFG, "(Standard USB Host Controller)", is not
// the device's manufacturer; the Ducky keyboard's serial is its instance
// id's last part because Windows says it is unique (0x10 in Capabilities
// 0x94); the other device's last part, 5&20EFF38C&0&5, is one Windows made.
func TestUSBIdentityPublic(t *testing.T) {
	ducky := usbTreeViewRecord(t, string(publicFile(t, "tmk-697-usbtreeview.txt")))
	ds := pnpDevices([]pnpRecord{ducky})
	if len(ds) != 1 || ds[0].Serial != "DK-V1.10-201231" || ds[0].Manufacturer != "" || ds[0].VendorId != 0x3233 {
		t.Fatalf("Ducky: %v", ds)
	}
	if p, ok := portOf(ducky); !ok || p != 1 {
		t.Errorf("Ducky port %d %v", p, ok)
	}
	hid := usbTreeViewRecord(t, string(publicFile(t, "usbqemu-47-usbtreeview.txt")))
	if ds := pnpDevices([]pnpRecord{hid}); len(ds) != 1 || ds[0].Serial != "" {
		t.Fatalf("generated id: %v", ds)
	}
	if p, ok := portOf(hid); !ok || p != 5 {
		t.Errorf("port from the location: %d %v", p, ok)
	}
	// What the hub says of the device wins; a serial with "&", as JetKVM's
	// Logitech preset makes it, is a serial when Windows says it is unique.
	caps := uint32(0x94)
	jet := pnpRecord{InstanceID: `USB\VID_046D&PID_C52B\7&2B4C1D9&0&1`, Capabilities: &caps, Manufacturer: "(Standard USB Host Controller)",
		USBStrings: &usbStrings{Manufacturer: "Logitech (x64)", Product: "Logitech USB Input Device", Language: 0x409}}
	ds = pnpDevices([]pnpRecord{jet})
	if ds[0].Serial != "7&2B4C1D9&0&1" || ds[0].Manufacturer != "Logitech (x64)" || ds[0].Product != "Logitech USB Input Device" {
		t.Errorf("JetKVM preset: %v", ds[0])
	}
	jet.USBStrings.Serial = "7&2b4c1d9&0&1"
	if ds = pnpDevices([]pnpRecord{jet}); ds[0].Serial != "7&2b4c1d9&0&1" {
		t.Errorf("serial string: %v", ds[0])
	}
	noUnique := uint32(0x84)
	jet.USBStrings, jet.Capabilities = nil, &noUnique
	if ds = pnpDevices([]pnpRecord{jet}); ds[0].Serial != "" {
		t.Errorf("generated id taken as a serial: %v", ds[0])
	}
}

// TestPnputilPublic: the published `pnputil /enum-devices /relations` of an
// Adafruit PyPortal (CircuitPython), a composite device whose HID interface
// MI_03 has three top-level collections; the disk's inquiry strings come
// from its instance id.
func TestPnputilPublic(t *testing.T) {
	devs := dumpconv.ParsePnputil(string(publicFile(t, "discotool-2-pnputil.txt")))
	if len(devs) != 3 || len(devs[1].Children) != 3 || devs[1].Parent != `USB\VID_239A&PID_8036\8351BF333339395320202038471207FF` {
		t.Fatalf("pnputil: %+v", devs)
	}
	recs := []pnpRecord{{InstanceID: devs[1].Parent, Parent: `USB\ROOT_HUB30\4&1&0&0`, CompatibleIDs: []string{`USB\COMPOSITE`}}}
	for _, d := range devs {
		recs = append(recs, pnpRecord{InstanceID: d.InstanceID, Parent: d.Parent, Class: d.Class, Manufacturer: d.Manufacturer, Description: d.Description})
	}
	for _, c := range devs[1].Children[:2] {
		recs = append(recs, pnpRecord{InstanceID: c, Parent: devs[1].InstanceID})
	}
	// The disk's parent is cut from the published copy: put it below MI_02.
	recs = append(recs, pnpRecord{InstanceID: `USB\VID_239A&PID_8036&MI_02\7&1ec6fc0a&0&0002`, Parent: devs[1].Parent})
	recs[3].Parent = `USB\VID_239A&PID_8036&MI_02\7&1ec6fc0a&0&0002`
	ds := pnpDevices(recs)
	if len(ds) != 1 || ds[0].Serial != "8351BF333339395320202038471207FF" || len(ds[0].Interfaces) != 2 {
		t.Fatalf("PyPortal: %v", ds)
	}
	disk, hid := ds[0].Interfaces[0], ds[0].Interfaces[1]
	if disk.Number != 2 || disk.ScsiVendor != "Adafruit" || disk.ScsiModel != "PyPortal" || disk.ScsiRevision != "1.0" {
		t.Errorf("disk: %v", disk)
	}
	if hid.Number != 3 || hid.Hid == nil {
		t.Errorf("HID: %v", hid)
	}
}

// TestUASDisk: a disk behind USB Attached SCSI is a SCSI\ node below the
// USB device (UASPStor), not USBSTOR\.
func TestUASDisk(t *testing.T) {
	caps := uint32(0x94)
	ds := pnpDevices([]pnpRecord{
		{InstanceID: `USB\VID_04E8&PID_4001\0123456789AB`, Parent: `USB\ROOT_HUB30\4&1&0&0`, Service: "UASPStor", Capabilities: &caps,
			CompatibleIDs: []string{`USB\Class_08&SubClass_06&Prot_62`, `USB\Class_08&SubClass_06`, `USB\Class_08`}},
		{InstanceID: `SCSI\DISK&VEN_SAMSUNG&PROD_PSSD_T7&REV_0\6&1B2C3D4E&0&000000`, Parent: `USB\VID_04E8&PID_4001\0123456789AB`,
			HardwareIDs: []string{`SCSI\DiskSamsung_PSSD_T7_________0   `, `SCSI\DiskSamsung_PSSD_T7_________`}, Removable: true},
	})
	if len(ds) != 1 || len(ds[0].Interfaces) != 1 {
		t.Fatalf("%v", ds)
	}
	it := ds[0].Interfaces[0]
	if it.Class != 8 || it.Protocol != 0x62 || it.ScsiVendor != "Samsung" || it.ScsiModel != "PSSD T7" || !it.Removable {
		t.Errorf("UAS interface: %v", it)
	}
}

// le16 builds a string descriptor of s.
func stringDescriptor(s string) []byte {
	u := utf16.Encode([]rune(s))
	b := []byte{byte(2 + 2*len(u)), 3}
	for _, c := range u {
		b = binary.LittleEndian.AppendUint16(b, c)
	}
	return b
}

func TestUSBDescriptors(t *testing.T) {
	req := descriptorRequest(3, 3, 2, 0x409, 255)
	if len(req) != 12+255 || binary.LittleEndian.Uint32(req) != 3 || req[4] != 0x80 || req[5] != 6 ||
		binary.LittleEndian.Uint16(req[6:]) != 0x0302 || binary.LittleEndian.Uint16(req[8:]) != 0x409 || binary.LittleEndian.Uint16(req[10:]) != 255 {
		t.Errorf("request % x", req[:12])
	}
	var dev bytes.Buffer
	binary.Write(&dev, binary.LittleEndian, usbDeviceDescriptor{BLength: 18, BDescriptorType: 1, IDVendor: 0x046d, IDProduct: 0xc52b, IManufacturer: 1, IProduct: 2, ISerialNumber: 3})
	if m, p, s, ok := parseDeviceDescriptor(dev.Bytes()); !ok || m != 1 || p != 2 || s != 3 {
		t.Errorf("device descriptor: %d %d %d %v", m, p, s, ok)
	}
	if s, ok := parseStringDescriptor(stringDescriptor("Logitech (x64)")); !ok || s != "Logitech (x64)" {
		t.Errorf("string %q", s)
	}
	// bLength longer than the bytes, odd, or a wrong type.
	if s, ok := parseStringDescriptor([]byte{200, 3, 'A', 0, 'B'}); !ok || s != "A" {
		t.Errorf("short: %q %v", s, ok)
	}
	if _, ok := parseStringDescriptor([]byte{4, 2, 'A', 0}); ok {
		t.Error("wrong type read")
	}
	if got := parseLangIDs([]byte{4, 3, 0x09, 0x04}); len(got) != 1 || got[0] != 0x409 {
		t.Errorf("langs %v", got)
	}
	buf := append(make([]byte, 12), stringDescriptor("x")...)
	if got := descriptorAnswer(buf, len(buf)); len(got) != 4 {
		t.Errorf("answer % x", got)
	}
	if descriptorAnswer(buf, 12) != nil || descriptorAnswer(buf, 999) != nil {
		t.Error("no answer read as one")
	}
}

func TestHIDPDecode(t *testing.T) {
	var caps bytes.Buffer
	binary.Write(&caps, binary.LittleEndian, hidpCaps{Usage: 2, UsagePage: 1, NumberInputValueCaps: 2})
	page, usage, n, ok := decodeHIDPCaps(caps.Bytes())
	if !ok || page != 1 || usage != 2 || n != 2 {
		t.Fatalf("caps %d %d %d %v", page, usage, n, ok)
	}
	var vals bytes.Buffer
	binary.Write(&vals, binary.LittleEndian, []hidpValueCaps{
		{UsagePage: 1, IsRange: 1, IsAbsolute: 1, UsageMin: 0x30, UsageMax: 0x31},
		{UsagePage: 1, UsageMin: 0x38, UsageMax: 0x99}, // NotRange: Usage, Reserved1
	})
	got := decodeHIDPValueCaps(vals.Bytes(), 5)
	want := []hidValue{{UsagePage: 1, UsageMin: 0x30, UsageMax: 0x31, Absolute: true}, {UsagePage: 1, UsageMin: 0x38, UsageMax: 0x38}}
	if len(got) != 2 || got[0] != want[0] || got[1] != want[1] {
		t.Errorf("values %+v", got)
	}
}

func FuzzWindowsDecoders(f *testing.F) {
	f.Add(stringDescriptor("PiKVM"), []byte{18, 1, 0, 2, 0, 0, 0, 64, 0x6b, 0x1d, 4, 1, 0, 1, 1, 2, 3, 1}, make([]byte, 64+72), "Port_#0002.Hub_#0001")
	f.Fuzz(func(t *testing.T, str, dev, hid []byte, loc string) {
		if s, ok := parseStringDescriptor(str); ok && len(s) > 3*len(str) {
			t.Fatalf("string of %d bytes from %d", len(s), len(str))
		}
		if l := parseLangIDs(str); len(l) > 16 || len(l)*2 > len(str) {
			t.Fatalf("%d langs from %d bytes", len(l), len(str))
		}
		parseDeviceDescriptor(dev)
		_, _, n, ok := decodeHIDPCaps(hid)
		if vs := decodeHIDPValueCaps(hid, n); len(vs) > maxValueCaps || len(vs)*sizeofHIDPValueCaps > len(hid) || !ok && n != 0 {
			t.Fatalf("%d values from %d bytes", len(vs), len(hid))
		} else {
			for _, v := range vs {
				if v.UsageMax < v.UsageMin {
					t.Fatalf("range %+v", v)
				}
			}
		}
		if p, ok := locationPort(loc); ok && (p == 0 || p > 255) {
			t.Fatalf("port %d", p)
		}
		if v, m, r, _, ok := usbstorInquiry(loc); ok && len(v)+len(m)+len(r) > len(loc) {
			t.Fatalf("inquiry longer than %q", loc)
		}
	})
}
