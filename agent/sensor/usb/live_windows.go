//go:build windows

package usb

import (
	"context"
	"encoding/binary"
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
	for _, enum := range []string{"USB", "HID", "USBSTOR"} {
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
		if enumerator == "HID" {
			readHIDCaps(&r)
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

// hidpi.h: the HIDP_CAPS and HIDP_VALUE_CAPS layouts and constants.
const (
	hidpStatusSuccess       = 0x00110000 // HIDP_STATUS_SUCCESS
	hidpInput               = 0          // HidP_Input
	maxValueCaps            = 256
	sizeofHIDPValueCaps     = 72
	sizeofHIDPCaps          = 64
	offNumberInputValueCaps = 48 // HIDP_CAPS.NumberInputValueCaps
)

// readHIDCaps fills a HID node's top-level usage and input values from the
// HID parser of Windows: it opens the node's HID interface with no access
// rights (enough for the parsed descriptor, even for the keyboards and
// mice Windows holds open), then HidD_GetPreparsedData, HidP_GetCaps and
// HidP_GetValueCaps. What cannot be read is left out.
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
	if ok, _, _ := procHidDGetPreparsed.Call(uintptr(h), uintptr(unsafe.Pointer(&pp))); ok == 0 || pp == 0 {
		return
	}
	defer procHidDFreePreparsed.Call(pp)
	var caps [sizeofHIDPCaps]byte
	if st, _, _ := procHidPGetCaps.Call(pp, uintptr(unsafe.Pointer(&caps[0]))); st != hidpStatusSuccess {
		return
	}
	r.HIDUsage = binary.LittleEndian.Uint16(caps[0:])
	r.HIDUsagePage = binary.LittleEndian.Uint16(caps[2:])
	n := int(binary.LittleEndian.Uint16(caps[offNumberInputValueCaps:]))
	if n == 0 {
		return
	}
	n = min(n, maxValueCaps)
	buf := make([]byte, n*sizeofHIDPValueCaps)
	length := uint16(n)
	if st, _, _ := procHidPGetValueCaps.Call(hidpInput, uintptr(unsafe.Pointer(&buf[0])), uintptr(unsafe.Pointer(&length)), pp); st != hidpStatusSuccess {
		return
	}
	for i := 0; i < int(length) && i < n; i++ {
		c := buf[i*sizeofHIDPValueCaps : (i+1)*sizeofHIDPValueCaps]
		v := hidValue{UsagePage: binary.LittleEndian.Uint16(c[0:]), Absolute: c[15] != 0}
		if c[12] != 0 { // IsRange: Range.UsageMin, Range.UsageMax
			v.UsageMin, v.UsageMax = binary.LittleEndian.Uint16(c[56:]), binary.LittleEndian.Uint16(c[58:])
		} else { // NotRange.Usage
			v.UsageMin = binary.LittleEndian.Uint16(c[56:])
			v.UsageMax = v.UsageMin
		}
		r.HIDValues = append(r.HIDValues, v)
	}
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
