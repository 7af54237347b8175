package netid

import (
	"encoding/binary"
	"testing"
	"unsafe"
)

// The documented layouts of the structures the live agent decodes, the
// same on 386, amd64 and arm64 (they hold no pointers): sizes and offsets
// follow from wlanapi.h, windot11.h and netioapi.h (mingw-w64's copies in
// ziglang/zig@34d2a146 lib/libc/include/any-windows-any; the 88 bytes of
// MIB_IPNET_ROW2 are asserted by public ctypes code too). The Go mirrors
// must agree field by field, as Go lays them out (unsafe) and as
// encoding/binary reads them.
func TestWindowsLayouts(t *testing.T) {
	var info wlanInterfaceInfo
	var conn wlanConnectionAttributes
	var row mibIpnetRow2
	for _, c := range []struct {
		name       string
		got, want  uintptr
		binarySize int
	}{
		{"WLAN_INTERFACE_INFO", unsafe.Sizeof(info), 532, binary.Size(info)},
		{"WLAN_INTERFACE_INFO.strInterfaceDescription", unsafe.Offsetof(info.Description), 16, -1},
		{"WLAN_INTERFACE_INFO.isState", unsafe.Offsetof(info.State), 528, -1},
		{"WLAN_INTERFACE_INFO_LIST.InterfaceInfo", unsafe.Sizeof(wlanInterfaceInfoListHeader{}), 8, -1},
		{"WLAN_CONNECTION_ATTRIBUTES", unsafe.Sizeof(conn), 604, binary.Size(conn)},
		{"WLAN_CONNECTION_ATTRIBUTES.strProfileName", unsafe.Offsetof(conn.ProfileName), 8, -1},
		{"WLAN_CONNECTION_ATTRIBUTES.wlanAssociationAttributes.dot11Ssid", unsafe.Offsetof(conn.SSIDLength), 520, -1},
		{"...dot11Ssid.ucSSID", unsafe.Offsetof(conn.SSID), 524, -1},
		{"...dot11BssType", unsafe.Offsetof(conn.BSSType), 556, -1},
		{"...dot11Bssid", unsafe.Offsetof(conn.BSSID), 560, -1},
		{"...dot11PhyType", unsafe.Offsetof(conn.PhyType), 568, -1},
		{"...ulTxRate", unsafe.Offsetof(conn.TxRate), 584, -1},
		{"WLAN_CONNECTION_ATTRIBUTES.wlanSecurityAttributes", unsafe.Offsetof(conn.SecurityEnabled), 588, -1},
		{"MIB_IPNET_ROW2", unsafe.Sizeof(row), 88, binary.Size(row)},
		{"MIB_IPNET_ROW2.InterfaceIndex", unsafe.Offsetof(row.InterfaceIndex), 28, -1},
		{"MIB_IPNET_ROW2.InterfaceLuid", unsafe.Offsetof(row.InterfaceLuid), 32, -1},
		{"MIB_IPNET_ROW2.PhysicalAddress", unsafe.Offsetof(row.PhysicalAddress), 40, -1},
		{"MIB_IPNET_ROW2.PhysicalAddressLength", unsafe.Offsetof(row.PhysicalAddressLength), 72, -1},
		{"MIB_IPNET_ROW2.State", unsafe.Offsetof(row.State), 76, -1},
		{"MIB_IPNET_ROW2.Flags", unsafe.Offsetof(row.Flags), 80, -1},
		{"MIB_IPNET_ROW2.ReachabilityTime", unsafe.Offsetof(row.ReachabilityTime), 84, -1},
	} {
		if c.got != c.want || c.binarySize >= 0 && uintptr(c.binarySize) != c.want {
			t.Errorf("%s: Go lays out %d (encoding/binary %d), documented %d", c.name, c.got, c.binarySize, c.want)
		}
	}
	if mibIpnetTable2Rows != 8 {
		t.Errorf("MIB_IPNET_TABLE2.Table at %d, documented 8 (NumEntries, then 8-aligned rows)", mibIpnetTable2Rows)
	}
}
