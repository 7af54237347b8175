package network

import (
	"context"

	"github.com/farmwatch/farmwatch/agent/host"
	"github.com/farmwatch/farmwatch/agent/netstate"
	fwv1 "github.com/farmwatch/farmwatch/proto/farmwatch/v1"
)

// ProxyRecord is api/proxy.json: the WinINET settings of each loaded user
// hive.
type ProxyRecord struct {
	WinINET []WinINETRecord `json:"wininet"`
}

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
	if out, err := h.Run(ctx, host.Command{Name: "netsh", Args: []string{"winhttp", "show", "proxy"}}); err == nil {
		st.Proxies = append(st.Proxies, ParseNetshWinHTTP(string(out))...)
	} else {
		errs = append(errs, err)
	}
	return st, absentOK(errs)
}

// WinINETProxies turns each user's Internet Settings into proxy settings:
// ProxyServer (enabled when ProxyEnable is 1) and AutoConfigURL (a PAC file;
// set means used).
func WinINETProxies(px ProxyRecord) []*fwv1.ProxySetting {
	var out []*fwv1.ProxySetting
	for _, u := range px.WinINET {
		if u.ProxyServer != "" {
			out = append(out, ParseWinProxyServer(u.ProxyServer, "wininet", u.User, u.ProxyEnable == 1, SplitBypass(u.ProxyOverride))...)
		}
		if u.AutoConfigURL != "" {
			out = append(out, setting("wininet", u.User, "pac", u.AutoConfigURL, "http", true))
		}
	}
	return out
}
