package usb

import (
	"bytes"
	"encoding/binary"
	"strconv"
	"strings"
	"unicode/utf16"
)

// The Windows structures that the live agent fills or decodes, as
// hidpi.h, usbioctl.h and usbspec.h declare them, and pure decoders of
// their bytes, so that they are tested (and fuzzed) on every OS. None holds
// a pointer, so the layout is the same on 386, amd64 and arm64;
// layout_test.go checks it against the documented offsets and
// layout_windows_test.go again at compile time for the GOARCH built.

// hidpCaps mirrors HIDP_CAPS (hidpi.h).
type hidpCaps struct {
	Usage                     uint16
	UsagePage                 uint16
	InputReportByteLength     uint16
	OutputReportByteLength    uint16
	FeatureReportByteLength   uint16
	Reserved                  [17]uint16
	NumberLinkCollectionNodes uint16
	NumberInputButtonCaps     uint16
	NumberInputValueCaps      uint16
	NumberInputDataIndices    uint16
	NumberOutputButtonCaps    uint16
	NumberOutputValueCaps     uint16
	NumberOutputDataIndices   uint16
	NumberFeatureButtonCaps   uint16
	NumberFeatureValueCaps    uint16
	NumberFeatureDataIndices  uint16
}

// hidpValueCaps mirrors HIDP_VALUE_CAPS (hidpi.h); its last union is read
// as Range (UsageMin, UsageMax, ...) or NotRange (Usage, Reserved1, ...).
type hidpValueCaps struct {
	UsagePage         uint16
	ReportID          uint8
	IsAlias           uint8
	BitField          uint16
	LinkCollection    uint16
	LinkUsage         uint16
	LinkUsagePage     uint16
	IsRange           uint8
	IsStringRange     uint8
	IsDesignatorRange uint8
	IsAbsolute        uint8
	HasNull           uint8
	Reserved          uint8
	BitSize           uint16
	ReportCount       uint16
	Reserved2         [5]uint16
	UnitsExp          uint32
	Units             uint32
	LogicalMin        int32
	LogicalMax        int32
	PhysicalMin       int32
	PhysicalMax       int32
	UsageMin          uint16 // Range.UsageMin, or NotRange.Usage
	UsageMax          uint16 // Range.UsageMax
	Union             [12]byte
}

// usbDescriptorRequest mirrors USB_DESCRIPTOR_REQUEST (usbioctl.h, packed):
// the hub port, then the setup packet; the descriptor's bytes follow it.
type usbDescriptorRequest struct {
	ConnectionIndex uint32
	BmRequest       uint8
	BRequest        uint8
	WValue          uint16
	WIndex          uint16
	WLength         uint16
}

// usbDeviceDescriptor mirrors USB_DEVICE_DESCRIPTOR (usbspec.h, packed).
type usbDeviceDescriptor struct {
	BLength            uint8
	BDescriptorType    uint8
	BcdUSB             uint16
	BDeviceClass       uint8
	BDeviceSubClass    uint8
	BDeviceProtocol    uint8
	BMaxPacketSize0    uint8
	IDVendor           uint16
	IDProduct          uint16
	BcdDevice          uint16
	IManufacturer      uint8
	IProduct           uint8
	ISerialNumber      uint8
	BNumConfigurations uint8
}

var (
	sizeofHIDPCaps              = binary.Size(hidpCaps{})
	sizeofHIDPValueCaps         = binary.Size(hidpValueCaps{})
	sizeofUSBDescriptorRequest  = binary.Size(usbDescriptorRequest{})
	sizeofUSBDeviceDescriptor   = binary.Size(usbDeviceDescriptor{})
	hidpStatusSuccess           = uint32(0x00110000) // HIDP_STATUS_SUCCESS, an NTSTATUS
	usbDeviceDescriptorType     = uint8(1)
	usbStringDescriptorType     = uint8(3)
	usbRequestGetDescriptor     = uint8(6)
	maxStringDescriptor         = 255
	maxValueCaps                = 256
	hidpInput                   = uintptr(0) // HidP_Input
	ioctlUSBGetDescriptorFromNC = uint32(0x220410)
)

// decodeHIDPCaps reads HIDP_CAPS: the top-level collection's usage page and
// usage, and how many input values it has.
func decodeHIDPCaps(b []byte) (page, usage uint16, inputValues int, ok bool) {
	var c hidpCaps
	if len(b) < sizeofHIDPCaps || binary.Read(bytes.NewReader(b), binary.LittleEndian, &c) != nil {
		return 0, 0, 0, false
	}
	return c.UsagePage, c.Usage, int(c.NumberInputValueCaps), true
}

// decodeHIDPValueCaps reads up to n HIDP_VALUE_CAPS (at most maxValueCaps,
// at most as many as the bytes hold): each value's usage page, usage or
// usage range, and whether it is absolute.
func decodeHIDPValueCaps(b []byte, n int) []hidValue {
	n = min(n, len(b)/sizeofHIDPValueCaps, maxValueCaps)
	out := make([]hidValue, 0, max(n, 0))
	for i := 0; i < n; i++ {
		var c hidpValueCaps
		if binary.Read(bytes.NewReader(b[i*sizeofHIDPValueCaps:]), binary.LittleEndian, &c) != nil {
			break
		}
		v := hidValue{UsagePage: c.UsagePage, Absolute: c.IsAbsolute != 0, UsageMin: c.UsageMin, UsageMax: c.UsageMax}
		if c.IsRange == 0 {
			v.UsageMax = v.UsageMin // NotRange: one usage
		}
		if v.UsageMax < v.UsageMin {
			v.UsageMin, v.UsageMax = v.UsageMax, v.UsageMin
		}
		out = append(out, v)
	}
	return out
}

// descriptorRequest builds the buffer of
// IOCTL_USB_GET_DESCRIPTOR_FROM_NODE_CONNECTION: a GET_DESCRIPTOR request
// of the device on the hub's port, for length bytes of the descriptor of
// the given type and index, in language lang; the answer fills the bytes
// after the request.
func descriptorRequest(port uint32, typ, index uint8, lang uint16, length int) []byte {
	length = min(length, maxStringDescriptor)
	var b bytes.Buffer
	binary.Write(&b, binary.LittleEndian, usbDescriptorRequest{
		ConnectionIndex: port, BmRequest: 0x80, BRequest: usbRequestGetDescriptor,
		WValue: uint16(typ)<<8 | uint16(index), WIndex: lang, WLength: uint16(length),
	})
	return append(b.Bytes(), make([]byte, length)...)
}

// descriptorAnswer is the descriptor in an answered request buffer, of n
// bytes as DeviceIoControl returned.
func descriptorAnswer(buf []byte, n int) []byte {
	if n <= sizeofUSBDescriptorRequest || n > len(buf) {
		return nil
	}
	return buf[sizeofUSBDescriptorRequest:n]
}

// parseDeviceDescriptor reads the string indexes of a device descriptor.
func parseDeviceDescriptor(b []byte) (mfg, product, serial uint8, ok bool) {
	var d usbDeviceDescriptor
	if len(b) < sizeofUSBDeviceDescriptor || binary.Read(bytes.NewReader(b), binary.LittleEndian, &d) != nil ||
		d.BDescriptorType != usbDeviceDescriptorType || int(d.BLength) < sizeofUSBDeviceDescriptor {
		return 0, 0, 0, false
	}
	return d.IManufacturer, d.IProduct, d.ISerialNumber, true
}

// parseStringDescriptor reads a string descriptor: bLength, type 3, then
// UTF-16LE, bounded by bLength and by the bytes.
func parseStringDescriptor(b []byte) (string, bool) {
	if len(b) < 2 || b[1] != usbStringDescriptorType {
		return "", false
	}
	n := min(int(b[0]), len(b))
	if n < 2 {
		return "", false
	}
	u := make([]uint16, 0, (n-2)/2)
	for i := 2; i+1 < n; i += 2 {
		u = append(u, binary.LittleEndian.Uint16(b[i:]))
	}
	return string(utf16.Decode(u)), true
}

// parseLangIDs reads string descriptor 0: the LANGIDs the device supports.
func parseLangIDs(b []byte) []uint16 {
	if len(b) < 4 || b[1] != usbStringDescriptorType {
		return nil
	}
	n := min(int(b[0]), len(b))
	var out []uint16
	for i := 2; i+1 < n && len(out) < 16; i += 2 {
		out = append(out, binary.LittleEndian.Uint16(b[i:]))
	}
	return out
}

// locationPort reads the port of SPDRP_LOCATION_INFORMATION,
// "Port_#0002.Hub_#0001".
func locationPort(s string) (uint32, bool) {
	_, rest, ok := strings.Cut(s, "Port_#")
	if !ok || len(rest) < 4 {
		return 0, false
	}
	n, err := strconv.ParseUint(rest[:4], 10, 8)
	return uint32(n), err == nil && n > 0
}

// portOf is a USB device's port on its parent hub: SPDRP_ADDRESS, else the
// "Port_#0002" of its location information (which libusb reads first).
func portOf(r pnpRecord) (uint32, bool) {
	if r.Address != nil && *r.Address > 0 && *r.Address < 256 {
		return *r.Address, true
	}
	if p, ok := locationPort(r.LocationInformation); ok {
		return p, true
	}
	return 0, false
}
