package usb

import (
	"encoding/json"
	"strings"
	"testing"

	fwv1 "github.com/farmwatch/farmwatch/proto/farmwatch/v1"
	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/testing/protocmp"
)

// usbJSON is api/usb.json of a Windows laptop with a PiKVM (composite:
// keyboard, absolute mouse, relative mouse, CD-ROM) and a Logitech receiver,
// in the layout of API.md. The PiKVM's instance id and strings are those a
// Windows USB tree dump shows (https://github.com/rasteri/HIDman/issues/79);
// the rest is assembled from the standard PnP id formats.
const usbJSON = `[
 {"instance_id": "USB\\VID_1D6B&PID_0104\\CAFEBABE", "parent": "USB\\ROOT_HUB30\\4&2A0E7A6C&0&0",
  "hardware_ids": ["USB\\VID_1D6B&PID_0104&REV_0100", "USB\\VID_1D6B&PID_0104"],
  "compatible_ids": ["USB\\DevClass_00&SubClass_00&Prot_00", "USB\\DevClass_00&SubClass_00", "USB\\DevClass_00", "USB\\COMPOSITE"],
  "service": "usbccgp", "class": "USB", "manufacturer": "(Standard USB Host Controller)", "description": "USB Composite Device",
  "bus_reported_description": "PiKVM Composite Device", "location_information": "Port_#0002.Hub_#0001"},
 {"instance_id": "USB\\VID_1D6B&PID_0104&MI_00\\7&1C3E5A2B&0&0000", "parent": "USB\\VID_1D6B&PID_0104\\CAFEBABE",
  "hardware_ids": ["USB\\VID_1D6B&PID_0104&REV_0100&MI_00", "USB\\VID_1D6B&PID_0104&MI_00"],
  "compatible_ids": ["USB\\Class_03&SubClass_01&Prot_01", "USB\\Class_03&SubClass_01", "USB\\Class_03"], "service": "HidUsb", "class": "HIDClass"},
 {"instance_id": "HID\\VID_1D6B&PID_0104&MI_00\\8&2F1A0C1&0&0000", "parent": "USB\\VID_1D6B&PID_0104&MI_00\\7&1C3E5A2B&0&0000",
  "hardware_ids": ["HID\\VID_1D6B&PID_0104&REV_0100&MI_00", "HID\\VID_1D6B&PID_0104&MI_00"],
  "compatible_ids": ["HID_DEVICE_SYSTEM_KEYBOARD", "HID_DEVICE_UP:0001_U:0006", "HID_DEVICE"], "service": "kbdhid", "class": "Keyboard"},
 {"instance_id": "USB\\VID_1D6B&PID_0104&MI_01\\7&1C3E5A2B&0&0001", "parent": "USB\\VID_1D6B&PID_0104\\CAFEBABE",
  "hardware_ids": ["USB\\VID_1D6B&PID_0104&REV_0100&MI_01"], "compatible_ids": ["USB\\Class_03&SubClass_00&Prot_00"], "service": "HidUsb"},
 {"instance_id": "HID\\VID_1D6B&PID_0104&MI_01\\8&3B2C1D0&0&0000", "parent": "USB\\VID_1D6B&PID_0104&MI_01\\7&1C3E5A2B&0&0001",
  "compatible_ids": ["HID_DEVICE_SYSTEM_MOUSE", "HID_DEVICE_UP:0001_U:0002", "HID_DEVICE"], "service": "mouhid", "class": "Mouse"},
 {"instance_id": "USB\\VID_1D6B&PID_0104&MI_02\\7&1C3E5A2B&0&0002", "parent": "USB\\VID_1D6B&PID_0104\\CAFEBABE",
  "hardware_ids": ["USB\\VID_1D6B&PID_0104&REV_0100&MI_02"], "compatible_ids": ["USB\\Class_03&SubClass_01&Prot_02"], "service": "HidUsb"},
 {"instance_id": "HID\\VID_1D6B&PID_0104&MI_02\\8&1D0F2E3&0&0000", "parent": "USB\\VID_1D6B&PID_0104&MI_02\\7&1C3E5A2B&0&0002",
  "compatible_ids": ["HID_DEVICE_SYSTEM_MOUSE", "HID_DEVICE_UP:0001_U:0002", "HID_DEVICE"], "service": "mouhid"},
 {"instance_id": "USB\\VID_1D6B&PID_0104&MI_03\\7&1C3E5A2B&0&0003", "parent": "USB\\VID_1D6B&PID_0104\\CAFEBABE",
  "hardware_ids": ["USB\\VID_1D6B&PID_0104&REV_0100&MI_03"], "compatible_ids": ["USB\\Class_08&SubClass_06&Prot_50"], "service": "USBSTOR"},
 {"instance_id": "USBSTOR\\CDROM&VEN_PIKVM&PROD_OPTICAL_DRIVE&REV_1.00\\8&9A1B2C3&0", "parent": "USB\\VID_1D6B&PID_0104&MI_03\\7&1C3E5A2B&0&0003",
  "hardware_ids": ["USBSTOR\\CdRomPiKVM___Optical_Drive___1.00", "USBSTOR\\CdRomPiKVM___Optical_Drive___", "USBSTOR\\CdRomPiKVM___", "GenCdRom"],
  "service": "cdrom", "class": "CDROM", "removable": true},
 {"instance_id": "USB\\VID_046D&PID_C52B\\6&12AB34CD&0&3", "parent": "USB\\ROOT_HUB30\\4&2A0E7A6C&0&0",
  "hardware_ids": ["USB\\VID_046D&PID_C52B&REV_1211"], "compatible_ids": ["USB\\DevClass_00&SubClass_00&Prot_00", "USB\\COMPOSITE"],
  "service": "usbccgp", "manufacturer": "(Standard USB Host Controller)", "description": "USB Composite Device", "bus_reported_description": "USB Receiver"},
 {"instance_id": "USB\\VID_046D&PID_C52B&MI_00\\7&AA&0&0000", "parent": "USB\\VID_046D&PID_C52B\\6&12AB34CD&0&3",
  "compatible_ids": ["USB\\Class_03&SubClass_01&Prot_01"], "service": "HidUsb"},
 {"instance_id": "USB\\VID_046D&PID_C52B&MI_01\\7&AA&0&0001", "parent": "USB\\VID_046D&PID_C52B\\6&12AB34CD&0&3",
  "compatible_ids": ["USB\\Class_03&SubClass_01&Prot_02"], "service": "HidUsb"},
 {"instance_id": "USB\\ROOT_HUB30\\4&2A0E7A6C&0&0", "hardware_ids": ["USB\\ROOT_HUB30&VID8086&PID7AE0&REV0011", "USB\\ROOT_HUB30"], "service": "USBHUB3"}
]`

func TestPnpDevices(t *testing.T) {
	var recs []pnpRecord
	if err := json.Unmarshal([]byte(usbJSON), &recs); err != nil {
		t.Fatal(err)
	}
	got := pnpDevices(recs)
	want := []*fwv1.UsbDevice{
		{VendorId: 0x046d, ProductId: 0xc52b, Product: "USB Receiver", BusPath: `USB\VID_046D&PID_C52B\6&12AB34CD&0&3`,
			Interfaces: []*fwv1.UsbInterface{
				{Number: 0, Class: 3, Subclass: 1, Protocol: 1, Driver: "HidUsb", Hid: &fwv1.HidInfo{Keyboard: true, Usages: []string{"0001:0006"}}},
				{Number: 1, Class: 3, Subclass: 1, Protocol: 2, Driver: "HidUsb", Hid: &fwv1.HidInfo{Usages: []string{"0001:0002"}}},
			}},
		{VendorId: 0x1d6b, ProductId: 0x0104, Product: "PiKVM Composite Device", Serial: "CAFEBABE", BusPath: `USB\VID_1D6B&PID_0104\CAFEBABE`,
			Interfaces: []*fwv1.UsbInterface{
				{Number: 0, Class: 3, Subclass: 1, Protocol: 1, Driver: "HidUsb", Hid: &fwv1.HidInfo{Keyboard: true, Usages: []string{"0001:0006"}}},
				{Number: 1, Class: 3, Driver: "HidUsb", Hid: &fwv1.HidInfo{Usages: []string{"0001:0002"}}},
				{Number: 2, Class: 3, Subclass: 1, Protocol: 2, Driver: "HidUsb", Hid: &fwv1.HidInfo{Usages: []string{"0001:0002"}}},
				{Number: 3, Class: 8, Subclass: 6, Protocol: 0x50, Driver: "USBSTOR", ScsiVendor: "PiKVM", ScsiModel: "Optical Drive", ScsiRevision: "1.00", Cdrom: true, Removable: true},
			}},
	}
	if d := cmp.Diff(want, got, protocmp.Transform()); d != "" {
		t.Errorf("(-want +got):\n%s", d)
	}
}

func TestPnpSingleInterfaceDevice(t *testing.T) {
	recs := []pnpRecord{
		{InstanceID: `USB\VID_0557&PID_2419\5&1A2B3C4D&0&1`, HardwareIDs: []string{`USB\VID_0557&PID_2419&REV_0100`}, CompatibleIDs: []string{`USB\Class_03&SubClass_01&Prot_01`}, Service: "HidUsb"},
		{InstanceID: `HID\VID_0557&PID_2419\6&1&0&0000`, Parent: `USB\VID_0557&PID_2419\5&1A2B3C4D&0&1`, CompatibleIDs: []string{`HID_DEVICE_UP:0001_U:0006`}},
	}
	got := pnpDevices(recs)
	if len(got) != 1 || got[0].Serial != "" || len(got[0].Interfaces) != 1 || !got[0].Interfaces[0].Hid.Keyboard {
		t.Errorf("got %v", got)
	}
}

func TestUsbstorInquiry(t *testing.T) {
	tests := []struct {
		in                 string
		vendor, model, rev string
		cdrom, ok          bool
	}{
		{`USBSTOR\CdRomPiKVM___Optical_Drive___1.00`, "PiKVM", "Optical Drive", "1.00", true, true},
		{`USBSTOR\DiskNanoKVM_USB_Mass_Storage0520`, "NanoKVM", "USB Mass Storage", "0520", false, true},
		{`USBSTOR\CdRomJetKVM__Virtual_Media_______`, "JetKVM", "Virtual Media", "", true, true},
		{`USBSTOR\CdRomPiKVM___`, "", "", "", false, false},
		{`GenCdRom`, "", "", "", false, false},
	}
	for _, tc := range tests {
		v, m, r, cd, ok := usbstorInquiry(tc.in)
		if v != tc.vendor || m != tc.model || r != tc.rev || cd != tc.cdrom || ok != tc.ok {
			t.Errorf("usbstorInquiry(%q) = %q %q %q %v %v", tc.in, v, m, r, cd, ok)
		}
	}
}

func FuzzPnpDevices(f *testing.F) {
	f.Add([]byte(usbJSON))
	f.Add([]byte(`[{"instance_id":"USB\\VID_1&PID_2\\x","parent":"USB\\VID_1&PID_2\\x"}]`))
	f.Add([]byte(`[{"instance_id":"USB\\VID_1D6B&PID_0104&MI_0","hardware_ids":["USBSTOR\\CdRom"]}]`))
	f.Fuzz(func(t *testing.T, b []byte) {
		var recs []pnpRecord
		if json.Unmarshal(b, &recs) != nil {
			return
		}
		ds := pnpDevices(recs)
		if len(ds) > len(recs) {
			t.Fatalf("%d devices from %d nodes", len(ds), len(recs))
		}
		for _, d := range ds {
			if !strings.HasPrefix(strings.ToUpper(d.BusPath), `USB\`) || len(d.Interfaces) == 0 {
				t.Fatalf("device %v: not a USB node, or no interface", d)
			}
		}
		checkDevices(t, ds)
	})
}

// TestPnpHIDValues checks the classification by the input values that
// Windows' HID parser gives (HidP_GetValueCaps): JetKVM's absolute mouse
// and a relative mouse, and a keyboard by its top-level collection.
func TestPnpHIDValues(t *testing.T) {
	const dev = `USB\VID_046D&PID_C52B\7&2B4C1D9E&0&1`
	recs := []pnpRecord{
		{InstanceID: dev, CompatibleIDs: []string{`USB\COMPOSITE`}, Service: "usbccgp"},
		{InstanceID: `USB\VID_046D&PID_C52B&MI_00\8&1&0&0000`, Parent: dev, CompatibleIDs: []string{`USB\Class_03&SubClass_01&Prot_01`}},
		{InstanceID: `HID\VID_046D&PID_C52B&MI_00\9&1&0&0000`, Parent: `USB\VID_046D&PID_C52B&MI_00\8&1&0&0000`, HIDUsagePage: 1, HIDUsage: 6},
		{InstanceID: `USB\VID_046D&PID_C52B&MI_01\8&1&0&0001`, Parent: dev, CompatibleIDs: []string{`USB\Class_03&SubClass_00&Prot_02`}},
		{InstanceID: `HID\VID_046D&PID_C52B&MI_01\9&1&0&0000`, Parent: `USB\VID_046D&PID_C52B&MI_01\8&1&0&0001`, HIDUsagePage: 1, HIDUsage: 2,
			HIDValues: []hidValue{{UsagePage: 1, UsageMin: 0x30, UsageMax: 0x30, Absolute: true}, {UsagePage: 1, UsageMin: 0x31, UsageMax: 0x31, Absolute: true}, {UsagePage: 1, UsageMin: 0x38, UsageMax: 0x38}}},
		{InstanceID: `USB\VID_046D&PID_C52B&MI_02\8&1&0&0002`, Parent: dev, CompatibleIDs: []string{`USB\Class_03&SubClass_01&Prot_02`}},
		{InstanceID: `HID\VID_046D&PID_C52B&MI_02\9&1&0&0000`, Parent: `USB\VID_046D&PID_C52B&MI_02\8&1&0&0002`, HIDUsagePage: 1, HIDUsage: 2,
			HIDValues: []hidValue{{UsagePage: 1, UsageMin: 0x30, UsageMax: 0x38}}},
	}
	got := pnpDevices(recs)
	if len(got) != 1 || len(got[0].Interfaces) != 3 {
		t.Fatalf("got %v", got)
	}
	want := []*fwv1.HidInfo{
		{Keyboard: true, DescriptorRead: true, Usages: []string{"0001:0006"}},
		{AbsolutePointer: true, DescriptorRead: true, Usages: []string{"0001:0002"}},
		{RelativePointer: true, DescriptorRead: true, Usages: []string{"0001:0002"}},
	}
	for i, w := range want {
		if d := cmp.Diff(w, got[0].Interfaces[i].Hid, protocmp.Transform()); d != "" {
			t.Errorf("interface %d (-want +got):\n%s", i, d)
		}
	}
}
