package usb

import (
	"encoding/base64"
	"fmt"
	"strings"
	"testing"

	fwv1 "github.com/farmwatch/farmwatch/proto/farmwatch/v1"
	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/testing/protocmp"
)

// descLogiM240 is the ReportDescriptor of a real Logitech M240 mouse as
// ioreg shows it, published as test data of a public macOS tool (code
// index id 54583295273): a relative mouse with 12-bit X/Y.
var descLogiM240, _ = base64.StdEncoding.DecodeString("BQEJAqEBhQIJAaEAlQN1ARUAJQEFCRkBKQOBApUNgQMFARYB+Cb/BzYB+Eb/B1UNZRN1DJUCCTAJMYEGFYElfzUARQB1CJUBCTiBBpUBgQPAwAZD/woCAqEBhRGVE3UIFQAm/wAJAoEACQKRAMA=")

// ioregHID is one HID service below an interface, as IOKit publishes it
// (AppleUserUSBHostHIDDevice on macOS 11 and later).
func ioregHID(desc []byte) string {
	return fmt.Sprintf(`<dict><key>IOObjectClass</key><string>AppleUserUSBHostHIDDevice</string>
<key>IOClass</key><string>AppleUserUSBHostHIDDevice</string>
<key>ReportDescriptor</key><data>%s</data></dict>`, base64.StdEncoding.EncodeToString(desc))
}

func ioregIntf(n, class, sub, proto int, driver string, kids ...string) string {
	k := ""
	if driver != "" || len(kids) > 0 {
		if driver != "" {
			kids = append([]string{fmt.Sprintf(`<dict><key>IOObjectClass</key><string>%s</string><key>IOClass</key><string>%s</string>%s</dict>`, driver, driver, "")}, kids...)
		}
		k = "<key>IORegistryEntryChildren</key><array>" + strings.Join(kids, "\n") + "</array>"
	}
	return fmt.Sprintf(`<dict><key>IOObjectClass</key><string>IOUSBHostInterface</string>
<key>bInterfaceNumber</key><integer>%d</integer><key>bInterfaceClass</key><integer>%d</integer>
<key>bInterfaceSubClass</key><integer>%d</integer><key>bInterfaceProtocol</key><integer>%d</integer>%s</dict>`, n, class, sub, proto, k)
}

// ioregFixture is `ioreg -a -r -c IOUSBHostDevice -l` of a Mac with a PiKVM
// and a Logitech receiver plugged in, in the XML plist layout ioreg -a
// prints (property names as IOUSBHostFamily publishes them); assembled, not
// captured.
func ioregFixture() string {
	cd := `<dict><key>IOObjectClass</key><string>IOSCSIPeripheralDeviceType05</string>
<key>Vendor Identification</key><string>PiKVM</string><key>Product Identification</key><string>Optical Drive</string>
<key>Product Revision Level</key><string>1.00</string><key>Peripheral Device Type</key><integer>5</integer></dict>`
	return `<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
<plist version="1.0">
<array>
<dict>
<key>IOObjectClass</key><string>IOUSBHostDevice</string>
<key>IORegistryEntryName</key><string>PiKVM Composite Device</string>
<key>idVendor</key><integer>7531</integer><key>idProduct</key><integer>260</integer>
<key>USB Vendor Name</key><string>PiKVM</string><key>USB Product Name</key><string>PiKVM Composite Device</string>
<key>USB Serial Number</key><string>CAFEBABE</string><key>kUSBSerialNumberString</key><string>CAFEBABE</string>
<key>bDeviceClass</key><integer>0</integer><key>locationID</key><integer>34603008</integer><key>Device Speed</key><integer>2</integer>
<key>IORegistryEntryChildren</key><array>
` + ioregIntf(0, 3, 1, 1, "", ioregHID(descPiKVMKeyboard)) + ioregIntf(1, 3, 0, 0, "", ioregHID(descPiKVMAbsMouse)) +
		ioregIntf(2, 3, 1, 2, "", ioregHID(descPiKVMRelMouse)) + ioregIntf(3, 8, 6, 80, "IOUSBMassStorageInterfaceNub", cd) + `
</array>
</dict>
<dict>
<key>IOObjectClass</key><string>IOUSBHostDevice</string>
<key>idVendor</key><integer>1133</integer><key>idProduct</key><integer>50475</integer>
<key>USB Vendor Name</key><string>Logitech</string><key>USB Product Name</key><string>USB Receiver</string>
<key>bDeviceClass</key><integer>0</integer><key>locationID</key><integer>1048576</integer><key>Device Speed</key><integer>1</integer>
<key>IORegistryEntryChildren</key><array>
` + ioregIntf(0, 3, 1, 1, "", ioregHID(descKernelKeyboard)) + ioregIntf(1, 3, 1, 2, "", ioregHID(descLogiM240)) +
		ioregIntf(2, 3, 0, 0, "", `<dict><key>IOObjectClass</key><string>IOHIDInterface</string><key>PrimaryUsagePage</key><integer>65280</integer><key>PrimaryUsage</key><integer>1</integer></dict>`) + `
</array>
</dict>
</array>
</plist>
`
}

func TestParseIoreg(t *testing.T) {
	got, err := parseIoreg([]byte(ioregFixture()))
	if err != nil {
		t.Fatal(err)
	}
	want := []*fwv1.UsbDevice{
		{VendorId: 0x046d, ProductId: 0xc52b, Manufacturer: "Logitech", Product: "USB Receiver", BusPath: "00100000", Speed: "12",
			Interfaces: []*fwv1.UsbInterface{
				{Number: 0, Class: 3, Subclass: 1, Protocol: 1, Driver: "AppleUserUSBHostHIDDevice", Hid: &fwv1.HidInfo{Keyboard: true, DescriptorRead: true, Usages: []string{"0001:0006"}}},
				{Number: 1, Class: 3, Subclass: 1, Protocol: 2, Driver: "AppleUserUSBHostHIDDevice", Hid: &fwv1.HidInfo{RelativePointer: true, DescriptorRead: true, Usages: []string{"0001:0002", "ff43:0202"}}},
				{Number: 2, Class: 3, Hid: &fwv1.HidInfo{Usages: []string{"ff00:0001"}}},
			}},
		{VendorId: 0x1d6b, ProductId: 0x0104, Manufacturer: "PiKVM", Product: "PiKVM Composite Device", Serial: "CAFEBABE", BusPath: "02100000", Speed: "480",
			Interfaces: []*fwv1.UsbInterface{
				{Number: 0, Class: 3, Subclass: 1, Protocol: 1, Driver: "AppleUserUSBHostHIDDevice", Hid: &fwv1.HidInfo{Keyboard: true, DescriptorRead: true, Usages: []string{"0001:0006"}}},
				{Number: 1, Class: 3, Driver: "AppleUserUSBHostHIDDevice", Hid: &fwv1.HidInfo{AbsolutePointer: true, DescriptorRead: true, Usages: []string{"0001:0002"}}},
				{Number: 2, Class: 3, Subclass: 1, Protocol: 2, Driver: "AppleUserUSBHostHIDDevice", Hid: &fwv1.HidInfo{RelativePointer: true, DescriptorRead: true, Usages: []string{"0001:0002"}}},
				{Number: 3, Class: 8, Subclass: 6, Protocol: 80, Driver: "IOUSBMassStorageInterfaceNub", ScsiVendor: "PiKVM", ScsiModel: "Optical Drive", ScsiRevision: "1.00", Cdrom: true},
			}},
	}
	if d := cmp.Diff(want, got, protocmp.Transform()); d != "" {
		t.Errorf("(-want +got):\n%s", d)
	}
}

// profilerFixture is `system_profiler -json SPUSBDataType` in the layout of
// macOS 12-15 (buses with nested _items; vendor_id with the vendor's name;
// apple_vendor_id for Apple's own), assembled after published outputs
// (mudita-center and PalmSync4Mac test data).
const profilerFixture = `{
  "SPUSBDataType" : [
    { "_name" : "USB31Bus", "host_controller" : "AppleT8112USBXHCI" },
    {
      "_items" : [
        {
          "_items" : [
            { "_name" : "Glinet Composite Device", "bcd_device" : "1.00", "device_speed" : "high_speed",
              "location_id" : "0x01110000 / 3", "manufacturer" : "Glinet", "product_id" : "0x0104",
              "serial_num" : "CAFEBABE", "vendor_id" : "0x38eb" }
          ],
          "_name" : "USB2.1 Hub", "location_id" : "0x01100000 / 2", "manufacturer" : "GenesysLogic",
          "product_id" : "0x0610", "vendor_id" : "0x05e3  (Genesys Logic, Inc.)", "device_speed" : "high_speed"
        },
        { "_name" : "Keyboard", "product_id" : "0x0250", "vendor_id" : "apple_vendor_id", "location_id" : "0x01200000 / 4" }
      ],
      "_name" : "USB31Bus", "host_controller" : "AppleT8112USBXHCI"
    }
  ]
}`

func TestParseSystemProfiler(t *testing.T) {
	got, err := parseSystemProfiler([]byte(profilerFixture))
	if err != nil {
		t.Fatal(err)
	}
	want := []*fwv1.UsbDevice{
		{VendorId: 0x05e3, ProductId: 0x0610, Manufacturer: "GenesysLogic", Product: "USB2.1 Hub", BusPath: "01100000", Speed: "480"},
		{VendorId: 0x38eb, ProductId: 0x0104, Manufacturer: "Glinet", Product: "Glinet Composite Device", Serial: "CAFEBABE", BusPath: "01110000", Speed: "480"},
		{VendorId: 0x05ac, ProductId: 0x0250, Product: "Keyboard", BusPath: "01200000"},
	}
	if d := cmp.Diff(want, got, protocmp.Transform()); d != "" {
		t.Errorf("(-want +got):\n%s", d)
	}
	if _, err := parseSystemProfiler([]byte(`{"SPUSBDataType" : [ ] }`)); err != nil {
		t.Errorf("empty: %v", err)
	}
	if _, err := parseSystemProfiler([]byte(`{`)); err == nil {
		t.Error("broken JSON: no error")
	}
}

func TestLeadingHex(t *testing.T) {
	for in, want := range map[string]uint64{"0x046d  (Logitech Inc.)": 0x46d, "0x01110000 / 3": 0x1110000, "apple_vendor_id": 0xa, "": 0, "zz": 0} {
		if got := leadingHex(in); got != want {
			t.Errorf("leadingHex(%q) = %#x, want %#x", in, got, want)
		}
	}
}

func FuzzParseIoreg(f *testing.F) {
	f.Add([]byte(ioregFixture()))
	f.Add([]byte(`<?xml version="1.0"?><plist version="1.0"><array><dict><key>idVendor</key><integer>1</integer><key>locationID</key><integer>2</integer></dict></array></plist>`))
	f.Add([]byte(`<plist><array><dict><key>IORegistryEntryChildren</key><string>x</string></dict></array></plist>`))
	f.Fuzz(func(t *testing.T, b []byte) {
		ds, err := parseIoreg(b)
		if err == nil {
			checkDevices(t, ds)
		}
	})
}

func FuzzParseSystemProfiler(f *testing.F) {
	f.Add([]byte(profilerFixture))
	f.Add([]byte(`{"SPUSBDataType":[{"_items":[{"_items":[{"_items":[]}]}]}]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		ds, err := parseSystemProfiler(b)
		if err == nil {
			checkDevices(t, ds)
		}
	})
}

// TestParseIoregHub checks that a device behind a hub (IOKit nests it
// below the hub's interface and port) is its own device, and that its HID
// does not leak into the hub's interface.
func TestParseIoregHub(t *testing.T) {
	child := `<dict><key>IOObjectClass</key><string>IOUSBHostDevice</string><key>idVendor</key><integer>14571</integer>
<key>idProduct</key><integer>260</integer><key>locationID</key><integer>17891328</integer><key>IORegistryEntryChildren</key><array>` +
		ioregIntf(0, 3, 1, 1, "", ioregHID(descPiKVMKeyboard)) + `</array></dict>`
	port := `<dict><key>IOObjectClass</key><string>AppleUSB20HubPort</string><key>IORegistryEntryChildren</key><array>` + child + `</array></dict>`
	doc := `<?xml version="1.0" encoding="UTF-8"?><plist version="1.0"><array>
<dict><key>IOObjectClass</key><string>IOUSBHostDevice</string><key>idVendor</key><integer>1507</integer><key>idProduct</key><integer>1552</integer>
<key>bDeviceClass</key><integer>9</integer><key>locationID</key><integer>17825792</integer><key>IORegistryEntryChildren</key><array>` +
		ioregIntf(0, 9, 0, 0, "AppleUSB20Hub", port) + `</array></dict></array></plist>`
	got, err := parseIoreg([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].BusPath != "01100000" || got[1].BusPath != "01110000" {
		t.Fatalf("got %v", got)
	}
	if got[0].Interfaces[0].Hid != nil || got[0].Interfaces[0].Driver != "AppleUSB20Hub" {
		t.Errorf("hub interface = %v", got[0].Interfaces[0])
	}
	if !got[1].Interfaces[0].Hid.GetKeyboard() {
		t.Errorf("device behind the hub = %v", got[1])
	}
}
