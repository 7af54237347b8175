package usb

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"math"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/farmwatch/farmwatch/agent/host"
	fwv1 "github.com/farmwatch/farmwatch/proto/farmwatch/v1"
	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/testing/protocmp"
)

// senseTree builds devs as a --root tree of a Linux host and senses it.
func senseTree(t testing.TB, devs []fakeDev) []*fwv1.Observation {
	t.Helper()
	dir := t.TempDir()
	if err := writeTree(dirWriter(dir), devs); err != nil {
		t.Fatal(err)
	}
	if err := dirWriter(dir).file("/snapshot.json", []byte(`{"os":"linux","hostname":"t"}`)); err != nil {
		t.Fatal(err)
	}
	h, err := host.FromRoot(dir)
	if err != nil {
		t.Fatal(err)
	}
	obs, err := Sensor{}.Sense(context.Background(), h)
	if err != nil {
		t.Fatal(err)
	}
	return obs
}

func device(obs []*fwv1.Observation, key string) *fwv1.UsbDevice {
	for _, o := range obs {
		if o.Key == key {
			return o.GetUsbDevice()
		}
	}
	return nil
}

func TestLinuxPiKVM(t *testing.T) {
	obs := senseTree(t, testHosts()["linux-pikvm-v4plus"])
	if len(obs) != 5 {
		t.Fatalf("got %d devices, want 5 (2 root hubs, camera, bluetooth, PiKVM)", len(obs))
	}
	got := device(obs, "usb/1-2")
	want := &fwv1.UsbDevice{
		VendorId: 0x1d6b, ProductId: 0x0104, Manufacturer: "PiKVM", Product: "PiKVM Composite Device", Serial: "CAFEBABE",
		BusPath: "1-2", Speed: "480",
		Interfaces: []*fwv1.UsbInterface{
			{Number: 0, Class: 3, Subclass: 1, Protocol: 1, Driver: "usbhid", Hid: &fwv1.HidInfo{Keyboard: true, DescriptorRead: true, Usages: []string{"0001:0006"}}},
			{Number: 1, Class: 3, Driver: "usbhid", Hid: &fwv1.HidInfo{AbsolutePointer: true, DescriptorRead: true, Usages: []string{"0001:0002"}}},
			{Number: 2, Class: 3, Subclass: 1, Protocol: 2, Driver: "usbhid", Hid: &fwv1.HidInfo{RelativePointer: true, DescriptorRead: true, Usages: []string{"0001:0002"}}},
			{Number: 3, Class: 8, Subclass: 6, Protocol: 0x50, Driver: "usb-storage", ScsiVendor: "PiKVM", ScsiModel: "Optical Drive", ScsiRevision: "1.00", Removable: true, Cdrom: true},
		},
	}
	if d := cmp.Diff(want, got, protocmp.Transform()); d != "" {
		t.Errorf("PiKVM (-want +got):\n%s", d)
	}
	hub := device(obs, "usb/usb1")
	if hub == nil || hub.VendorId != 0x1d6b || hub.ProductId != 2 || len(hub.Interfaces) != 1 || hub.Interfaces[0].Class != 9 {
		t.Errorf("root hub usb1 = %v", hub)
	}
}

func TestLinuxHosts(t *testing.T) {
	type check func(*fwv1.UsbDevice) bool
	tests := []struct {
		host, key string
		ok        check
	}{
		{"linux-tinypilot", "usb/1-2", func(d *fwv1.UsbDevice) bool {
			return d.Configurations[0] == "Config 1: ECM network" && d.Interfaces[0].Hid.Keyboard && d.Interfaces[1].Hid.AbsolutePointer
		}},
		{"linux-jetkvm-logitech-preset", "usb/1-2", func(d *fwv1.UsbDevice) bool {
			return d.VendorId == 0x046d && d.Interfaces[1].Hid.AbsolutePointer && !d.Interfaces[1].Hid.RelativePointer &&
				d.Interfaces[2].Hid.RelativePointer && d.Interfaces[3].ScsiVendor == "JetKVM" && d.Interfaces[3].ScsiModel == "Virtual Media"
		}},
		{"linux-nanokvm", "usb/1-2", func(d *fwv1.UsbDevice) bool {
			return d.DeviceClass == 0xef && d.Interfaces[0].Mac == "48:da:35:6d:3a:c1" && d.Interfaces[4].Hid.AbsolutePointer &&
				d.Interfaces[3].Hid.RelativePointer && !d.Interfaces[5].Cdrom && d.Interfaces[5].Removable
		}},
		{"linux-aten-bmc", "usb/9-2.1", func(d *fwv1.UsbDevice) bool {
			h0, h1 := d.Interfaces[0].Hid, d.Interfaces[1].Hid
			return d.VendorId == 0x0557 && h0.Keyboard && !h0.DescriptorRead && !h1.AbsolutePointer && !h1.RelativePointer && h1.Usages[0] == "0001:0002"
		}},
		{"linux-clean-logitech", "usb/1-3", func(d *fwv1.UsbDevice) bool {
			return d.Interfaces[0].Hid.Keyboard && d.Interfaces[1].Hid.RelativePointer && !d.Interfaces[1].Hid.AbsolutePointer &&
				d.Interfaces[2].Hid.Usages[0] == "ff00:0001"
		}},
		{"linux-glkvm-comet", "usb/1-2", func(d *fwv1.UsbDevice) bool {
			return d.VendorId == 0x38eb && len(d.Interfaces) == 6 && d.Interfaces[4].Class == 1
		}},
	}
	for _, tc := range tests {
		t.Run(tc.host, func(t *testing.T) {
			d := device(senseTree(t, testHosts()[tc.host]), tc.key)
			if d == nil {
				t.Fatalf("no %s", tc.key)
			}
			if !tc.ok(d) {
				t.Errorf("%s: unexpected %v", tc.key, d)
			}
		})
	}
}

func TestLinuxNoUSB(t *testing.T) {
	if obs := senseTree(t, nil); len(obs) != 0 {
		t.Errorf("got %v", obs)
	}
}

func TestCleanAttr(t *testing.T) {
	for in, want := range map[string]string{
		"PiKVM\n": "PiKVM", "  SanDisk 3.2Gen1 \n": "SanDisk 3.2Gen1", "a\nb\n": "a", "": "", "\xff\n": "\uFFFD",
	} {
		if got := cleanAttr([]byte(in)); got != want {
			t.Errorf("cleanAttr(%q) = %q, want %q", in, got, want)
		}
	}
	for in, want := range map[string]uint64{"1d6b\n": 0x1d6b, "0x0104": 0x104, "ef": 0xef, "zz": 0, "": 0} {
		if got := parseHex(in); got != want {
			t.Errorf("parseHex(%q) = %#x, want %#x", in, got, want)
		}
	}
	for in, want := range map[string]bool{"0003:046D:C52B.0001": true, "0003:046D:C52B.000G": false, "1-2:1.0": false, "power": false} {
		if got := isHIDDevice(in); got != want {
			t.Errorf("isHIDDevice(%q) = %v", in, got)
		}
	}
}

// FuzzLinuxAttrs feeds arbitrary bytes as every sysfs value of a device.
func FuzzLinuxAttrs(f *testing.F) {
	f.Add([]byte("1d6b\n"), []byte("PiKVM\n"), descPiKVMKeyboard)
	f.Add([]byte("0x046d"), []byte("Logitech (x64)"), descJetKVMAbsMouse)
	f.Add([]byte(""), []byte("\xff\xfe\x00"), []byte{0xfe})
	f.Fuzz(func(t *testing.T, id, str, desc []byte) {
		if v := parseHex(string(id)); v > math.MaxUint32 {
			t.Fatalf("parseHex(%q) = %#x, more than 32 bits", id, v)
		}
		// Any 32-bit value, written as sysfs or a person writes it, is read back.
		v := uint64(binary.LittleEndian.Uint32(append(id, 0, 0, 0, 0)[:4]))
		for _, s := range []string{fmt.Sprintf("%04x\n", v), fmt.Sprintf(" 0x%X ", v), fmt.Sprintf("0X%08x", v)} {
			if got := parseHex(s); got != v {
				t.Fatalf("parseHex(%q) = %#x, want %#x", s, got, v)
			}
		}
		c := cleanAttr(str)
		if !utf8.ValidString(c) || strings.Contains(c, "\n") || c != strings.TrimSpace(c) || len(c) > 3*256 {
			t.Fatalf("cleanAttr(%q) = %q", str, c)
		}
		if i := bytes.IndexByte(str, '\n'); i >= 0 && cleanAttr(str[:i]) != c {
			t.Fatalf("cleanAttr(%q) = %q: more than the first line", str, c)
		}
		h, _ := ParseReportDescriptor(desc)
		checkHID(t, hidInfo(h, true))
	})
}

// TestSnapshotsMatchTrees senses each packed test host of testdata/hosts and
// the same host built as a --root tree: a snapshot must replay exactly what
// the tree gives (and the packed sources must be current: go test -gen,
// then pack).
func TestSnapshotsMatchTrees(t *testing.T) {
	for name, devs := range testHosts() {
		t.Run(name, func(t *testing.T) {
			h, err := host.Open("../../../testdata/hosts/" + name + ".txtar")
			if err != nil {
				t.Fatal(err)
			}
			defer h.Close()
			got, err := Sensor{}.Sense(context.Background(), h)
			if err != nil {
				t.Fatal(err)
			}
			want := senseTree(t, devs)
			if d := cmp.Diff(want, got, protocmp.Transform()); d != "" {
				t.Errorf("snapshot differs from the tree (-tree +snapshot):\n%s", d)
			}
		})
	}
}
