//go:build windows

package usb

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"unsafe"

	"golang.org/x/sys/windows"
)

// Device properties read besides the SPDRP registry properties
// (devpkey.h).
var (
	devpkeyParent = windows.DEVPROPKEY{
		FmtID: windows.DEVPROPGUID{Data1: 0x4340a6c5, Data2: 0x93fa, Data3: 0x4706, Data4: [8]byte{0x97, 0x2c, 0x7b, 0x64, 0x80, 0x08, 0xa5, 0xa7}},
		PID:   8,
	}
	devpkeyBusReportedDeviceDesc = windows.DEVPROPKEY{
		FmtID: windows.DEVPROPGUID{Data1: 0x540b947e, Data2: 0x8b40, Data3: 0x45bc, Data4: [8]byte{0xa8, 0xa2, 0x6a, 0x0b, 0x89, 0x4c, 0xbd, 0xa2}},
		PID:   4,
	}
)

// maxNodes bounds one enumerator's device nodes.
const maxNodes = 4096

// liveUSB lists the present device nodes of the USB, HID and USBSTOR
// enumerators with SetupAPI (SetupDiGetClassDevsEx with DIGCF_PRESENT and
// DIGCF_ALLCLASSES), each with its instance id, parent, hardware and
// compatible ids, service, class, manufacturer, description, bus-reported
// description and location. It needs no administrator rights. A property
// that cannot be read is left empty.
func liveUSB(ctx context.Context) (any, error) {
	var out []pnpRecord
	var errs []error
	for _, enum := range []string{"USB", "HID", "USBSTOR", "SCSI"} {
		recs, err := enumerate(ctx, enum)
		if err != nil {
			errs = append(errs, fmt.Errorf("enumerate %s devices: %w", enum, err))
		}
		out = append(out, recs...)
	}
	if len(out) == 0 && len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return out, nil
}

func enumerate(ctx context.Context, enumerator string) ([]pnpRecord, error) {
	set, err := windows.SetupDiGetClassDevsEx(nil, enumerator, 0, windows.DIGCF_PRESENT|windows.DIGCF_ALLCLASSES, 0, "")
	if err != nil {
		return nil, err
	}
	defer set.Close()
	var out []pnpRecord
	for i := 0; i < maxNodes; i++ {
		if ctx.Err() != nil {
			return out, ctx.Err()
		}
		data, err := set.EnumDeviceInfo(i)
		if errors.Is(err, windows.ERROR_NO_MORE_ITEMS) {
			break
		}
		if err != nil {
			continue
		}
		id, err := set.DeviceInstanceID(data)
		if err != nil {
			continue
		}
		r := pnpRecord{
			InstanceID:          id,
			HardwareIDs:         regStrings(set, data, windows.SPDRP_HARDWAREID),
			CompatibleIDs:       regStrings(set, data, windows.SPDRP_COMPATIBLEIDS),
			Service:             regString(set, data, windows.SPDRP_SERVICE),
			Class:               regString(set, data, windows.SPDRP_CLASS),
			Manufacturer:        regString(set, data, windows.SPDRP_MFG),
			Description:         regString(set, data, windows.SPDRP_DEVICEDESC),
			LocationInformation: regString(set, data, windows.SPDRP_LOCATION_INFORMATION),
		}
		if v, err := windows.SetupDiGetDeviceProperty(set, data, &devpkeyParent); err == nil {
			r.Parent, _ = v.(string)
		}
		if v, err := windows.SetupDiGetDeviceProperty(set, data, &devpkeyBusReportedDeviceDesc); err == nil {
			r.BusReportedDesc, _ = v.(string)
		}
		if v, err := set.DeviceRegistryProperty(data, windows.SPDRP_REMOVAL_POLICY); err == nil {
			if p, ok := v.(uint32); ok {
				r.Removable = p == 2 || p == 3 // CM_REMOVAL_POLICY_EXPECT_ORDERLY/SURPRISE_REMOVAL
			}
		}
		if v, err := set.DeviceRegistryProperty(data, windows.SPDRP_ADDRESS); err == nil {
			if a, ok := v.(uint32); ok {
				r.Address = &a
			}
		}
		if v, err := set.DeviceRegistryProperty(data, windows.SPDRP_CAPABILITIES); err == nil {
			if c, ok := v.(uint32); ok {
				r.Capabilities = &c
			}
		}
		switch enumerator {
		case "HID":
			readHIDCaps(&r)
		case "USB":
			if isUSBDevice(r) {
				r.USBStrings = readUSBStrings(r)
			}
		}
		out = append(out, r)
	}
	return out, nil
}

// guidDevinterfaceHID is GUID_DEVINTERFACE_HID (hidclass.h).
var guidDevinterfaceHID = windows.GUID{Data1: 0x4d1e55b2, Data2: 0xf16f, Data3: 0x11cf, Data4: [8]byte{0x88, 0xcb, 0x00, 0x11, 0x11, 0x00, 0x00, 0x30}}

var (
	hidDLL                = windows.NewLazySystemDLL("hid.dll")
	procHidDGetPreparsed  = hidDLL.NewProc("HidD_GetPreparsedData")
	procHidDFreePreparsed = hidDLL.NewProc("HidD_FreePreparsedData")
	procHidPGetCaps       = hidDLL.NewProc("HidP_GetCaps")
	procHidPGetValueCaps  = hidDLL.NewProc("HidP_GetValueCaps")
)

// readHIDCaps fills a HID node's top-level usage and input values from the
// HID parser of Windows: it opens the node's HID interface with no access
// rights (enough for the parsed descriptor, even for the keyboards and
// mice Windows holds open), then HidD_GetPreparsedData, HidP_GetCaps and
// HidP_GetValueCaps. What cannot be read is left out.
//
// HidD_GetPreparsedData returns a BOOLEAN, one byte: only the low byte of
// the return register is its value. HidP_* return an NTSTATUS, 32 bits:
// only the low 32 bits are compared with HIDP_STATUS_SUCCESS.
func readHIDCaps(r *pnpRecord) {
	if procHidPGetValueCaps.Find() != nil {
		return
	}
	paths, err := windows.CM_Get_Device_Interface_List(r.InstanceID, &guidDevinterfaceHID, windows.CM_GET_DEVICE_INTERFACE_LIST_PRESENT)
	if err != nil || len(paths) == 0 || paths[0] == "" {
		return
	}
	name, err := windows.UTF16PtrFromString(paths[0])
	if err != nil {
		return
	}
	h, err := windows.CreateFile(name, 0, windows.FILE_SHARE_READ|windows.FILE_SHARE_WRITE, nil, windows.OPEN_EXISTING, 0, 0)
	if err != nil {
		return
	}
	defer windows.CloseHandle(h)
	var pp uintptr
	if ok, _, _ := procHidDGetPreparsed.Call(uintptr(h), uintptr(unsafe.Pointer(&pp))); byte(ok) == 0 || pp == 0 {
		return
	}
	defer procHidDFreePreparsed.Call(pp)
	caps := make([]byte, sizeofHIDPCaps)
	if st, _, _ := procHidPGetCaps.Call(pp, uintptr(unsafe.Pointer(&caps[0]))); uint32(st) != hidpStatusSuccess {
		return
	}
	page, usage, n, ok := decodeHIDPCaps(caps)
	if !ok {
		return
	}
	r.HIDUsagePage, r.HIDUsage = page, usage
	if n == 0 {
		return
	}
	n = min(n, maxValueCaps)
	buf := make([]byte, n*sizeofHIDPValueCaps)
	length := uint16(n) // in: entries the buffer holds; out: entries written
	if st, _, _ := procHidPGetValueCaps.Call(hidpInput, uintptr(unsafe.Pointer(&buf[0])), uintptr(unsafe.Pointer(&length)), pp); uint32(st) != hidpStatusSuccess {
		return
	}
	r.HIDValues = decodeHIDPValueCaps(buf, int(length))
}

// guidDevinterfaceUSBHub is GUID_DEVINTERFACE_USB_HUB (usbiodef.h).
var guidDevinterfaceUSBHub = windows.GUID{Data1: 0xf18a0e88, Data2: 0xc30c, Data3: 0x11d0, Data4: [8]byte{0x88, 0x15, 0x00, 0xa0, 0xc9, 0x06, 0xbe, 0xd8}}

// isUSBDevice reports whether a node of the USB enumerator is a device
// (VID and PID, no MI_xx): not a root hub, not an interface.
func isUSBDevice(r pnpRecord) bool {
	_, _, mi, ok := vidPid(&r)
	return ok && mi < 0 && r.Parent != ""
}

// readUSBStrings asks the device's parent hub for the device's
// descriptors (IOCTL_USB_GET_DESCRIPTOR_FROM_NODE_CONNECTION on the hub's
// GUID_DEVINTERFACE_USB_HUB interface, at the device's port): the device
// descriptor for the string indexes, string 0 for the languages, then the
// manufacturer, product and serial number strings in the first language.
// This is what the device itself says; SPDRP_MFG is the INF's text.
func readUSBStrings(r pnpRecord) *usbStrings {
	out := &usbStrings{}
	port, ok := portOf(r)
	if !ok {
		out.Error = "no port number"
		return out
	}
	paths, err := windows.CM_Get_Device_Interface_List(r.Parent, &guidDevinterfaceUSBHub, windows.CM_GET_DEVICE_INTERFACE_LIST_PRESENT)
	if err != nil || len(paths) == 0 || paths[0] == "" {
		out.Error = "no hub interface"
		return out
	}
	name, err := windows.UTF16PtrFromString(paths[0])
	if err != nil {
		out.Error = err.Error()
		return out
	}
	hub, err := windows.CreateFile(name, windows.GENERIC_WRITE, windows.FILE_SHARE_WRITE, nil, windows.OPEN_EXISTING, 0, 0)
	if err != nil {
		out.Error = "open hub: " + err.Error()
		return out
	}
	defer windows.CloseHandle(hub)
	get := func(typ, index uint8, lang uint16, length int) []byte {
		buf := descriptorRequest(port, typ, index, lang, length)
		var n uint32
		if err := windows.DeviceIoControl(hub, ioctlUSBGetDescriptorFromNC, &buf[0], uint32(len(buf)), &buf[0], uint32(len(buf)), &n, nil); err != nil {
			return nil
		}
		return descriptorAnswer(buf, int(n))
	}
	mfg, prod, ser, ok := parseDeviceDescriptor(get(usbDeviceDescriptorType, 0, 0, sizeofUSBDeviceDescriptor))
	if !ok {
		out.Error = "no device descriptor"
		return out
	}
	if mfg == 0 && prod == 0 && ser == 0 {
		return out // the device has no strings
	}
	langs := parseLangIDs(get(usbStringDescriptorType, 0, 0, maxStringDescriptor))
	if len(langs) == 0 {
		out.Error = "no languages"
		return out
	}
	out.Language = langs[0]
	str := func(i uint8) string {
		if i == 0 {
			return ""
		}
		s, _ := parseStringDescriptor(get(usbStringDescriptorType, i, out.Language, maxStringDescriptor))
		return s
	}
	out.Manufacturer, out.Product, out.Serial = str(mfg), str(prod), str(ser)
	return out
}

func regString(set windows.DevInfo, data *windows.DevInfoData, p windows.SPDRP) string {
	v, err := set.DeviceRegistryProperty(data, p)
	if err != nil {
		return ""
	}
	switch x := v.(type) {
	case string:
		return strings.TrimSpace(x)
	case []string:
		if len(x) > 0 {
			return strings.TrimSpace(x[0])
		}
	}
	return ""
}

func regStrings(set windows.DevInfo, data *windows.DevInfoData, p windows.SPDRP) []string {
	v, err := set.DeviceRegistryProperty(data, p)
	if err != nil {
		return nil
	}
	switch x := v.(type) {
	case []string:
		return x
	case string:
		return []string{x}
	}
	return nil
}
