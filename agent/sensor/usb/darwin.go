package usb

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/farmwatch/farmwatch/agent/host"
	fwv1 "github.com/farmwatch/farmwatch/proto/farmwatch/v1"
	"howett.net/plist"
)

var (
	ioregCmd        = host.Command{Name: "ioreg", Args: []string{"-a", "-r", "-c", "IOUSBHostDevice", "-l"}}
	profilerCmd     = host.Command{Name: "system_profiler", Args: []string{"-json", "SPUSBDataType"}}
	profilerHostCmd = host.Command{Name: "system_profiler", Args: []string{"-json", "SPUSBHostDataType"}}
)

// readDarwin reads the USB devices of a Mac from ioreg, or from
// system_profiler when ioreg is not available: SPUSBDataType (macOS 10.15
// to 15), then SPUSBHostDataType when that lists nothing (macOS 26, where
// SPUSBDataType is empty). The package doc says what.
func readDarwin(ctx context.Context, h *host.Host) ([]*fwv1.UsbDevice, error) {
	out, err := h.Run(ctx, ioregCmd)
	if err == nil {
		return parseIoreg(out)
	}
	if !unknown(err) {
		return nil, fmt.Errorf("list usb devices: %w", err)
	}
	var errs []error
	out, err = h.Run(ctx, profilerCmd)
	if err == nil {
		ds, err := parseSystemProfiler(out)
		if err != nil || len(ds) > 0 {
			return ds, err
		}
	} else if !unknown(err) {
		errs = append(errs, fmt.Errorf("list usb devices: %w", err))
	}
	out, err = h.Run(ctx, profilerHostCmd)
	if err == nil {
		return parseSystemProfilerHost(out)
	}
	if !unknown(err) {
		errs = append(errs, fmt.Errorf("list usb devices: %w", err))
	}
	return nil, errors.Join(errs...)
}

// parseIoreg reads the XML plist that `ioreg -a -r -c IOUSBHostDevice -l`
// prints: an array of registry entries, each a dictionary of properties with
// its children under IORegistryEntryChildren. A device behind a hub appears
// below the hub and may appear again at the top; each locationID is kept
// once.
func parseIoreg(b []byte) ([]*fwv1.UsbDevice, error) {
	var roots []map[string]any
	if _, err := plist.Unmarshal(b, &roots); err != nil {
		return nil, fmt.Errorf("parse ioreg output: %w", err)
	}
	seen := map[string]bool{}
	var out []*fwv1.UsbDevice
	var walk func(e map[string]any, depth int)
	walk = func(e map[string]any, depth int) {
		if depth > 64 {
			return
		}
		if isIoregDevice(e) {
			d := ioregDevice(e)
			if !seen[d.BusPath] {
				seen[d.BusPath] = true
				out = append(out, d)
			}
		}
		for _, c := range children(e) {
			walk(c, depth+1)
		}
	}
	for _, r := range roots {
		walk(r, 0)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].BusPath < out[j].BusPath })
	return out, nil
}

func isIoregDevice(e map[string]any) bool {
	if _, ok := e["bInterfaceNumber"]; ok {
		return false
	}
	_, v := e["idVendor"]
	_, l := e["locationID"]
	return v && l
}

func children(e map[string]any) []map[string]any {
	cs, _ := e["IORegistryEntryChildren"].([]any)
	out := make([]map[string]any, 0, len(cs))
	for _, c := range cs {
		if m, ok := c.(map[string]any); ok {
			out = append(out, m)
		}
	}
	return out
}

func ioregDevice(e map[string]any) *fwv1.UsbDevice {
	d := &fwv1.UsbDevice{
		VendorId:     uint32(num(e["idVendor"])),
		ProductId:    uint32(num(e["idProduct"])),
		Manufacturer: firstStr(e, "USB Vendor Name", "kUSBVendorString"),
		Product:      firstStr(e, "USB Product Name", "kUSBProductString"),
		Serial:       firstStr(e, "USB Serial Number", "kUSBSerialNumberString"),
		DeviceClass:  int32(num(e["bDeviceClass"])),
		BusPath:      fmt.Sprintf("%08x", num(e["locationID"])),
		Speed:        darwinSpeed(num(e["Device Speed"]), e["Device Speed"] != nil),
	}
	for _, c := range children(e) {
		if _, ok := c["bInterfaceNumber"]; ok {
			d.Interfaces = append(d.Interfaces, ioregInterface(c))
		}
	}
	sort.Slice(d.Interfaces, func(i, j int) bool { return d.Interfaces[i].Number < d.Interfaces[j].Number })
	return d
}

func ioregInterface(e map[string]any) *fwv1.UsbInterface {
	it := &fwv1.UsbInterface{
		Number:   int32(num(e["bInterfaceNumber"])),
		Class:    int32(num(e["bInterfaceClass"])),
		Subclass: int32(num(e["bInterfaceSubClass"])),
		Protocol: int32(num(e["bInterfaceProtocol"])),
	}
	// The driver and everything it publishes sit below the interface.
	var walk func(m map[string]any, depth int)
	walk = func(m map[string]any, depth int) {
		if depth > 16 {
			return
		}
		if depth > 0 {
			// A hub's interface leads through its ports to the devices
			// behind it: they are read on their own.
			if _, intf := m["bInterfaceNumber"]; intf || isIoregDevice(m) {
				return
			}
		}
		if depth == 1 && it.Driver == "" {
			it.Driver = str(m["IOClass"])
		}
		if rd, ok := m["ReportDescriptor"].([]byte); ok {
			p, _ := ParseReportDescriptor(rd)
			it.Hid = mergeHID(it.Hid, hidInfo(p, true))
		} else if pairs := usagePairs(m); len(pairs) > 0 && (it.Hid == nil || !it.Hid.DescriptorRead) {
			it.Hid = mergeHID(it.Hid, usagesHID(pairs))
		}
		if v := str(m["Vendor Identification"]); v != "" && it.ScsiVendor == "" {
			it.ScsiVendor = v
			it.ScsiModel = str(m["Product Identification"])
			it.ScsiRevision = str(m["Product Revision Level"])
			pt := strings.ToLower(str(m["Peripheral Device Type"]))
			it.Cdrom = num(m["Peripheral Device Type"]) == 5 || strings.Contains(pt, "cd")
		}
		if b, ok := m["Removable Media"].(bool); ok && b {
			it.Removable = true
		}
		if mac, ok := m["IOMACAddress"].([]byte); ok && len(mac) == 6 && it.Mac == "" {
			it.Mac = fmt.Sprintf("%02x:%02x:%02x:%02x:%02x:%02x", mac[0], mac[1], mac[2], mac[3], mac[4], mac[5])
		}
		for _, c := range children(m) {
			walk(c, depth+1)
		}
	}
	walk(e, 0)
	if it.Class == 3 && it.Hid == nil {
		it.Hid = bootHID(it.Protocol)
	}
	return it
}

// usagePairs returns a HID service's top-level usages, "PAGE:USAGE": its
// DeviceUsagePairs, else its PrimaryUsagePage and PrimaryUsage.
func usagePairs(m map[string]any) []string {
	var out []string
	if ps, ok := m["DeviceUsagePairs"].([]any); ok {
		for _, p := range ps {
			if pm, ok := p.(map[string]any); ok {
				out = append(out, fmt.Sprintf("%04x:%04x", num(pm["DeviceUsagePage"])&0xffff, num(pm["DeviceUsage"])&0xffff))
			}
		}
	}
	if len(out) == 0 && m["PrimaryUsagePage"] != nil {
		out = append(out, fmt.Sprintf("%04x:%04x", num(m["PrimaryUsagePage"])&0xffff, num(m["PrimaryUsage"])&0xffff))
	}
	return out
}

// usagesHID is what top-level usages alone say: a keyboard or consumer
// control, and a mouse whose kind (absolute or relative) is unknown.
func usagesHID(us []string) *fwv1.HidInfo {
	h := &fwv1.HidInfo{}
	for _, u := range us {
		switch u {
		case "0001:0006", "0001:0007":
			h.Keyboard = true
		case "000c:0001":
			h.ConsumerControl = true
		}
		if !slices.Contains(h.Usages, u) {
			h.Usages = append(h.Usages, u)
		}
	}
	return h
}

// spItem is one entry of `system_profiler -json SPUSBDataType` (macOS 10.15
// to 15): buses at the top, devices nested below them and their hubs.
type spItem struct {
	Name         string   `json:"_name"`
	VendorID     string   `json:"vendor_id"` // "0x046d  (Logitech Inc.)", or "apple_vendor_id"
	ProductID    string   `json:"product_id"`
	Manufacturer string   `json:"manufacturer"`
	Serial       string   `json:"serial_num"`
	LocationID   string   `json:"location_id"` // "0x14100000 / 3"
	Speed        string   `json:"device_speed"`
	Items        []spItem `json:"_items"`
}

// parseSystemProfiler reads `system_profiler -json SPUSBDataType`.
func parseSystemProfiler(b []byte) ([]*fwv1.UsbDevice, error) {
	var doc struct {
		USB []spItem `json:"SPUSBDataType"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		return nil, fmt.Errorf("parse system_profiler output: %w", err)
	}
	var out []*fwv1.UsbDevice
	seen := map[string]bool{}
	var walk func(items []spItem, depth int)
	walk = func(items []spItem, depth int) {
		if depth > 64 {
			return
		}
		for _, it := range items {
			if it.ProductID != "" && it.LocationID != "" {
				d := &fwv1.UsbDevice{
					VendorId:     uint32(leadingHex(it.VendorID)),
					ProductId:    uint32(leadingHex(it.ProductID)),
					Manufacturer: it.Manufacturer,
					Product:      it.Name,
					Serial:       it.Serial,
					BusPath:      fmt.Sprintf("%08x", leadingHex(it.LocationID)),
					Speed:        profilerSpeed(it.Speed),
				}
				if strings.HasPrefix(it.VendorID, "apple_vendor_id") {
					d.VendorId = 0x05ac
				}
				if !seen[d.BusPath] {
					seen[d.BusPath] = true
					out = append(out, d)
				}
			}
			walk(it.Items, depth+1)
		}
	}
	walk(doc.USB, 0)
	sort.Slice(out, func(i, j int) bool { return out[i].BusPath < out[j].BusPath })
	return out, nil
}

// spHostItem is one entry of `system_profiler -json SPUSBHostDataType`
// (macOS 26): buses at the top, devices below them and their hubs, with
// the IOUSBHost property names.
type spHostItem struct {
	Name       string       `json:"_name"`
	VendorID   string       `json:"USBDeviceKeyVendorID"` // "0x0bda"
	ProductID  string       `json:"USBDeviceKeyProductID"`
	VendorName string       `json:"USBDeviceKeyVendorName"`
	Serial     string       `json:"USBDeviceKeySerialNumber"` // "Not Provided" when there is none
	LocationID string       `json:"USBKeyLocationID"`         // "0x01100000"
	LinkSpeed  string       `json:"USBDeviceKeyLinkSpeed"`    // "12 Mb/s", "5 Gb/s"
	Items      []spHostItem `json:"_items"`
}

// parseSystemProfilerHost reads `system_profiler -json SPUSBHostDataType`.
// A bus has a location but no vendor id; it is not a device.
func parseSystemProfilerHost(b []byte) ([]*fwv1.UsbDevice, error) {
	var doc struct {
		USB []spHostItem `json:"SPUSBHostDataType"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		return nil, fmt.Errorf("parse system_profiler output: %w", err)
	}
	var out []*fwv1.UsbDevice
	seen := map[string]bool{}
	var walk func(items []spHostItem, depth int)
	walk = func(items []spHostItem, depth int) {
		if depth > 64 {
			return
		}
		for _, it := range items {
			if it.VendorID != "" && it.LocationID != "" {
				d := &fwv1.UsbDevice{
					VendorId:     uint32(leadingHex(it.VendorID)),
					ProductId:    uint32(leadingHex(it.ProductID)),
					Manufacturer: strings.TrimSpace(it.VendorName),
					Product:      strings.TrimSpace(it.Name),
					BusPath:      fmt.Sprintf("%08x", leadingHex(it.LocationID)),
					Speed:        linkSpeed(it.LinkSpeed),
				}
				if s := strings.TrimSpace(it.Serial); s != "Not Provided" {
					d.Serial = s
				}
				if !seen[d.BusPath] {
					seen[d.BusPath] = true
					out = append(out, d)
				}
			}
			walk(it.Items, depth+1)
		}
	}
	walk(doc.USB, 0)
	sort.Slice(out, func(i, j int) bool { return out[i].BusPath < out[j].BusPath })
	return out, nil
}

// linkSpeed names USBDeviceKeyLinkSpeed ("480 Mb/s", "5 Gb/s") in Mb/s, as
// Linux's speed attribute does.
func linkSpeed(s string) string {
	v, unit, ok := strings.Cut(strings.TrimSpace(s), " ")
	f, err := strconv.ParseFloat(v, 64)
	if !ok || err != nil || f <= 0 || f > 1e6 {
		return ""
	}
	switch unit {
	case "Gb/s":
		f *= 1000
	case "Mb/s":
	default:
		return ""
	}
	return strconv.FormatFloat(f, 'f', -1, 64)
}

// leadingHex reads the hex number a string starts with ("0x046d  (Logitech
// Inc.)" → 0x46d); 0 when there is none.
func leadingHex(s string) uint64 {
	s = strings.TrimSpace(s)
	s = strings.TrimPrefix(strings.TrimPrefix(s, "0x"), "0X")
	end := 0
	for end < len(s) && end < 16 && isHex(s[end]) {
		end++
	}
	v, _ := strconv.ParseUint(s[:end], 16, 64)
	return v
}

// darwinSpeed names IOKit's Device Speed (0 low, 1 full, 2 high, 3 super,
// 4 super+) in Mb/s, as Linux's speed attribute does.
func darwinSpeed(v uint64, ok bool) string {
	if !ok {
		return ""
	}
	switch v {
	case 0:
		return "1.5"
	case 1:
		return "12"
	case 2:
		return "480"
	case 3:
		return "5000"
	case 4:
		return "10000"
	}
	return ""
}

// profilerSpeed names system_profiler's device_speed in Mb/s.
func profilerSpeed(s string) string {
	switch s {
	case "low_speed":
		return "1.5"
	case "full_speed":
		return "12"
	case "high_speed":
		return "480"
	case "super_speed":
		return "5000"
	case "super_speed_plus":
		return "10000"
	}
	return ""
}

// num reads a plist number (or a numeric string); 0 otherwise.
func num(v any) uint64 {
	switch x := v.(type) {
	case uint64:
		return x
	case int64:
		return uint64(x)
	case float64:
		if x < 0 {
			return 0
		}
		return uint64(x)
	case string:
		n, _ := strconv.ParseUint(strings.TrimSpace(x), 0, 64)
		return n
	}
	return 0
}

func str(v any) string {
	s, _ := v.(string)
	return strings.TrimSpace(s)
}

func firstStr(e map[string]any, keys ...string) string {
	for _, k := range keys {
		if s := str(e[k]); s != "" {
			return s
		}
	}
	return ""
}
