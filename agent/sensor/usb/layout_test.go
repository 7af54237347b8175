package usb

import (
	"encoding/binary"
	"testing"
	"unsafe"
)

// The documented layouts of the structures the live agent fills or reads
// (hidpi.h; usbioctl.h and usbspec.h, packed), the same on 386, amd64 and
// arm64. The Go mirrors must agree with them as Go lays them out and as
// encoding/binary reads them.
func TestWindowsLayouts(t *testing.T) {
	var caps hidpCaps
	var vc hidpValueCaps
	var req usbDescriptorRequest
	var dev usbDeviceDescriptor
	for _, c := range []struct {
		name      string
		got, want uintptr
		bin       int
	}{
		{"HIDP_CAPS", unsafe.Sizeof(caps), 64, binary.Size(caps)},
		{"HIDP_CAPS.NumberInputValueCaps", unsafe.Offsetof(caps.NumberInputValueCaps), 48, -1},
		{"HIDP_VALUE_CAPS", unsafe.Sizeof(vc), 72, binary.Size(vc)},
		{"HIDP_VALUE_CAPS.IsRange", unsafe.Offsetof(vc.IsRange), 12, -1},
		{"HIDP_VALUE_CAPS.IsAbsolute", unsafe.Offsetof(vc.IsAbsolute), 15, -1},
		{"HIDP_VALUE_CAPS.UnitsExp", unsafe.Offsetof(vc.UnitsExp), 32, -1},
		{"HIDP_VALUE_CAPS.Range.UsageMin", unsafe.Offsetof(vc.UsageMin), 56, -1},
		{"HIDP_VALUE_CAPS.Range.UsageMax", unsafe.Offsetof(vc.UsageMax), 58, -1},
		{"USB_DESCRIPTOR_REQUEST (Data)", unsafe.Sizeof(req), 12, binary.Size(req)},
		{"USB_DESCRIPTOR_REQUEST.SetupPacket.wValue", unsafe.Offsetof(req.WValue), 6, -1},
		{"USB_DESCRIPTOR_REQUEST.SetupPacket.wLength", unsafe.Offsetof(req.WLength), 10, -1},
		{"USB_DEVICE_DESCRIPTOR", unsafe.Sizeof(dev), 18, binary.Size(dev)},
		{"USB_DEVICE_DESCRIPTOR.idVendor", unsafe.Offsetof(dev.IDVendor), 8, -1},
		{"USB_DEVICE_DESCRIPTOR.iManufacturer", unsafe.Offsetof(dev.IManufacturer), 14, -1},
	} {
		if c.got != c.want || c.bin >= 0 && uintptr(c.bin) != c.want {
			t.Errorf("%s: Go lays out %d (encoding/binary %d), documented %d", c.name, c.got, c.bin, c.want)
		}
	}
	// IOCTL_USB_GET_DESCRIPTOR_FROM_NODE_CONNECTION = CTL_CODE(FILE_DEVICE_USB
	// (0x22), 260, METHOD_BUFFERED, FILE_ANY_ACCESS).
	if want := uint32(0x22<<16 | 260<<2); ioctlUSBGetDescriptorFromNC != want {
		t.Errorf("IOCTL %#x, want %#x", ioctlUSBGetDescriptorFromNC, want)
	}
}
