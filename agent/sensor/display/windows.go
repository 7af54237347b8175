package display

import (
	"cmp"
	"context"
	"strings"

	"github.com/farmwatch/farmwatch/agent/edid"
	"github.com/farmwatch/farmwatch/agent/host"
	fwv1 "github.com/farmwatch/farmwatch/proto/farmwatch/v1"
)

// winDisplays is api/displays.json, the Windows displays and display
// adapters as the live agent reads them from the registry. The format is a
// public snapshot interface: API.md documents it.
type winDisplays struct {
	Monitors []winMonitor `json:"monitors"`
	Adapters []winAdapter `json:"adapters"`
}

// winMonitor is one instance under HKLM\SYSTEM\CurrentControlSet\Enum\DISPLAY.
type winMonitor struct {
	HardwareID string `json:"hardware_id"`           // the key under Enum\DISPLAY: "PSCCDD0"
	Instance   string `json:"instance"`              // its subkey: "1&2a3b4c5d&0&UID256"
	DeviceDesc string `json:"device_desc,omitempty"` // "@monitor.inf,%pnpmonitor.devicedesc%;Generic PnP Monitor"
	Mfg        string `json:"mfg,omitempty"`
	Driver     string `json:"driver,omitempty"`  // "{4d36e96e-e325-11ce-bfc1-08002be10318}\0001"
	Service    string `json:"service,omitempty"` // "monitor"
	// Present: the device node is in the device tree now
	// (CM_Locate_DevNode with CM_LOCATE_DEVNODE_NORMAL). Snapshots of older
	// agents set it from the volatile Control subkey, which stays until the
	// next boot after the monitor is unplugged.
	Present bool   `json:"present"`
	EDID    string `json:"edid,omitempty"` // Device Parameters\EDID, as hex
	Error   string `json:"error,omitempty"`
	// DevNodeStatus and Problem are CM_Get_DevNode_Status's DN_* flags and
	// CM_PROB_* code of a present node; nil when it is not present, or in
	// older snapshots.
	DevNodeStatus *uint32 `json:"devnode_status,omitempty"`
	Problem       *uint32 `json:"problem,omitempty"`
}

// winAdapter is one display adapter driver under the display class key.
type winAdapter struct {
	Key              string `json:"key"` // the subkey: "0000"
	DriverDesc       string `json:"driver_desc,omitempty"`
	MatchingDeviceID string `json:"matching_device_id,omitempty"`
	ProviderName     string `json:"provider_name,omitempty"`
	DriverVersion    string `json:"driver_version,omitempty"`
	InfPath          string `json:"inf_path,omitempty"`
	Error            string `json:"error,omitempty"`
}

// CM_Get_DevNode_Status flags (cfg.h).
const (
	dnStarted    = 0x00000008 // DN_STARTED
	dnHasProblem = 0x00000400 // DN_HAS_PROBLEM
)

const (
	enumDisplayKey  = `HKLM\SYSTEM\CurrentControlSet\Enum\DISPLAY`
	displayClass    = `{4d36e968-e325-11ce-bfc1-08002be10318}`
	displayClassKey = `HKLM\SYSTEM\CurrentControlSet\Control\Class\` + displayClass
)

// readWindows reads api/displays.json (live: the registry).
func readWindows(ctx context.Context, h *host.Host) (found, error) {
	var rec winDisplays
	if err := h.API(ctx, "displays", &rec, liveDisplays); err != nil {
		if unknown(err) {
			return found{}, nil
		}
		return found{}, err
	}
	ds, drv := winObservations(rec)
	return found{ds, drv}, nil
}

// winObservations converts api/displays.json: each monitor instance is a
// Display (present or not: Windows keeps every monitor it has seen, and an
// EDID seen last week is evidence too), each adapter a Driver of kind
// "display_adapter".
func winObservations(rec winDisplays) ([]*fwv1.Display, []*fwv1.Driver) {
	var ds []*fwv1.Display
	for _, m := range rec.Monitors {
		if m.HardwareID == "" {
			continue
		}
		d := &fwv1.Display{
			Connector:  m.HardwareID + "/" + m.Instance,
			HardwareId: m.HardwareID,
			Status:     "disconnected",
			Enabled:    m.Present,
			Driver:     resourceText(m.DeviceDesc),
			Path:       enumDisplayKey + `\` + m.HardwareID + `\` + m.Instance,
		}
		if m.Present {
			d.Status = "connected"
			// A node with a problem (disabled, failed to start) shows
			// nothing on the screen.
			if m.DevNodeStatus != nil && (*m.DevNodeStatus&dnHasProblem != 0 || *m.DevNodeStatus&dnStarted == 0) {
				d.Enabled = false
			}
		}
		if m.EDID != "" {
			if raw, err := edid.DecodeHex(m.EDID); err == nil {
				d.Edid = Edid(raw)
			}
		}
		ds = append(ds, d)
	}
	var drv []*fwv1.Driver
	for _, a := range rec.Adapters {
		name := cmp.Or(a.DriverDesc, a.MatchingDeviceID)
		if name == "" {
			continue
		}
		drv = append(drv, &fwv1.Driver{
			Name:        name,
			Type:        "display_adapter",
			Path:        displayClassKey + `\` + a.Key,
			HardwareId:  a.MatchingDeviceID,
			Provider:    a.ProviderName,
			Description: strings.TrimSpace(a.DriverDesc + " " + a.DriverVersion),
		})
	}
	return ds, drv
}

// resourceText is the text of a registry value that may be an indirect
// string: "@monitor.inf,%pnpmonitor.devicedesc%;Generic PnP Monitor" is
// "Generic PnP Monitor".
func resourceText(s string) string {
	if strings.HasPrefix(s, "@") {
		if i := strings.LastIndexByte(s, ';'); i >= 0 {
			return s[i+1:]
		}
	}
	return s
}
