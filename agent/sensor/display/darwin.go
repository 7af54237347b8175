package display

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/farmwatch/farmwatch/agent/edid"
	"github.com/farmwatch/farmwatch/agent/host"
	fwv1 "github.com/farmwatch/farmwatch/proto/farmwatch/v1"
	"howett.net/plist"
)

// The commands run on macOS, exactly. ioreg -c matches a class and every
// class derived from it: IOMobileFramebuffer is the common parent of the
// Apple-silicon framebuffers (AppleCLCD2 on macOS 11 to 15,
// IOMobileFramebufferShim on later releases). AppleCLCD2 is asked for only
// when IOMobileFramebuffer gives nothing (and is what older snapshots hold).
var (
	ioregIntel   = host.Command{Name: "ioreg", Args: []string{"-a", "-l", "-r", "-c", "IODisplayConnect"}}
	ioregMobile  = host.Command{Name: "ioreg", Args: []string{"-a", "-l", "-r", "-c", "IOMobileFramebuffer"}}
	ioregSilicon = host.Command{Name: "ioreg", Args: []string{"-a", "-l", "-r", "-c", "AppleCLCD2"}}
	spDisplays   = host.Command{Name: "system_profiler", Args: []string{"-json", "SPDisplaysDataType"}}
)

// spVirtualVendor is the vendor id system_profiler gives a virtual display
// ("unkn" in ASCII).
const spVirtualVendor = "756e6b6e"

// readDarwin reads what the package doc lists for darwin.
func readDarwin(ctx context.Context, h *host.Host) (found, error) {
	var (
		errs, ioErrs []error
		io           []ioregDisplay
		ioOK         bool
	)
	// Only one of the classes exists on a Mac (Intel or Apple silicon);
	// ioreg failing for one of them is no error while another answered.
	seen := map[uint64]bool{}
	for _, c := range []host.Command{ioregIntel, ioregMobile, ioregSilicon} {
		if c.Args[len(c.Args)-1] == "AppleCLCD2" && mobileFound(io) {
			continue
		}
		out, err := h.Run(ctx, c)
		if err != nil {
			if !unknown(err) {
				ioErrs = append(ioErrs, err)
			}
			continue
		}
		ds, err := parseIoreg(out)
		if err != nil {
			ioErrs = append(ioErrs, fmt.Errorf("ioreg -c %s: %w", c.Args[len(c.Args)-1], err))
			continue
		}
		ioOK = true
		for _, d := range ds {
			if d.ID != 0 && seen[d.ID] {
				continue // the same entry, matched by its class and its parent's
			}
			seen[d.ID] = true
			io = append(io, d)
		}
	}
	if !ioOK {
		errs = append(errs, ioErrs...)
	}
	var sp []spDisplay
	out, err := h.Run(ctx, spDisplays)
	switch {
	case err == nil:
		if sp, err = parseSystemProfiler(out); err != nil {
			errs = append(errs, fmt.Errorf("system_profiler SPDisplaysDataType: %w", err))
		}
	case !unknown(err):
		errs = append(errs, err)
	}
	return found{displays: joinDarwin(sp, io)}, errors.Join(errs...)
}

// ioregDisplay is one display that ioreg shows: an AppleDisplay (Intel)
// with IODisplayEDID, or an Apple-silicon framebuffer (AppleCLCD2,
// IOMobileFramebufferShim) with an EDID or its DisplayAttributes.
type ioregDisplay struct {
	ID       uint64 // IORegistryEntryID, 0 when ioreg did not say
	Class    string
	Name     string
	EDID     []byte
	Vendor   int64          // DisplayVendorID, or from ProductAttributes
	Product  int64          // DisplayProductID, or ProductAttributes ProductID when it is an EDID product code
	External bool           // the framebuffer says "external" = Yes
	Attrs    map[string]any // ProductAttributes, when there is no EDID
	WidthCm  int64          // DisplayAttributes MaxHorizontalImageSize
	HeightCm int64          // DisplayAttributes MaxVerticalImageSize
}

// mobileFound reports whether an Apple-silicon framebuffer has been read.
func mobileFound(io []ioregDisplay) bool {
	for _, d := range io {
		if d.Class != "AppleDisplay" && d.Class != "AppleBacklightDisplay" {
			return true
		}
	}
	return false
}

// parseIoreg reads `ioreg -a` output (an XML or binary plist: an array of
// registry entries, each with its IORegistryEntryChildren) and returns
// every entry, at any depth, that holds an EDID (IODisplayEDID or EDID, as
// data) or DisplayAttributes.
func parseIoreg(b []byte) ([]ioregDisplay, error) {
	var root any
	if len(strings.TrimSpace(string(b))) == 0 {
		return nil, nil
	}
	if _, err := plist.Unmarshal(b, &root); err != nil {
		return nil, err
	}
	var out []ioregDisplay
	var walk func(v any, depth int)
	walk = func(v any, depth int) {
		if depth > 64 {
			return
		}
		switch t := v.(type) {
		case []any:
			for _, c := range t {
				walk(c, depth+1)
			}
		case map[string]any:
			if d, ok := ioregEntry(t); ok {
				out = append(out, d)
			}
			if c, ok := t["IORegistryEntryChildren"]; ok {
				walk(c, depth+1)
			}
		}
	}
	walk(root, 0)
	return out, nil
}

// appleOUI is the IEEE OUI that Apple panels give as their ManufacturerID
// ("00-10-fa"), with the PNP id in LegacyManufacturerID.
const appleLegacyVendor = 0x0610 // "APP"

func ioregEntry(m map[string]any) (ioregDisplay, bool) {
	d := ioregDisplay{Class: str(m["IOObjectClass"]), Name: str(m["IORegistryEntryName"])}
	if id, ok := num(m["IORegistryEntryID"]); ok {
		d.ID = uint64(id)
	}
	for _, k := range []string{"IODisplayEDID", "EDID"} {
		if b, ok := m[k].([]byte); ok && len(b) > 0 {
			d.EDID = b
			break
		}
	}
	if n, ok := m["DisplayProductName"].(map[string]any); ok {
		for _, k := range []string{"en_US", "en"} {
			if s := str(n[k]); s != "" {
				d.Name = s
				break
			}
		}
	}
	d.External, _ = m["external"].(bool)
	d.Vendor, _ = num(m["DisplayVendorID"])
	d.Product, _ = num(m["DisplayProductID"])
	if da, ok := m["DisplayAttributes"].(map[string]any); ok {
		d.WidthCm, _ = num(da["MaxHorizontalImageSize"])
		d.HeightCm, _ = num(da["MaxVerticalImageSize"])
		if pa, ok := da["ProductAttributes"].(map[string]any); ok {
			d.Attrs = pa
			if s := str(pa["ProductName"]); s != "" {
				d.Name = s
			}
			// ManufacturerID is the PNP id ("DEL") of most monitors, but an
			// IEEE OUI ("00-10-fa") for Apple's own panels, whose PNP id
			// is then LegacyManufacturerID (1552, "APP").
			if mfg := str(pa["ManufacturerID"]); isPNP(mfg) {
				d.Vendor = int64(pnpCode(mfg))
			} else if v, ok := num(pa["LegacyManufacturerID"]); ok && v > 0 && v <= 0xffff {
				d.Vendor = v
			}
			// An EDID product code is 16 bits; Apple panels give a wider
			// ProductID (ASCII packed), which is not one.
			if p, ok := num(pa["ProductID"]); ok && p >= 0 && p <= 0xffff {
				d.Product = p
			}
		}
	}
	if len(d.EDID) >= edid.BlockSize {
		if e, err := edid.Parse(d.EDID); err == nil {
			d.Vendor = int64(uint16(e.Mfg[0]-'@')<<10 | uint16(e.Mfg[1]-'@')<<5 | uint16(e.Mfg[2]-'@'))
			d.Product = int64(e.Product)
		}
	}
	return d, d.EDID != nil || d.Attrs != nil
}

// isPNP reports whether s is a three-letter PNP id.
func isPNP(s string) bool {
	if len(s) != 3 {
		return false
	}
	for i := 0; i < 3; i++ {
		if s[i] < 'A' || s[i] > 'Z' {
			return false
		}
	}
	return true
}

// spDisplay is one display of `system_profiler -json SPDisplaysDataType`.
type spDisplay struct {
	GPU  string
	Prop map[string]any
}

// parseSystemProfiler returns the displays (spdisplays_ndrvs) of every GPU.
func parseSystemProfiler(b []byte) ([]spDisplay, error) {
	var r struct {
		GPUs []map[string]any `json:"SPDisplaysDataType"`
	}
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, err
	}
	var out []spDisplay
	for _, g := range r.GPUs {
		ds, _ := g["spdisplays_ndrvs"].([]any)
		for _, d := range ds {
			if m, ok := d.(map[string]any); ok {
				out = append(out, spDisplay{GPU: str(g["_name"]), Prop: m})
			}
		}
	}
	return out, nil
}

// joinDarwin makes the displays: each system_profiler display, with the
// EDID of the ioreg entry of its vendor and product id (a built-in panel,
// whose ioreg product id is not an EDID one, with the built-in entry of its
// vendor); then each ioreg entry that no system_profiler display claimed.
func joinDarwin(sp []spDisplay, io []ioregDisplay) []*fwv1.Display {
	used := make([]bool, len(io))
	names := map[string]int{}
	var out []*fwv1.Display
	for _, s := range sp {
		p := s.Prop
		d := &fwv1.Display{Connector: cmp.Or(str(p["_name"]), "display"), Adapter: s.GPU, Status: "connected", Enabled: true, Path: "system_profiler SPDisplaysDataType"}
		conn := strings.TrimPrefix(str(p["spdisplays_connection_type"]), "spdisplays_")
		typ := str(p["spdisplays_display_type"])
		d.Connection = conn
		d.Builtin = conn == "internal" || strings.Contains(typ, "built-in") || str(p["spdisplays_builtin"]) == "spdisplays_yes"
		d.Main = str(p["spdisplays_main"]) == "spdisplays_yes"
		d.Mirror = str(p["spdisplays_mirror"]) == "spdisplays_on"
		if str(p["spdisplays_online"]) == "spdisplays_no" {
			d.Enabled = false
		}
		vendor := strings.ToLower(str(p["_spdisplays_display-vendor-id"]))
		product := strings.ToLower(str(p["_spdisplays_display-product-id"]))
		d.Virtual = vendor == spVirtualVendor || str(p["_spdisplays_virtualdevice"]) == "spdisplays_yes" ||
			strings.Contains(strings.ToLower(typ), "virtual")
		if vendor != "" || product != "" {
			d.HardwareId = vendor + ":" + product
		}
		v, vok := parseHex(vendor)
		pr, pok := parseHex(product)
		if raw, err := edid.DecodeHex(strings.TrimPrefix(str(p["_spdisplays_edid"]), "0x")); err == nil && len(raw) >= edid.BlockSize {
			d.Edid = Edid(raw)
		}
		match := -1
		for i, x := range io {
			if !used[i] && vok && pok && x.Vendor == v && x.Product == pr {
				match = i
				break
			}
		}
		if match < 0 && d.Builtin {
			for i, x := range io {
				if !used[i] && !x.External && x.EDID == nil && x.Attrs != nil && (x.Vendor == v || x.Vendor == 0) {
					match = i
					break
				}
			}
		}
		if match >= 0 {
			used[match] = true
			if d.Edid == nil {
				d.Edid = ioregEdid(io[match])
			}
			d.Path = "ioreg " + io[match].Class
		}
		if d.Edid == nil && vok && v != 0 && vendor != spVirtualVendor {
			d.Edid = &fwv1.Edid{Manufacturer: pnpName(uint16(v)), ProductCode: uint32(pr)}
		}
		if d.Edid != nil && d.Edid.RawHex == "" {
			spEdid(d.Edid, p)
		}
		names[d.Connector]++
		if n := names[d.Connector]; n > 1 {
			d.Connector += " #" + strconv.Itoa(n)
		}
		out = append(out, d)
	}
	for i, x := range io {
		if used[i] {
			continue
		}
		d := &fwv1.Display{Connector: cmp.Or(x.Name, x.Class), Status: "connected", Path: "ioreg " + x.Class, Edid: ioregEdid(x)}
		if x.Vendor != 0 || x.Product != 0 {
			d.HardwareId = fmt.Sprintf("%x:%x", x.Vendor, x.Product)
		}
		names[d.Connector]++
		if n := names[d.Connector]; n > 1 {
			d.Connector += " #" + strconv.Itoa(n)
		}
		out = append(out, d)
	}
	return out
}

// spEdid fills what an Edid without raw bytes lacks from system_profiler:
// the monitor's name (_name), its serial string (spdisplays_display-serial-number,
// the EDID's serial descriptor), its serial number
// (_spdisplays_display-serial-number, the EDID's 32-bit number in hex) and
// its week and year of manufacture.
func spEdid(e *fwv1.Edid, p map[string]any) {
	if e.MonitorName == "" {
		e.MonitorName = str(p["_name"])
	}
	if e.MonitorSerial == "" {
		e.MonitorSerial = strings.TrimSpace(str(p["spdisplays_display-serial-number"]))
	}
	if e.SerialNumber == 0 {
		for _, k := range []string{"_spdisplays_display-serial-number", "_spdisplays_display-serial-number2"} {
			if n, ok := parseHex(strings.ToLower(str(p[k]))); ok && n != 0 {
				e.SerialNumber = uint32(n)
				break
			}
		}
	}
	if w, err := strconv.Atoi(str(p["_spdisplays_display-week"])); err == nil && e.Week == 0 {
		e.Week = int32(w)
	}
	if y, err := strconv.Atoi(str(p["_spdisplays_display-year"])); err == nil && e.Year == 0 {
		e.Year = int32(y)
	}
}

// ioregEdid is the Edid of an ioreg entry: its EDID parsed, or what its
// DisplayAttributes say.
func ioregEdid(x ioregDisplay) *fwv1.Edid {
	if len(x.EDID) > 0 {
		return Edid(x.EDID)
	}
	if x.Attrs == nil {
		return nil
	}
	e := &fwv1.Edid{Manufacturer: str(x.Attrs["ManufacturerID"]), ProductCode: uint32(x.Product), MonitorName: str(x.Attrs["ProductName"]),
		MonitorSerial: strings.TrimSpace(str(x.Attrs["AlphanumericSerialNumber"])), WidthCm: int32(x.WidthCm), HeightCm: int32(x.HeightCm)}
	if !isPNP(e.Manufacturer) && x.Vendor > 0 {
		e.Manufacturer = pnpName(uint16(x.Vendor))
	}
	if s, ok := num(x.Attrs["SerialNumber"]); ok {
		e.SerialNumber = uint32(s)
	}
	if w, ok := num(x.Attrs["WeekOfManufacture"]); ok {
		e.Week = int32(w)
	}
	if y, ok := num(x.Attrs["YearOfManufacture"]); ok {
		e.Year = int32(y)
	}
	return e
}

// pnpCode packs a three-letter PNP id as EDID stores it.
func pnpCode(s string) uint16 {
	var v uint16
	for i := 0; i < 3; i++ {
		v = v<<5 | uint16(s[i]-'@')&0x1f
	}
	return v
}

// pnpName unpacks a PNP id.
func pnpName(v uint16) string {
	return string([]byte{byte('@' + v>>10&0x1f), byte('@' + v>>5&0x1f), byte('@' + v&0x1f)})
}

func parseHex(s string) (int64, bool) {
	if s == "" {
		return 0, false
	}
	v, err := strconv.ParseUint(strings.TrimPrefix(s, "0x"), 16, 32)
	return int64(v), err == nil
}

func str(v any) string {
	s, _ := v.(string)
	return s
}

func num(v any) (int64, bool) {
	switch t := v.(type) {
	case uint64:
		return int64(t), true
	case int64:
		return t, true
	case float64:
		return int64(t), true
	}
	return 0, false
}
