package usb

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/farmwatch/farmwatch/agent/host"
	fwv1 "github.com/farmwatch/farmwatch/proto/farmwatch/v1"
)

// pnpRecord is one Windows device node as recorded in api/usb.json. The
// format is a public snapshot interface: API.md documents it.
type pnpRecord struct {
	InstanceID          string   `json:"instance_id"`
	Parent              string   `json:"parent,omitempty"`
	HardwareIDs         []string `json:"hardware_ids,omitempty"`
	CompatibleIDs       []string `json:"compatible_ids,omitempty"`
	Service             string   `json:"service,omitempty"`
	Class               string   `json:"class,omitempty"`
	Manufacturer        string   `json:"manufacturer,omitempty"`
	Description         string   `json:"description,omitempty"`
	BusReportedDesc     string   `json:"bus_reported_description,omitempty"`
	LocationInformation string   `json:"location_information,omitempty"`
	Removable           bool     `json:"removable,omitempty"`
	MAC                 string   `json:"mac,omitempty"`
	HIDReportDescriptor []byte   `json:"hid_report_descriptor,omitempty"`
	// A HID node's top-level collection and its input values, from the HID
	// parser of Windows (HidP_GetCaps, HidP_GetValueCaps).
	HIDUsagePage uint16     `json:"hid_usage_page,omitempty"`
	HIDUsage     uint16     `json:"hid_usage,omitempty"`
	HIDValues    []hidValue `json:"hid_values,omitempty"`
	// Address is SPDRP_ADDRESS: for a USB device, its port on the parent hub.
	Address *uint32 `json:"address,omitempty"`
	// Capabilities is SPDRP_CAPABILITIES (CM_DEVCAP_*); nil in snapshots
	// of older agents. CM_DEVCAP_UNIQUEID says that the instance id's last
	// part is the device's own serial number, not one Windows made up.
	Capabilities *uint32 `json:"capabilities,omitempty"`
	// USBStrings are the device's own string descriptors, read from its
	// parent hub (IOCTL_USB_GET_DESCRIPTOR_FROM_NODE_CONNECTION).
	USBStrings *usbStrings `json:"usb_strings,omitempty"`
}

// usbStrings are a USB device's manufacturer, product and serial number
// string descriptors in its first language, "" where the device has none.
type usbStrings struct {
	Manufacturer string `json:"manufacturer,omitempty"`
	Product      string `json:"product,omitempty"`
	Serial       string `json:"serial,omitempty"`
	Language     uint16 `json:"language,omitempty"` // the LANGID asked for, 0x0409 US English
	Error        string `json:"error,omitempty"`    // why they could not be read
}

// cmDevcapUniqueID is CM_DEVCAP_UNIQUEID (cfgmgr32.h).
const cmDevcapUniqueID = 0x10

// hidValue is one input value of a HID collection (HIDP_VALUE_CAPS): its
// usage, or its range of usages, and whether it is absolute.
type hidValue struct {
	UsagePage uint16 `json:"usage_page"`
	UsageMin  uint16 `json:"usage_min"`
	UsageMax  uint16 `json:"usage_max"`
	Absolute  bool   `json:"absolute"`
}

// valuesHID classifies a HID collection by what Windows parsed of its
// report descriptor: the same decisions ParseReportDescriptor makes.
func valuesHID(r *pnpRecord) *fwv1.HidInfo {
	app := uint32(r.HIDUsagePage)<<16 | uint32(r.HIDUsage)
	var h HID
	h.application(app)
	for _, v := range r.HIDValues {
		var us []uint32
		for _, u := range []uint16{v.UsageMin, v.UsageMax, usageX, usageY} {
			if u >= v.UsageMin && u <= v.UsageMax {
				us = append(us, uint32(v.UsagePage)<<16|uint32(u))
			}
		}
		h.input(us, !v.Absolute, app, nil)
	}
	return hidInfo(h, true)
}

// readWindows converts api/usb.json into devices; the package doc says what.
func readWindows(ctx context.Context, h *host.Host) ([]*fwv1.UsbDevice, error) {
	var recs []pnpRecord
	if err := h.API(ctx, "usb", &recs, liveUSB); err != nil {
		if unknown(err) {
			return nil, nil
		}
		return nil, fmt.Errorf("list usb devices: %w", err)
	}
	return pnpDevices(recs), nil
}

// pnpDevices groups the device nodes into USB devices. A USB device is a
// node of the USB enumerator whose hardware id names a VID and PID without
// an interface (MI_xx); its interfaces are its children with MI_xx (a
// composite device), or the device itself (a single-interface device). HID,
// USBSTOR and network nodes below an interface fill that interface in.
func pnpDevices(recs []pnpRecord) []*fwv1.UsbDevice {
	byID := make(map[string]*pnpRecord, len(recs))
	kids := make(map[string][]*pnpRecord, len(recs))
	for i := range recs {
		r := &recs[i]
		id := strings.ToUpper(r.InstanceID)
		if id == "" {
			continue
		}
		byID[id] = r
		if r.Parent != "" {
			p := strings.ToUpper(r.Parent)
			kids[p] = append(kids[p], r)
		}
	}
	var out []*fwv1.UsbDevice
	for i := range recs {
		r := &recs[i]
		vid, pid, mi, ok := vidPid(r)
		if !ok || mi >= 0 || !strings.HasPrefix(strings.ToUpper(r.InstanceID), `USB\`) {
			continue
		}
		d := &fwv1.UsbDevice{
			VendorId:  uint32(vid),
			ProductId: uint32(pid),
			Product:   cmp.Or(r.BusReportedDesc, r.Description),
			Serial:    deviceSerial(r),
			BusPath:   r.InstanceID,
		}
		// SPDRP_MFG (manufacturer) is the INF's text ("(Standard USB Host
		// Controller)"), not the device's: only the string descriptors say
		// what the device calls itself.
		if u := r.USBStrings; u != nil {
			d.Manufacturer = cleanString(u.Manufacturer)
			d.Product = cmp.Or(cleanString(u.Product), d.Product)
		}
		for _, id := range r.CompatibleIDs {
			if c, ok := field(strings.ToUpper(id), `USB\DEVCLASS_`, 2); ok {
				d.DeviceClass = int32(c)
				break
			}
		}
		children := kids[strings.ToUpper(r.InstanceID)]
		composite := false
		for _, c := range children {
			if _, _, cmi, ok := vidPid(c); ok && cmi >= 0 {
				composite = true
				it := pnpInterface(c, int32(cmi))
				fillBelow(it, kids[strings.ToUpper(c.InstanceID)], kids, map[*pnpRecord]bool{c: true, r: true})
				d.Interfaces = append(d.Interfaces, it)
			}
		}
		if !composite {
			it := pnpInterface(r, 0)
			fillBelow(it, children, kids, map[*pnpRecord]bool{r: true})
			d.Interfaces = append(d.Interfaces, it)
		}
		sort.Slice(d.Interfaces, func(i, j int) bool { return d.Interfaces[i].Number < d.Interfaces[j].Number })
		out = append(out, d)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].BusPath < out[j].BusPath })
	return out
}

// pnpInterface makes an interface of a node's compatible ids.
func pnpInterface(r *pnpRecord, n int32) *fwv1.UsbInterface {
	it := &fwv1.UsbInterface{Number: n, Driver: r.Service}
	if c, s, p, ok := usbClass(r.CompatibleIDs); ok {
		it.Class, it.Subclass, it.Protocol = int32(c), int32(s), int32(p)
	}
	if r.MAC != "" {
		it.Mac = strings.ToLower(strings.ReplaceAll(r.MAC, "-", ":"))
	}
	return it
}

// fillBelow fills an interface from the nodes below it: HID collections,
// USBSTOR disks and CD-ROMs, network adapters. Each node is visited once,
// so a parent loop in a hand-written snapshot cannot recurse for ever.
func fillBelow(it *fwv1.UsbInterface, nodes []*pnpRecord, kids map[string][]*pnpRecord, seen map[*pnpRecord]bool) {
	for _, c := range nodes {
		if seen[c] || len(seen) > maxNodesBelow {
			continue
		}
		seen[c] = true
		id := strings.ToUpper(c.InstanceID)
		switch {
		case strings.HasPrefix(id, `HID\`):
			var h *fwv1.HidInfo
			switch {
			case len(c.HIDReportDescriptor) > 0:
				p, _ := ParseReportDescriptor(c.HIDReportDescriptor)
				h = hidInfo(p, true)
			case c.HIDUsagePage != 0:
				h = valuesHID(c)
			default:
				h = usagesHID(hidUsages(c.CompatibleIDs))
			}
			it.Hid = mergeHID(it.Hid, h)
		case strings.HasPrefix(id, `USBSTOR\`), strings.HasPrefix(id, `SCSI\`):
			// USBSTOR: the bulk-only mass-storage driver; SCSI: a disk
			// behind USB Attached SCSI (UASPStor).
			for _, hw := range append(c.HardwareIDs, c.InstanceID) {
				if v, m, rev, cd, ok := usbstorInquiry(hw); ok {
					it.ScsiVendor, it.ScsiModel, it.ScsiRevision, it.Cdrom = v, m, rev, cd
					break
				}
			}
			it.Removable = it.Removable || c.Removable || it.Cdrom
		}
		if c.MAC != "" && it.Mac == "" {
			it.Mac = strings.ToLower(strings.ReplaceAll(c.MAC, "-", ":"))
		}
		fillBelow(it, kids[id], kids, seen)
	}
	if it.Class == 3 && it.Hid == nil {
		it.Hid = bootHID(it.Protocol)
	}
}

// maxNodesBelow bounds the nodes below one interface.
const maxNodesBelow = 256

// vidPid reads VID_xxxx&PID_xxxx[&MI_xx] from a node's hardware ids (or its
// instance id); mi is -1 without an interface number.
func vidPid(r *pnpRecord) (vid, pid uint64, mi int, ok bool) {
	ids := append([]string{r.InstanceID}, r.HardwareIDs...)
	for _, s := range ids {
		u := strings.ToUpper(s)
		if !strings.HasPrefix(u, `USB\`) {
			continue
		}
		v, okv := field(u, "VID_", 4)
		p, okp := field(u, "PID_", 4)
		if !okv || !okp {
			continue
		}
		mi = -1
		if m, okm := field(u, "MI_", 2); okm {
			mi = int(m)
		}
		return v, p, mi, true
	}
	return 0, 0, -1, false
}

// field reads the n hex digits after key in s.
func field(s, key string, n int) (uint64, bool) {
	i := strings.Index(s, key)
	if i < 0 || i+len(key)+n > len(s) {
		return 0, false
	}
	v, err := strconv.ParseUint(s[i+len(key):i+len(key)+n], 16, 32)
	return v, err == nil
}

// usbClass reads USB\Class_xx&SubClass_xx&Prot_xx from compatible ids.
func usbClass(ids []string) (c, s, p uint64, ok bool) {
	for _, id := range ids {
		u := strings.ToUpper(id)
		cv, okc := field(u, `USB\CLASS_`, 2)
		if !okc {
			continue
		}
		sv, oks := field(u, "SUBCLASS_", 2)
		pv, okp := field(u, "PROT_", 2)
		if oks && okp {
			return cv, sv, pv, true
		}
		c, ok = cv, true
	}
	return c, 0, 0, ok
}

// hidUsages reads HID_DEVICE_UP:xxxx_U:yyyy from a HID node's compatible ids.
func hidUsages(ids []string) []string {
	var out []string
	for _, id := range ids {
		u := strings.ToUpper(id)
		_, rest, ok := strings.Cut(u, "HID_DEVICE_UP:")
		if !ok || len(rest) < 11 || rest[4:7] != "_U:" {
			continue
		}
		pg, err1 := strconv.ParseUint(rest[:4], 16, 16)
		us, err2 := strconv.ParseUint(rest[7:11], 16, 16)
		if err1 == nil && err2 == nil {
			s := fmt.Sprintf("%04x:%04x", pg, us)
			if !slices.Contains(out, s) {
				out = append(out, s)
			}
		}
	}
	return out
}

// usbstorInquiry reads the SCSI inquiry strings of a storage node's
// hardware id, "USBSTOR\CdRomPiKVM___Optical_Drive___1.00" or
// "SCSI\DiskSamsung_PSSD_T7_________0": the type (Disk, CdRom, Other,
// ...), then the inquiry vendor (8), product (16) and revision (4) with
// blanks as "_"; or of its instance id,
// "USBSTOR\Disk&Ven_Adafruit&Prod_PyPortal&Rev_1.0\8&12b32204&0&...".
func usbstorInquiry(hw string) (vendor, model, rev string, cdrom, ok bool) {
	rest := ""
	for _, pre := range []string{`USBSTOR\`, `SCSI\`} {
		if len(hw) > len(pre) && strings.EqualFold(hw[:len(pre)], pre) {
			rest = hw[len(pre):]
		}
	}
	if rest == "" {
		return "", "", "", false, false
	}
	un := func(x string) string { return strings.TrimSpace(strings.ReplaceAll(x, "_", " ")) }
	for _, t := range []string{"CdRom", "Disk", "Sfloppy", "Other", "Optical", "Tape"} {
		if !strings.HasPrefix(strings.ToLower(rest), strings.ToLower(t)) {
			continue
		}
		s := rest[len(t):]
		if f, _, _ := strings.Cut(s, `\`); strings.HasPrefix(f, "&Ven_") || strings.HasPrefix(strings.ToLower(f), "&ven_") {
			// The instance id's form: &Ven_X&Prod_Y&Rev_Z.
			var v, m, r string
			for _, kv := range strings.Split(f[1:], "&") {
				k, val, _ := strings.Cut(kv, "_")
				switch strings.ToLower(k) {
				case "ven":
					v = un(val)
				case "prod":
					m = un(val)
				case "rev":
					r = un(val)
				}
			}
			return v, m, r, strings.EqualFold(t, "CdRom"), v != "" || m != ""
		}
		if len(s) < 28 {
			return "", "", "", false, false
		}
		return un(s[:8]), un(s[8:24]), un(s[24:28]), strings.EqualFold(t, "CdRom"), true
	}
	return "", "", "", false, false
}

// deviceSerial is a USB device's serial number: its serial string
// descriptor when it was read; else the last part of its instance id when
// Windows says it is the device's own (CM_DEVCAP_UNIQUEID), "&" or not;
// else, in snapshots of older agents that did not record the
// capabilities, the last part when it holds no "&" (Windows makes up an id
// with "&" for a device without a serial).
func deviceSerial(r *pnpRecord) string {
	if r.USBStrings != nil {
		if s := cleanString(r.USBStrings.Serial); s != "" {
			return s
		}
	}
	last := r.InstanceID
	if i := strings.LastIndexByte(last, '\\'); i >= 0 {
		last = last[i+1:]
	} else {
		return ""
	}
	if r.Capabilities != nil {
		if *r.Capabilities&cmDevcapUniqueID != 0 {
			return last
		}
		return ""
	}
	return instanceSerial(r.InstanceID)
}

// cleanString trims a string descriptor and drops what is not text.
func cleanString(s string) string {
	s = strings.TrimSpace(strings.ToValidUTF8(s, ""))
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return -1
		}
		return r
	}, s)
}

// instanceSerial is the serial a USB device instance id carries: the last
// part, when it holds no "&" (Windows makes up an id with "&" for a device
// without a unique serial).
func instanceSerial(id string) string {
	i := strings.LastIndexByte(id, '\\')
	if i < 0 || strings.IndexByte(id[i+1:], '&') >= 0 {
		return ""
	}
	return id[i+1:]
}
