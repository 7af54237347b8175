package display

import (
	"encoding/hex"
	"strings"
	"testing"

	"github.com/farmwatch/farmwatch/agent/sensor/internal/dumpconv"
)

// regDisplays converts a `reg export` of HKLM\SYSTEM\CurrentControlSet\Enum\DISPLAY
// (or of some of its keys) into api/displays.json's monitors: one per
// instance key, with its values and its Device Parameters\EDID. A .reg
// file does not say whether a monitor is present.
func regDisplays(t *testing.T, b []byte) winDisplays {
	t.Helper()
	keys, err := dumpconv.ParseRegExport(b)
	if err != nil {
		t.Fatal(err)
	}
	const prefix = `HKEY_LOCAL_MACHINE\SYSTEM\CurrentControlSet\Enum\DISPLAY\`
	byInst := map[string]*winMonitor{}
	var order []string
	for _, k := range keys {
		rest, ok := strings.CutPrefix(k.Path, prefix)
		if !ok {
			continue
		}
		parts := strings.Split(rest, `\`)
		if len(parts) < 2 {
			continue
		}
		id := parts[0] + `\` + parts[1]
		m := byInst[id]
		if m == nil {
			m = &winMonitor{HardwareID: parts[0], Instance: parts[1]}
			byInst[id] = m
			order = append(order, id)
		}
		switch {
		case len(parts) == 2:
			m.DeviceDesc = k.Values["DeviceDesc"].String()
			m.Mfg = k.Values["Mfg"].String()
			m.Driver = k.Values["Driver"].String()
			m.Service = k.Values["Service"].String()
		case len(parts) == 3 && parts[2] == "Device Parameters":
			if e, ok := k.Values["EDID"]; ok {
				m.EDID = hex.EncodeToString(e.Data)
			}
		}
	}
	var out winDisplays
	for _, id := range order {
		out.Monitors = append(out.Monitors, *byInst[id])
	}
	return out
}

// TestRegExportDisplayPublic: a laptop panel's Enum\DISPLAY key as regedit
// exported it (testdata/README.md): AUO 0x139e, B173RW01 V3.
func TestRegExportDisplayPublic(t *testing.T) {
	rec := regDisplays(t, readTestdata(t, "public/scratchpad-auo139e.reg"))
	ds, _ := winObservations(rec)
	if len(ds) != 1 {
		t.Fatalf("%v", ds)
	}
	e := ds[0].Edid
	if ds[0].HardwareId != "AUO139E" || e.GetManufacturer() != "AUO" || e.GetProductCode() != 0x139e || !e.GetChecksumValid() ||
		e.GetWidthCm() != 38 || e.GetHeightCm() != 21 || ds[0].Status != "disconnected" {
		t.Errorf("AUO panel: %v", ds[0])
	}
	checkFound(t, ds, nil)
}

// TestDevNodeStatus: a present node that has a problem, or has not
// started, shows nothing: it is connected but not enabled.
func TestDevNodeStatus(t *testing.T) {
	u := func(v uint32) *uint32 { return &v }
	rec := winDisplays{Monitors: []winMonitor{
		{HardwareID: "DEL405E", Instance: "a", Present: true, DevNodeStatus: u(0x0180200a), Problem: u(0)},
		{HardwareID: "DEL405E", Instance: "b", Present: true, DevNodeStatus: u(0x01802400), Problem: u(22)},
		{HardwareID: "DEL405E", Instance: "c", Present: true},
		{HardwareID: "DEL405E", Instance: "d"},
	}}
	ds, _ := winObservations(rec)
	got := map[string][2]any{}
	for _, d := range ds {
		got[d.Connector] = [2]any{d.Status, d.Enabled}
	}
	want := map[string][2]any{"DEL405E/a": {"connected", true}, "DEL405E/b": {"connected", false},
		"DEL405E/c": {"connected", true}, "DEL405E/d": {"disconnected", false}}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s: %v, want %v", k, got[k], v)
		}
	}
}
