package network

import (
	"bufio"
	"context"
	"net/netip"
	"regexp"
	"strings"

	"github.com/farmwatch/farmwatch/agent/host"
	"github.com/farmwatch/farmwatch/agent/netstate"
	fwv1 "github.com/farmwatch/farmwatch/proto/farmwatch/v1"
)

// readLinux reads the Linux files named in the package doc.
func readLinux(ctx context.Context, h *host.Host) (State, error) {
	ns, err := netstate.Read(ctx, h)
	st := State{Interfaces: ns.Interfaces, Routes: ns.Routes}

	if b, err := h.ReadFile("/etc/resolv.conf"); err == nil {
		for _, s := range ParseResolvConf(string(b)) {
			st.DNS = append(st.DNS, &fwv1.DnsResolver{Server: s, Source: "/etc/resolv.conf"})
		}
	}

	if b, err := h.ReadFile("/etc/environment"); err == nil {
		st.Proxies = append(st.Proxies, ProxiesFromEnv(ParseEnvFile(string(b)), "/etc/environment", "system")...)
	}
	if ps, err := h.Glob("/etc/profile.d/*.sh"); err == nil {
		for _, p := range ps {
			if b, err := h.ReadFile(p); err == nil {
				st.Proxies = append(st.Proxies, ProxiesFromEnv(ParseEnvFile(string(b)), p, "system")...)
			}
		}
	}
	apt := []string{"/etc/apt/apt.conf"}
	if ps, err := h.Glob("/etc/apt/apt.conf.d/*"); err == nil {
		apt = append(apt, ps...)
	}
	for _, p := range apt {
		if b, err := h.ReadFile(p); err == nil {
			st.Proxies = append(st.Proxies, ParseAptProxy(string(b), p)...)
		}
	}
	return st, err
}

// ParseResolvConf returns the nameserver addresses of a resolv.conf, in
// order. Other options are left alone.
func ParseResolvConf(s string) []string {
	var out []string
	for _, line := range lines(s) {
		f := strings.Fields(line)
		if len(f) >= 2 && f[0] == "nameserver" {
			v := f[1]
			if a, err := netip.ParseAddr(v); err == nil {
				v = a.String()
			} else {
				continue
			}
			out = append(out, v)
		}
	}
	return out
}

var envLine = regexp.MustCompile(`^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)=(.*)$`)

// ParseEnvFile reads KEY=VALUE lines as pam_env reads /etc/environment and
// as export lines of a shell profile read: an optional "export", the value
// unquoted when it is wholly in single or double quotes, a trailing comment
// dropped from an unquoted value. Other lines (shell logic) are skipped;
// the last assignment of a key wins.
func ParseEnvFile(s string) map[string]string {
	out := map[string]string{}
	for _, line := range lines(s) {
		if strings.HasPrefix(strings.TrimSpace(line), "#") {
			continue
		}
		m := envLine.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		v := strings.TrimSpace(m[2])
		if v != "" && (v[0] == '"' || v[0] == '\'') {
			if end := strings.IndexByte(v[1:], v[0]); end >= 0 {
				v = v[1 : end+1]
			} else {
				v = v[1:]
			}
		} else if i := strings.Index(v, " #"); i >= 0 {
			v = strings.TrimSpace(v[:i])
		}
		out[m[1]] = v
	}
	return out
}

// proxyVars maps proxy environment variables (lower-case) to what they
// proxy. The upper-case forms are read too; the lower-case one wins, as in
// curl and Go's httpproxy.
var proxyVars = []struct{ name, proto, scheme string }{
	{"http_proxy", "http", "http"},
	{"https_proxy", "https", "http"},
	{"ftp_proxy", "ftp", "http"},
	{"all_proxy", "all", "http"},
	{"socks_proxy", "socks", "socks5"},
}

// ProxiesFromEnv turns proxy variables into settings: one per variable
// that is set and names a proxy, with no_proxy as the bypass list.
func ProxiesFromEnv(env map[string]string, source, scope string) []*fwv1.ProxySetting {
	get := func(n string) string {
		if v, ok := env[n]; ok {
			return v
		}
		return env[strings.ToUpper(n)]
	}
	var bypass []string
	for _, b := range strings.Split(get("no_proxy"), ",") {
		if b = strings.TrimSpace(b); b != "" {
			bypass = append(bypass, b)
		}
	}
	var out []*fwv1.ProxySetting
	for _, v := range proxyVars {
		raw := strings.TrimSpace(get(v.name))
		if raw == "" {
			continue
		}
		p := &fwv1.ProxySetting{Source: source, Scope: scope, Protocol: v.proto, Enabled: true, Bypass: bypass}
		if u, err := ParseProxyURL(raw, v.scheme); err == nil {
			p.Url, p.Host, p.Port = u.URL, u.Host, u.Port
		} else {
			p.Url = "unparsed"
		}
		out = append(out, p)
	}
	return out
}

var aptProxy = regexp.MustCompile(`(?i)^\s*Acquire::(https?|ftp|socks)::Proxy\s+"([^"]*)"\s*;`)

// ParseAptProxy reads the one-line Acquire::<proto>::Proxy "URL"; settings
// of an apt configuration file. The block form (Acquire { http { Proxy ...
// } }) and per-host overrides are not read; "DIRECT" and "false" are no proxy.
func ParseAptProxy(s, source string) []*fwv1.ProxySetting {
	var out []*fwv1.ProxySetting
	for _, line := range lines(s) {
		m := aptProxy.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		v := strings.TrimSpace(m[2])
		if v == "" || strings.EqualFold(v, "DIRECT") || strings.EqualFold(v, "false") {
			continue
		}
		p := &fwv1.ProxySetting{Source: source, Scope: "system", Protocol: strings.ToLower(m[1]), Enabled: true}
		if u, err := ParseProxyURL(v, "http"); err == nil {
			p.Url, p.Host, p.Port = u.URL, u.Host, u.Port
		} else {
			p.Url = "unparsed"
		}
		out = append(out, p)
	}
	return out
}

// maxLines bounds what one parser keeps from one file.
const maxLines = 4096

// lines splits text into at most maxLines lines.
func lines(s string) []string {
	var out []string
	sc := bufio.NewScanner(strings.NewReader(s))
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	for sc.Scan() && len(out) < maxLines {
		out = append(out, sc.Text())
	}
	return out
}
