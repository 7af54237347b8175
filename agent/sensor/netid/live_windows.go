//go:build windows

package netid

import (
	"context"
	"errors"
	"fmt"
	"syscall"
	"unsafe"

	"golang.org/x/sys/windows"
)

var (
	modWlanapi             = windows.NewLazySystemDLL("wlanapi.dll")
	procWlanOpenHandle     = modWlanapi.NewProc("WlanOpenHandle")
	procWlanCloseHandle    = modWlanapi.NewProc("WlanCloseHandle")
	procWlanEnumInterfaces = modWlanapi.NewProc("WlanEnumInterfaces")
	procWlanQueryInterface = modWlanapi.NewProc("WlanQueryInterface")
	procWlanFreeMemory     = modWlanapi.NewProc("WlanFreeMemory")

	modIphlpapi                    = windows.NewLazySystemDLL("iphlpapi.dll")
	procGetIpNetTable2             = modIphlpapi.NewProc("GetIpNetTable2")
	procConvertInterfaceGuidToLuid = modIphlpapi.NewProc("ConvertInterfaceGuidToLuid")
)

const (
	wlanClientVersion               = 2 // Windows Vista and later
	wlanIntfOpcodeCurrentConnection = 7 // wlan_intf_opcode_current_connection
	wlanInterfaceStateConnected     = "connected"
	maxNeighborRows                 = 4096
)

// liveNeighbors reads the IPv4 and IPv6 neighbour tables
// (GetIpNetTable2(AF_UNSPEC)) and names each row's interface by its alias
// (GetIfEntry2Ex). It is an API, not `arp -a`, whose words are in the
// language of the Windows installation.
func liveNeighbors(ctx context.Context) (any, error) {
	if err := procGetIpNetTable2.Find(); err != nil {
		return nil, err
	}
	var table unsafe.Pointer
	if r, _, _ := procGetIpNetTable2.Call(windows.AF_UNSPEC, uintptr(unsafe.Pointer(&table))); r != 0 {
		return nil, fmt.Errorf("GetIpNetTable2: %w", syscall.Errno(r))
	}
	defer windows.FreeMibTable(table)
	n := int(*(*uint32)(table))
	if n > maxNeighborRows {
		n = maxNeighborRows
	}
	aliases := map[uint32]string{}
	out := make([]neighborRecord, 0, n)
	for i := 0; i < n; i++ {
		if i%256 == 0 && ctx.Err() != nil {
			return nil, ctx.Err()
		}
		row := unsafe.Slice((*byte)(unsafe.Add(table, mibIpnetTable2Rows+i*sizeofMibIpnetRow2)), sizeofMibIpnetRow2)
		r, ok := decodeIpNetRow(row)
		if !ok {
			continue
		}
		a, seen := aliases[r.IfIndex]
		if !seen {
			a = ifAlias(r.IfIndex)
			aliases[r.IfIndex] = a
		}
		r.Interface = a
		out = append(out, r)
	}
	return out, nil
}

// ifAlias is an interface's alias (its friendly name, "Wi-Fi"), "" when
// it cannot be read.
func ifAlias(index uint32) string {
	row := windows.MibIfRow2{InterfaceIndex: index}
	if err := windows.GetIfEntry2Ex(windows.MibIfEntryNormal, &row); err != nil {
		return ""
	}
	return windows.UTF16ToString(row.Alias[:])
}

// liveWLAN lists the wireless interfaces (WlanEnumInterfaces) and, for
// each connected one, its current connection
// (WlanQueryInterface(wlan_intf_opcode_current_connection)): profile,
// SSID and BSSID. Windows 11 24H2 and later refuse the connection's
// attributes (ERROR_ACCESS_DENIED) to a caller without location consent;
// that is recorded as denied. A machine without the WLAN service (no Wi-Fi
// adapter) has no wireless interface.
func liveWLAN(ctx context.Context) (any, error) {
	if err := procWlanOpenHandle.Find(); err != nil {
		return []wlanRecord{}, nil // no Native Wifi on this edition
	}
	var negotiated uint32
	var h windows.Handle
	if r, _, _ := procWlanOpenHandle.Call(wlanClientVersion, 0, uintptr(unsafe.Pointer(&negotiated)), uintptr(unsafe.Pointer(&h))); r != 0 {
		if errors.Is(syscall.Errno(r), windows.ERROR_SERVICE_NOT_ACTIVE) {
			return []wlanRecord{}, nil // WLAN AutoConfig is not running: no Wi-Fi
		}
		return nil, fmt.Errorf("WlanOpenHandle: %w", syscall.Errno(r))
	}
	defer procWlanCloseHandle.Call(uintptr(h), 0)
	var list unsafe.Pointer
	if r, _, _ := procWlanEnumInterfaces.Call(uintptr(h), 0, uintptr(unsafe.Pointer(&list))); r != 0 {
		return nil, fmt.Errorf("WlanEnumInterfaces: %w", syscall.Errno(r))
	}
	defer procWlanFreeMemory.Call(uintptr(list))
	items := int(*(*uint32)(list))
	recs := decodeWlanInterfaceList(unsafe.Slice((*byte)(list), 8+min(max(items, 0), 64)*sizeofWlanInterfaceInfo))
	for i := range recs {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		r := &recs[i]
		guid, err := windows.GUIDFromString(r.GUID)
		if err != nil {
			r.Error = err.Error()
			continue
		}
		r.Interface = guidAlias(&guid)
		if r.State != wlanInterfaceStateConnected {
			continue
		}
		var size uint32
		var data unsafe.Pointer
		rc, _, _ := procWlanQueryInterface.Call(uintptr(h), uintptr(unsafe.Pointer(&guid)), wlanIntfOpcodeCurrentConnection, 0,
			uintptr(unsafe.Pointer(&size)), uintptr(unsafe.Pointer(&data)), 0)
		if rc != 0 {
			err := syscall.Errno(rc)
			r.Error = "WlanQueryInterface: " + err.Error()
			r.Denied = errors.Is(err, windows.ERROR_ACCESS_DENIED)
			continue
		}
		if int(size) >= sizeofWlanConnectionAttributes && data != nil {
			decodeWlanConnection(r, unsafe.Slice((*byte)(data), sizeofWlanConnectionAttributes))
		}
		procWlanFreeMemory.Call(uintptr(data))
	}
	return recs, nil
}

// guidAlias is the alias of the interface with the given GUID, "" when it
// cannot be read.
func guidAlias(g *windows.GUID) string {
	var luid uint64
	if r, _, _ := procConvertInterfaceGuidToLuid.Call(uintptr(unsafe.Pointer(g)), uintptr(unsafe.Pointer(&luid))); r != 0 {
		return ""
	}
	row := windows.MibIfRow2{InterfaceLuid: luid}
	if err := windows.GetIfEntry2Ex(windows.MibIfEntryNormal, &row); err != nil {
		return ""
	}
	return windows.UTF16ToString(row.Alias[:])
}
