//go:build windows

package network

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"unsafe"

	"golang.org/x/sys/windows"
	"golang.org/x/sys/windows/registry"
)

const (
	internetSettings       = `Software\Microsoft\Windows\CurrentVersion\Internet Settings`
	internetSettingsPolicy = `SOFTWARE\Policies\Microsoft\Windows\CurrentVersion\Internet Settings`
)

var (
	modWinhttp                              = windows.NewLazySystemDLL("winhttp.dll")
	procWinHttpGetDefaultProxyConfiguration = modWinhttp.NewProc("WinHttpGetDefaultProxyConfiguration")
	modKernel32                             = windows.NewLazySystemDLL("kernel32.dll")
	procGlobalFree                          = modKernel32.NewProc("GlobalFree")
)

// winhttpProxyInfo is WINHTTP_PROXY_INFO (winhttp.h): a DWORD and two
// LPWSTR, which WinHttpGetDefaultProxyConfiguration allocates with
// GlobalAlloc. layout_windows_test.go checks it for 386, amd64 and arm64.
type winhttpProxyInfo struct {
	AccessType  uint32
	Proxy       *uint16
	ProxyBypass *uint16
}

// liveProxy reads, in the 64-bit registry view:
//   - HKU\<SID>\Software\Microsoft\Windows\CurrentVersion\Internet Settings
//     of every loaded user hive of a person (S-1-5-21-*: local and domain
//     accounts; S-1-12-1-*: Microsoft Entra ID accounts): ProxyEnable,
//     ProxyServer, ProxyOverride, AutoConfigURL. Hives of users who are
//     not logged on are not loaded and not read;
//   - the policy ProxySettingsPerUser under HKLM\SOFTWARE\Policies\Microsoft\
//     Windows\CurrentVersion\Internet Settings, and the same four values
//     under HKLM\Software\Microsoft\Windows\CurrentVersion\Internet Settings,
//     which WinINET uses for everyone when that policy is 0;
//   - the WinHTTP default proxy, WinHttpGetDefaultProxyConfiguration.
func liveProxy(ctx context.Context) (any, error) {
	users, err := registry.USERS.ReadSubKeyNames(-1)
	if err != nil {
		return nil, fmt.Errorf(`list HKEY_USERS: %w`, err)
	}
	out := ProxyRecord{WinINET: []WinINETRecord{}}
	for _, sid := range users {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if !personSID(sid) {
			continue
		}
		if r, ok := readInternetSettings(registry.USERS, sid+`\`+internetSettings); ok {
			r.User = sid
			out.WinINET = append(out.WinINET, r)
		}
	}
	if k, err := registry.OpenKey(registry.LOCAL_MACHINE, internetSettingsPolicy, registry.QUERY_VALUE|registry.WOW64_64KEY); err == nil {
		if v, _, err := k.GetIntegerValue("ProxySettingsPerUser"); err == nil {
			u := uint32(v)
			out.ProxySettingsPerUser = &u
		}
		k.Close()
	}
	if r, ok := readInternetSettings(registry.LOCAL_MACHINE, internetSettings); ok && r != (WinINETRecord{}) {
		out.Machine = &r
	}
	w := liveWinHTTP()
	out.WinHTTP = &w
	return out, nil
}

// personSID reports whether a loaded hive is a person's: a local or domain
// account (S-1-5-21-) or a Microsoft Entra ID account (S-1-12-1-), not a
// service account or a _Classes hive.
func personSID(sid string) bool {
	return !strings.HasSuffix(sid, "_Classes") && (strings.HasPrefix(sid, "S-1-5-21-") || strings.HasPrefix(sid, "S-1-12-1-"))
}

func readInternetSettings(root registry.Key, path string) (WinINETRecord, bool) {
	k, err := registry.OpenKey(root, path, registry.QUERY_VALUE|registry.WOW64_64KEY)
	if err != nil {
		return WinINETRecord{}, false
	}
	defer k.Close()
	var r WinINETRecord
	if v, _, err := k.GetIntegerValue("ProxyEnable"); err == nil {
		r.ProxyEnable = int(v)
	}
	r.ProxyServer, _, _ = k.GetStringValue("ProxyServer")
	r.ProxyOverride, _, _ = k.GetStringValue("ProxyOverride")
	r.AutoConfigURL, _, _ = k.GetStringValue("AutoConfigURL")
	return r, true
}

// liveWinHTTP asks WinHttpGetDefaultProxyConfiguration, which reads the
// WinHttpSettings value that `netsh winhttp set proxy` writes, and frees
// its strings with GlobalFree.
func liveWinHTTP() WinHTTPRecord {
	if err := procWinHttpGetDefaultProxyConfiguration.Find(); err != nil {
		return WinHTTPRecord{Error: err.Error()}
	}
	var info winhttpProxyInfo
	ok, _, callErr := procWinHttpGetDefaultProxyConfiguration.Call(uintptr(unsafe.Pointer(&info)))
	// BOOL: only its low 32 bits are the result.
	if uint32(ok) == 0 {
		var errno windows.Errno
		if !errors.As(callErr, &errno) {
			errno = windows.ERROR_GEN_FAILURE
		}
		return WinHTTPRecord{Error: "WinHttpGetDefaultProxyConfiguration: " + errno.Error()}
	}
	r := WinHTTPRecord{AccessType: info.AccessType}
	if info.Proxy != nil {
		r.Proxy = windows.UTF16PtrToString(info.Proxy)
		procGlobalFree.Call(uintptr(unsafe.Pointer(info.Proxy)))
	}
	if info.ProxyBypass != nil {
		r.Bypass = windows.UTF16PtrToString(info.ProxyBypass)
		procGlobalFree.Call(uintptr(unsafe.Pointer(info.ProxyBypass)))
	}
	return r
}
