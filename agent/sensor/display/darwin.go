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

// The commands run on macOS, exactly.
var (
	ioregIntel   = host.Command{Name: "ioreg", Args: []string{"-a", "-l", "-r", "-c", "IODisplayConnect"}}
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
	// Only one of the two classes exists on a Mac (Intel or Apple
	// silicon); ioreg failing for one of them is no error while the other
	// answered.
	for _, c := range []host.Command{ioregIntel, ioregSilicon} {
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
		io = append(io, ds...)
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
// with IODisplayEDID, or an AppleCLCD2 framebuffer (Apple silicon) with an
// EDID or its DisplayAttributes.
type ioregDisplay struct {
	Class   string
	Name    string
	EDID    []byte
	Vendor  int64 // DisplayVendorID, or from ProductAttributes ManufacturerID
	Product int64
	Attrs   map[string]any // ProductAttributes, when there is no EDID
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

func ioregEntry(m map[string]any) (ioregDisplay, bool) {
	d := ioregDisplay{Class: str(m["IOObjectClass"]), Name: str(m["IORegistryEntryName"])}
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
	d.Vendor, _ = num(m["DisplayVendorID"])
	d.Product, _ = num(m["DisplayProductID"])
	if da, ok := m["DisplayAttributes"].(map[string]any); ok {
		if pa, ok := da["ProductAttributes"].(map[string]any); ok {
			d.Attrs = pa
			if s := str(pa["ProductName"]); s != "" {
				d.Name = s
			}
			if mfg := str(pa["ManufacturerID"]); len(mfg) == 3 {
				d.Vendor = int64(pnpCode(mfg))
			}
			if p, ok := num(pa["ProductID"]); ok {
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
// EDID of the ioreg entry of its vendor and product id; then each ioreg
// entry that no system_profiler display claimed.
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
		for i, x := range io {
			if used[i] || !vok || !pok || x.Vendor != v || x.Product != pr {
				continue
			}
			used[i] = true
			if d.Edid == nil {
				d.Edid = ioregEdid(x)
			}
			d.Path = "ioreg " + x.Class
			break
		}
		if d.Edid == nil && vok && v != 0 && vendor != spVirtualVendor {
			d.Edid = &fwv1.Edid{Manufacturer: pnpName(uint16(v)), ProductCode: uint32(pr)}
			if w, err := strconv.Atoi(str(p["_spdisplays_display-week"])); err == nil {
				d.Edid.Week = int32(w)
			}
			if y, err := strconv.Atoi(str(p["_spdisplays_display-year"])); err == nil {
				d.Edid.Year = int32(y)
			}
			d.Edid.MonitorSerial = str(p["_spdisplays_display-serial-number"])
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

// ioregEdid is the Edid of an ioreg entry: its EDID parsed, or what its
// DisplayAttributes say.
func ioregEdid(x ioregDisplay) *fwv1.Edid {
	if len(x.EDID) > 0 {
		return Edid(x.EDID)
	}
	if x.Attrs == nil {
		return nil
	}
	e := &fwv1.Edid{Manufacturer: str(x.Attrs["ManufacturerID"]), ProductCode: uint32(x.Product), MonitorName: str(x.Attrs["ProductName"])}
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
