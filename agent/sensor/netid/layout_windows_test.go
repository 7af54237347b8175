//go:build windows

package netid

import (
	"unsafe"

	"golang.org/x/sys/windows"
)

// Compile-time checks, for the GOARCH being built (go vet with
// GOOS=windows GOARCH=arm64 compiles them too): each pair of array
// lengths fails to compile unless the size is exactly the documented one.
var (
	_ [unsafe.Sizeof(wlanInterfaceInfo{}) - 532]struct{}
	_ [532 - unsafe.Sizeof(wlanInterfaceInfo{})]struct{}
	_ [unsafe.Sizeof(wlanConnectionAttributes{}) - 604]struct{}
	_ [604 - unsafe.Sizeof(wlanConnectionAttributes{})]struct{}
	_ [unsafe.Sizeof(mibIpnetRow2{}) - 88]struct{}
	_ [88 - unsafe.Sizeof(mibIpnetRow2{})]struct{}
	// x/sys's MIB_IF_ROW2, which ifAlias and guidAlias hand to GetIfEntry2Ex.
	_ [unsafe.Sizeof(windows.MibIfRow2{}) - 1352]struct{}
	_ [1352 - unsafe.Sizeof(windows.MibIfRow2{})]struct{}
	_ [unsafe.Offsetof(windows.MibIfRow2{}.Alias) - 28]struct{}
	_ [28 - unsafe.Offsetof(windows.MibIfRow2{}.Alias)]struct{}
)
