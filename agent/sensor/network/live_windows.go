//go:build windows

package network

import (
	"context"
	"fmt"
	"strings"

	"golang.org/x/sys/windows/registry"
)

// liveProxy reads HKU\<SID>\Software\Microsoft\Windows\CurrentVersion\
// Internet Settings of every loaded user hive (ProxyEnable, ProxyServer,
// ProxyOverride, AutoConfigURL). Hives of users who are not logged on are
// not loaded and not read.
func liveProxy(context.Context) (any, error) {
	users, err := registry.USERS.ReadSubKeyNames(-1)
	if err != nil {
		return nil, fmt.Errorf(`list HKEY_USERS: %w`, err)
	}
	out := ProxyRecord{WinINET: []WinINETRecord{}}
	for _, sid := range users {
		if !strings.HasPrefix(sid, "S-1-5-21-") || strings.HasSuffix(sid, "_Classes") {
			continue
		}
		k, err := registry.OpenKey(registry.USERS, sid+`\Software\Microsoft\Windows\CurrentVersion\Internet Settings`, registry.QUERY_VALUE)
		if err != nil {
			continue
		}
		r := WinINETRecord{User: sid}
		if v, _, err := k.GetIntegerValue("ProxyEnable"); err == nil {
			r.ProxyEnable = int(v)
		}
		r.ProxyServer, _, _ = k.GetStringValue("ProxyServer")
		r.ProxyOverride, _, _ = k.GetStringValue("ProxyOverride")
		r.AutoConfigURL, _, _ = k.GetStringValue("AutoConfigURL")
		k.Close()
		out.WinINET = append(out.WinINET, r)
	}
	return out, nil
}
