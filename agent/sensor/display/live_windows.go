//go:build windows

package display

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"unsafe"

	"golang.org/x/sys/windows"
	"golang.org/x/sys/windows/registry"
)

var (
	modCfgmgr32          = windows.NewLazySystemDLL("cfgmgr32.dll")
	procCMLocateDevNodeW = modCfgmgr32.NewProc("CM_Locate_DevNodeW")
)

const cmLocateDevnodeNormal = 0 // CM_LOCATE_DEVNODE_NORMAL: present nodes only

// devNodeStatus reports whether the device node of an instance id is
// present (CM_Locate_DevNode finds only nodes in the device tree now), and
// then its status flags and problem code (CM_Get_DevNode_Status).
func devNodeStatus(instanceID string) (bool, *uint32, *uint32) {
	id, err := windows.UTF16PtrFromString(instanceID)
	if err != nil || procCMLocateDevNodeW.Find() != nil {
		return false, nil, nil
	}
	var inst windows.DEVINST
	if r, _, _ := procCMLocateDevNodeW.Call(uintptr(unsafe.Pointer(&inst)), uintptr(unsafe.Pointer(id)), cmLocateDevnodeNormal); uint32(r) != 0 {
		return false, nil, nil // CR_NO_SUCH_DEVNODE: not present
	}
	var status, problem uint32
	if err := windows.CM_Get_DevNode_Status(&status, &problem, inst, 0); err != nil {
		return true, nil, nil
	}
	return true, &status, &problem
}

// liveDisplays reads the monitors under
// HKLM\SYSTEM\CurrentControlSet\Enum\DISPLAY\<hardware id>\<instance> (their
// DeviceDesc, Mfg, Driver and Service values, Device Parameters\EDID, and
// whether its device node is present, with its status and problem
// (CM_Locate_DevNode, CM_Get_DevNode_Status)) and the display adapter
// drivers under HKLM\SYSTEM\CurrentControlSet\Control\Class\{4d36e968-...}\NNNN
// (DriverDesc, MatchingDeviceId, ProviderName, DriverVersion, InfPath), in
// the 64-bit view, with read access only. A monitor or adapter that cannot
// be read is kept with its error.
func liveDisplays(ctx context.Context) (any, error) {
	var out winDisplays
	const enum = `SYSTEM\CurrentControlSet\Enum\DISPLAY`
	hws, err := subKeys(enum)
	if err != nil {
		return nil, fmt.Errorf(`list HKLM\%s: %w`, enum, err)
	}
	for _, hw := range hws {
		insts, err := subKeys(enum + `\` + hw)
		if err != nil {
			out.Monitors = append(out.Monitors, winMonitor{HardwareID: hw, Error: err.Error()})
			continue
		}
		for _, inst := range insts {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			out.Monitors = append(out.Monitors, readMonitor(enum+`\`+hw+`\`+inst, hw, inst))
		}
	}
	const class = `SYSTEM\CurrentControlSet\Control\Class\` + displayClass
	keys, err := subKeys(class)
	if err != nil {
		return nil, fmt.Errorf(`list HKLM\%s: %w`, class, err)
	}
	for _, k := range keys {
		if len(k) != 4 || strings.Trim(k, "0123456789") != "" {
			continue // "Properties" and the like
		}
		out.Adapters = append(out.Adapters, readAdapter(class+`\`+k, k))
	}
	return out, nil
}

func subKeys(path string) ([]string, error) {
	k, err := registry.OpenKey(registry.LOCAL_MACHINE, path, registry.ENUMERATE_SUB_KEYS|registry.WOW64_64KEY)
	if err != nil {
		return nil, err
	}
	defer k.Close()
	return k.ReadSubKeyNames(-1)
}

func readMonitor(path, hw, inst string) winMonitor {
	m := winMonitor{HardwareID: hw, Instance: inst}
	k, err := registry.OpenKey(registry.LOCAL_MACHINE, path, registry.QUERY_VALUE|registry.WOW64_64KEY)
	if err != nil {
		m.Error = err.Error()
		return m
	}
	defer k.Close()
	m.DeviceDesc = stringValue(k, "DeviceDesc")
	m.Mfg = stringValue(k, "Mfg")
	m.Driver = stringValue(k, "Driver")
	m.Service = stringValue(k, "Service")
	m.Present, m.DevNodeStatus, m.Problem = devNodeStatus(`DISPLAY\` + hw + `\` + inst)
	p, err := registry.OpenKey(registry.LOCAL_MACHINE, path+`\Device Parameters`, registry.QUERY_VALUE|registry.WOW64_64KEY)
	if err != nil {
		if !errors.Is(err, registry.ErrNotExist) {
			m.Error = err.Error()
		}
		return m
	}
	defer p.Close()
	if b, _, err := p.GetBinaryValue("EDID"); err == nil {
		m.EDID = hex.EncodeToString(b)
	}
	return m
}

func readAdapter(path, key string) winAdapter {
	a := winAdapter{Key: key}
	k, err := registry.OpenKey(registry.LOCAL_MACHINE, path, registry.QUERY_VALUE|registry.WOW64_64KEY)
	if err != nil {
		a.Error = err.Error()
		return a
	}
	defer k.Close()
	a.DriverDesc = stringValue(k, "DriverDesc")
	a.MatchingDeviceID = stringValue(k, "MatchingDeviceId")
	a.ProviderName = stringValue(k, "ProviderName")
	a.DriverVersion = stringValue(k, "DriverVersion")
	a.InfPath = stringValue(k, "InfPath")
	return a
}

// stringValue reads a REG_SZ or REG_EXPAND_SZ value as stored, "" when absent.
func stringValue(k registry.Key, name string) string {
	s, _, err := k.GetStringValue(name)
	if err != nil {
		return ""
	}
	return s
}
