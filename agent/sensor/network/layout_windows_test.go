//go:build windows

package network

import "unsafe"

const ptrSize = unsafe.Sizeof(uintptr(0))

// Compile-time checks for the GOARCH being built (go vet with GOOS=windows
// GOARCH=arm64 compiles them too): WINHTTP_PROXY_INFO is three
// pointer-sized slots, its strings at one and two pointers.
var (
	_ [unsafe.Sizeof(winhttpProxyInfo{}) - 3*ptrSize]struct{}
	_ [3*ptrSize - unsafe.Sizeof(winhttpProxyInfo{})]struct{}
	_ [unsafe.Offsetof(winhttpProxyInfo{}.Proxy) - ptrSize]struct{}
	_ [ptrSize - unsafe.Offsetof(winhttpProxyInfo{}.Proxy)]struct{}
	_ [unsafe.Offsetof(winhttpProxyInfo{}.ProxyBypass) - 2*ptrSize]struct{}
	_ [2*ptrSize - unsafe.Offsetof(winhttpProxyInfo{}.ProxyBypass)]struct{}
	// And the portable mirror agrees with it.
	_ [unsafe.Sizeof(winhttpProxyInfo{}) - unsafe.Sizeof(winhttpProxyInfoLayout{})]struct{}
	_ [unsafe.Sizeof(winhttpProxyInfoLayout{}) - unsafe.Sizeof(winhttpProxyInfo{})]struct{}
)
