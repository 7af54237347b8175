// Package usb is the sensor for USB devices: one observation per device,
// with its identity strings, its interfaces, what its HID report
// descriptors say (keyboard, absolute or relative pointer, consumer
// control), the SCSI inquiry strings of its mass-storage LUNs and the MAC of
// its network functions. It reports neutral facts; rules/usb.yaml says
// which of them look like an IP-KVM.
//
// The parser is chosen by the host's OS at run time, so that a snapshot of
// any OS scans anywhere. What it reads, exactly:
//
// linux (sysfs, no command is run), key "usb/<bus path>" ("usb/1-2.3",
// "usb/usb1" for a root hub):
//   - /sys/bus/usb/devices, listed; every entry without a ":" is a device.
//   - Of each device: idVendor, idProduct, manufacturer, product, serial,
//     bDeviceClass, speed, configuration (the active configuration's string).
//   - Its interface directories "<dev>:<config>.<n>", listed in the device
//     directory: bInterfaceClass, bInterfaceSubClass, bInterfaceProtocol
//     and the driver link. The interface number is the one the kernel puts
//     at the end of the name (bInterfaceNumber is read only when it is not
//     there).
//   - HID interfaces (class 3): <intf>/<bus>:<vid>:<pid>.<n>/report_descriptor,
//     parsed by ParseReportDescriptor.
//   - Mass-storage interfaces (class 8): <intf>/host*/target*/<h:c:t:l>/
//     {vendor,model,rev,type} (type 5 is a CD-ROM) and block/*/removable.
//   - Every other interface: <intf>/net/*/address, the MAC of a USB NIC
//     function (CDC ECM/NCM, RNDIS, vendor NICs).
//
// darwin, key "usb/<locationID in hex>":
//   - `/usr/sbin/ioreg -a -r -c IOUSBHostDevice -l` (XML plist): each
//     IOUSBHostDevice's idVendor, idProduct, "USB Vendor Name", "USB Product
//     Name", "USB Serial Number", kUSBSerialNumberString, bDeviceClass,
//     locationID, Device Speed, and below it the IOUSBHostInterface entries
//     (bInterfaceNumber, bInterfaceClass, bInterfaceSubClass,
//     bInterfaceProtocol, IOClass of the driver) and their HID services'
//     ReportDescriptor (parsed) or PrimaryUsagePage/PrimaryUsage and
//     DeviceUsagePairs, "Vendor Identification"/"Product Identification"/
//     "Product Revision Level" of SCSI devices, and IOMACAddress.
//   - When ioreg is not available (not recorded), `/usr/sbin/system_profiler
//     -json SPUSBDataType`: devices with vendor_id, product_id, manufacturer,
//     serial_num, location_id and device_speed, without interfaces; when
//     that lists nothing (it is empty on macOS 26), `/usr/sbin/system_profiler
//     -json SPUSBHostDataType`: USBDeviceKeyVendorID, USBDeviceKeyProductID,
//     USBDeviceKeyVendorName, USBDeviceKeySerialNumber ("Not Provided" is
//     none), USBKeyLocationID and USBDeviceKeyLinkSpeed.
//
// windows, key "usb/<device instance id>":
//   - api/usb.json (API.md): the present device nodes of the USB, HID,
//     USBSTOR and SCSI enumerators from SetupAPI (SetupDiGetClassDevsEx,
//     DIGCF_PRESENT|DIGCF_ALLCLASSES), each with its instance id, parent
//     (DEVPKEY_Device_Parent), hardware and compatible ids, service, class,
//     INF manufacturer and description, bus-reported description
//     (DEVPKEY_Device_BusReportedDeviceDesc), location, port
//     (SPDRP_ADDRESS) and capabilities (SPDRP_CAPABILITIES:
//     CM_DEVCAP_UNIQUEID says whether the instance id carries the device's
//     serial). Interface classes come from the compatible ids
//     (USB\Class_03&SubClass_01&Prot_01), SCSI inquiry strings from
//     USBSTOR\<type><vendor><product><rev> or SCSI\... (USB Attached SCSI).
//   - For each USB device, its own manufacturer, product and serial string
//     descriptors, asked of its parent hub
//     (IOCTL_USB_GET_DESCRIPTOR_FROM_NODE_CONNECTION on the hub's
//     GUID_DEVINTERFACE_USB_HUB interface, at the device's port).
//   - For each HID node, from the HID parser of Windows: its interface
//     (CM_Get_Device_Interface_List, GUID_DEVINTERFACE_HID) opened with no
//     access rights, HidD_GetPreparsedData, HidP_GetCaps (the top-level
//     usage page and usage) and HidP_GetValueCaps (each input value's usage
//     and whether it is absolute), which tell an absolute pointer from a
//     relative one. Where that fails only HID_DEVICE_UP:xxxx_U:yyyy of the
//     compatible ids is known (HidInfo.descriptor_read is false).
//
// A device that cannot be read in full is reported with what was read; an
// optional source that a snapshot lacks leaves its fields empty.
package usb

import (
	"context"
	"errors"

	"github.com/farmwatch/farmwatch/agent/host"
	"github.com/farmwatch/farmwatch/agent/sensor"
	fwv1 "github.com/farmwatch/farmwatch/proto/farmwatch/v1"
)

// Sensor is the USB sensor.
type Sensor struct{}

// Name is "usb".
func (Sensor) Name() string { return "usb" }

// Sense lists the host's USB devices.
func (Sensor) Sense(ctx context.Context, h *host.Host) ([]*fwv1.Observation, error) {
	devs, err := sensor.ByOS[[]*fwv1.UsbDevice]{Linux: readLinux, Darwin: readDarwin, Windows: readWindows}.Read(ctx, h)
	obs := make([]*fwv1.Observation, 0, len(devs))
	for _, d := range devs {
		obs = append(obs, &fwv1.Observation{Key: Key(d), Kind: &fwv1.Observation_UsbDevice{UsbDevice: d}})
	}
	return obs, err
}

// Key is the stable key of a USB device: "usb/" and its bus path.
func Key(d *fwv1.UsbDevice) string { return "usb/" + d.GetBusPath() }

// hidInfo makes the observation's summary of a parsed report descriptor.
func hidInfo(h HID, read bool) *fwv1.HidInfo {
	return &fwv1.HidInfo{
		Keyboard:        h.Keyboard,
		AbsolutePointer: h.AbsolutePointer,
		RelativePointer: h.RelativePointer,
		ConsumerControl: h.ConsumerControl,
		DescriptorRead:  read,
		Usages:          h.Usages,
	}
}

// bootHID is what the boot protocol of a HID interface says when its report
// descriptor could not be read: protocol 1 is a keyboard; protocol 2 is a
// mouse, absolute or relative unknown (JetKVM's absolute mouse says 2).
func bootHID(protocol int32) *fwv1.HidInfo {
	h := &fwv1.HidInfo{}
	switch protocol {
	case 1:
		h.Keyboard = true
		h.Usages = []string{"0001:0006"}
	case 2:
		h.Usages = []string{"0001:0002"}
	}
	return h
}

// unknown reports whether err says only that an optional source is not
// available on this host (a snapshot without it, or a --root tree).
func unknown(err error) bool {
	return errors.Is(err, host.ErrNotRecorded) || errors.Is(err, host.ErrNotLive)
}
