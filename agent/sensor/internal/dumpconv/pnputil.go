package dumpconv

import (
	"strings"
)

// PnpDevice is one device of `pnputil /enum-devices [/relations]` (Windows
// 10 2004 and later), in its English labels.
type PnpDevice struct {
	InstanceID   string
	Description  string // Device Description
	Class        string // Class Name
	Manufacturer string // Manufacturer Name: the INF's, as SPDRP_MFG
	Status       string
	Driver       string // Driver Name: the INF
	Parent       string
	Children     []string
}

// ParsePnputil reads the blocks of `pnputil /enum-devices /relations`:
// "Label:  value" lines, a block per device from its "Instance ID" line,
// Children continued on lines that hold only a value.
func ParsePnputil(text string) []PnpDevice {
	var out []PnpDevice
	var cur *PnpDevice
	last := ""
	for _, line := range strings.Split(strings.ReplaceAll(text, "\r\n", "\n"), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok || strings.TrimSpace(k) == "" {
			if cur != nil && last == "Children" && strings.TrimSpace(line) != "" {
				cur.Children = append(cur.Children, strings.TrimSpace(line))
			}
			continue
		}
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		if strings.HasPrefix(line, " ") && cur != nil && last == "Children" {
			cur.Children = append(cur.Children, strings.TrimSpace(line))
			continue
		}
		last = k
		switch k {
		case "Instance ID":
			out = append(out, PnpDevice{InstanceID: v})
			cur = &out[len(out)-1]
		case "Device Description":
			if cur != nil {
				cur.Description = v
			}
		case "Class Name":
			if cur != nil {
				cur.Class = v
			}
		case "Manufacturer Name":
			if cur != nil {
				cur.Manufacturer = v
			}
		case "Status":
			if cur != nil {
				cur.Status = v
			}
		case "Driver Name":
			if cur != nil {
				cur.Driver = v
			}
		case "Parent":
			if cur != nil {
				cur.Parent = v
			}
		case "Children":
			if cur != nil && v != "" {
				cur.Children = append(cur.Children, v)
			}
		}
	}
	return out
}
