package network

import (
	"context"
	"strings"

	"github.com/farmwatch/farmwatch/agent/host"
	"github.com/farmwatch/farmwatch/agent/netstate"
	fwv1 "github.com/farmwatch/farmwatch/proto/farmwatch/v1"
)

// ProxyRecord is api/proxy.json (API.md): the WinINET settings of each
// loaded user hive, the machine-wide ones and the policy that chooses
// between them, and the WinHTTP default proxy.
type ProxyRecord struct {
	WinINET []WinINETRecord `json:"wininet"`
	// ProxySettingsPerUser is the policy value of that name under
	// HKLM\SOFTWARE\Policies\Microsoft\Windows\CurrentVersion\Internet Settings;
	// 0 makes the proxy settings per machine (Machine), nil when not set.
	ProxySettingsPerUser *uint32 `json:"proxy_settings_per_user,omitempty"`
	// Machine is HKLM\SOFTWARE\Microsoft\Windows\CurrentVersion\Internet Settings.
	Machine *WinINETRecord `json:"machine,omitempty"`
	// WinHTTP is WinHttpGetDefaultProxyConfiguration's answer: the proxy of
	// services and of programs using WinHTTP (netsh winhttp set proxy).
	// Absent in snapshots of older agents, which recorded `netsh winhttp
	// show proxy` instead.
	WinHTTP *WinHTTPRecord `json:"winhttp,omitempty"`
}

// WinHTTPRecord is the WINHTTP_PROXY_INFO of the default configuration.
type WinHTTPRecord struct {
	AccessType uint32 `json:"access_type"` // 1 no proxy, 3 named proxy (WINHTTP_ACCESS_TYPE_*)
	Proxy      string `json:"proxy,omitempty"`
	Bypass     string `json:"bypass,omitempty"`
	Error      string `json:"error,omitempty"`
}

// winhttpAccessTypeNamedProxy is WINHTTP_ACCESS_TYPE_NAMED_PROXY.
const winhttpAccessTypeNamedProxy = 3

// WinINETRecord is the Internet Settings key of one user.
type WinINETRecord struct {
	User          string `json:"user"` // SID, or user name when known
	ProxyEnable   int    `json:"proxy_enable"`
	ProxyServer   string `json:"proxy_server,omitempty"`
	ProxyOverride string `json:"proxy_override,omitempty"`
	AutoConfigURL string `json:"auto_config_url,omitempty"`
}

// readWindows reads the Windows sources named in the package doc.
func readWindows(ctx context.Context, h *host.Host) (State, error) {
	var errs []error
	ns, err := netstate.Read(ctx, h)
	if err != nil {
		errs = append(errs, err)
	}
	st := State{Interfaces: ns.Interfaces, Routes: ns.Routes, DNS: ns.DNS}
	var px ProxyRecord
	if err := h.API(ctx, "proxy", &px, liveProxy); err != nil {
		errs = append(errs, err)
	}
	st.Proxies = WinINETProxies(px)
	if px.WinHTTP != nil {
		st.Proxies = append(st.Proxies, WinHTTPProxies(*px.WinHTTP)...)
	} else if out, err := h.Run(ctx, host.Command{Name: "netsh", Args: []string{"winhttp", "show", "proxy"}}); err == nil {
		// A snapshot of an older agent: its English netsh output.
		st.Proxies = append(st.Proxies, ParseNetshWinHTTP(string(out))...)
	} else {
		errs = append(errs, err)
	}
	return st, absentOK(errs)
}

// WinHTTPProxies is the WinHTTP default proxy as settings: a named proxy
// ("proxy:8080", or per protocol) with its bypass list; none for direct
// access.
func WinHTTPProxies(r WinHTTPRecord) []*fwv1.ProxySetting {
	if r.AccessType != winhttpAccessTypeNamedProxy || strings.TrimSpace(r.Proxy) == "" {
		return nil
	}
	return ParseWinProxyServer(r.Proxy, "winhttp", "system", true, SplitBypass(r.Bypass))
}

// WinINETProxies turns each user's Internet Settings into proxy settings:
// ProxyServer (enabled when ProxyEnable is 1) and AutoConfigURL (a PAC file;
// set means used).
//
// When the policy ProxySettingsPerUser is 0, WinINET takes every user's
// settings from the machine's key: those are reported with scope
// "machine", and the users' own keys (which it then ignores) are still
// reported, as set but not in force.
func WinINETProxies(px ProxyRecord) []*fwv1.ProxySetting {
	var out []*fwv1.ProxySetting
	perMachine := px.ProxySettingsPerUser != nil && *px.ProxySettingsPerUser == 0
	users := px.WinINET
	if px.Machine != nil {
		m := *px.Machine
		m.User = "machine"
		users = append([]WinINETRecord{m}, users...)
	}
	for _, u := range users {
		inForce := perMachine == (u.User == "machine")
		if u.ProxyServer != "" {
			out = append(out, ParseWinProxyServer(u.ProxyServer, "wininet", u.User, inForce && u.ProxyEnable == 1, SplitBypass(u.ProxyOverride))...)
		}
		if u.AutoConfigURL != "" {
			out = append(out, setting("wininet", u.User, "pac", u.AutoConfigURL, "http", inForce))
		}
	}
	return out
}
