package network

import (
	"runtime"
	"testing"
	"unsafe"
)

// winhttpProxyInfoLayout mirrors WINHTTP_PROXY_INFO (winhttp.h: DWORD
// dwAccessType; LPWSTR lpszProxy; LPWSTR lpszProxyBypass) with the pointers
// as uintptr, so that this file builds on every OS; live_windows.go's
// winhttpProxyInfo, with real pointers, is held to the same numbers by
// layout_windows_test.go.
type winhttpProxyInfoLayout struct {
	AccessType  uint32
	Proxy       uintptr
	ProxyBypass uintptr
}

// The documented layout per architecture: the pointers are 4-aligned on
// 386 and arm, 8-aligned on amd64 and arm64.
var winhttpProxyInfoDoc = map[string]struct{ size, proxy, bypass uintptr }{
	"386": {12, 4, 8}, "arm": {12, 4, 8}, "amd64": {24, 8, 16}, "arm64": {24, 8, 16},
}

func TestWinHTTPProxyInfoLayout(t *testing.T) {
	doc, ok := winhttpProxyInfoDoc[runtime.GOARCH]
	if !ok {
		t.Skipf("no Windows on %s", runtime.GOARCH)
	}
	var x winhttpProxyInfoLayout
	if got := (struct{ size, proxy, bypass uintptr }{unsafe.Sizeof(x), unsafe.Offsetof(x.Proxy), unsafe.Offsetof(x.ProxyBypass)}); got != doc {
		t.Errorf("WINHTTP_PROXY_INFO on %s: Go lays out %+v, documented %+v", runtime.GOARCH, got, doc)
	}
}
