package network

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strconv"
	"strings"

	fwv1 "github.com/farmwatch/farmwatch/proto/farmwatch/v1"
)

// ProxyURL is a proxy address, cleaned for reporting: the user name and
// password of the original are never kept.
type ProxyURL struct {
	URL    string // scheme://host:port[/path]
	Scheme string
	Host   string
	Port   int32
}

// hostChars are the characters of a host name (lower case) or of an
// interface name in an IPv6 zone.
const hostChars = "abcdefghijklmnopqrstuvwxyz0123456789.-_"

// maxProxyURL bounds a proxy value; longer is not a proxy address.
const maxProxyURL = 2048

// ParseProxyURL reads a proxy value as the tools that use it do: a URL
// ("socks5h://10.1.2.3:1080", "http://user:pw@proxy:3128/"), or a bare
// "host:port" taken to be of scheme def. The port defaults by scheme (http
// 80, https 443, socks 1080). Credentials are dropped. A PAC URL keeps its
// path.
func ParseProxyURL(raw, def string) (ProxyURL, error) {
	raw = strings.TrimSpace(raw)
	if raw == "" || len(raw) > maxProxyURL {
		return ProxyURL{}, errors.New("empty or too long")
	}
	if !strings.Contains(raw, "://") {
		raw = def + "://" + raw
	}
	u, err := url.Parse(raw)
	if err != nil {
		return ProxyURL{}, fmt.Errorf("proxy url: %w", err)
	}
	scheme := strings.ToLower(u.Scheme)
	hostname := strings.ToLower(u.Hostname())
	if hostname == "" || scheme == "" {
		return ProxyURL{}, errors.New("proxy url: no scheme or host")
	}
	// A name, or an address whose zone, if any, is an interface's name.
	name := hostname
	if a, err := netip.ParseAddr(hostname); err == nil {
		name = a.Zone()
	}
	if strings.Trim(name, hostChars) != "" {
		return ProxyURL{}, fmt.Errorf("proxy url: bad host %q", hostname)
	}
	port := 0
	if p := u.Port(); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n <= 0 || n > 65535 {
			return ProxyURL{}, fmt.Errorf("proxy url: bad port %q", p)
		}
		port = n
	} else {
		switch {
		case scheme == "https":
			port = 443
		case strings.HasPrefix(scheme, "socks"):
			port = 1080
		default:
			port = 80
		}
	}
	out := ProxyURL{Scheme: scheme, Host: hostname, Port: int32(port)}
	// A zone ("fe80::1%en0") is written %25 in a URL, so that it reads back.
	out.URL = scheme + "://" + net.JoinHostPort(strings.Replace(hostname, "%", "%25", 1), strconv.Itoa(port))
	if u.Path != "" && u.Path != "/" {
		out.URL += u.EscapedPath()
	}
	return out, nil
}

// setting builds a proxy setting from a raw value, marking it unparsed
// when the value is not a proxy address.
func setting(source, scope, proto, raw, def string, enabled bool) *fwv1.ProxySetting {
	p := &fwv1.ProxySetting{Source: source, Scope: scope, Protocol: proto, Enabled: enabled}
	if u, err := ParseProxyURL(raw, def); err == nil {
		p.Url, p.Host, p.Port = u.URL, u.Host, u.Port
	} else {
		p.Url = "unparsed"
	}
	return p
}

// ParseWinProxyServer reads a WinINET ProxyServer or WinHTTP proxy value:
// "proxy:8080" for every protocol, or "http=proxy:8080;https=proxy:8443;
// socks=10.0.0.5:1080" per protocol. It returns the settings in the order
// given; a bare value is protocol "all".
func ParseWinProxyServer(v, source, scope string, enabled bool, bypass []string) []*fwv1.ProxySetting {
	var out []*fwv1.ProxySetting
	for _, part := range strings.FieldsFunc(v, func(r rune) bool { return r == ';' || r == ' ' }) {
		proto, addr, ok := strings.Cut(part, "=")
		if !ok {
			proto, addr = "all", part
		}
		proto = strings.ToLower(strings.TrimSpace(proto))
		def := "http"
		if proto == "socks" {
			def = "socks4" // WinINET speaks SOCKS4 to a "socks=" proxy
		}
		p := setting(source, scope, proto, addr, def, enabled)
		p.Bypass = bypass
		out = append(out, p)
		if len(out) >= 16 {
			break
		}
	}
	return out
}

// SplitBypass splits a WinINET ProxyOverride or WinHTTP bypass list.
func SplitBypass(v string) []string {
	var out []string
	for _, b := range strings.FieldsFunc(v, func(r rune) bool { return r == ';' || r == ',' }) {
		if b = strings.TrimSpace(b); b != "" && b != "(none)" {
			out = append(out, b)
		}
	}
	return out
}

// ParseNetshWinHTTP reads the output of `netsh winhttp show proxy`:
//
//	Current WinHTTP proxy settings:
//
//	    Proxy Server(s) :  proxy.example:8080
//	    Bypass List     :  <local>;*.contoso.com
//
// or "Direct access (no proxy server)." when none is set.
func ParseNetshWinHTTP(s string) []*fwv1.ProxySetting {
	var server, bypass string
	for _, line := range lines(s) {
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		k = strings.ToLower(strings.TrimSpace(k))
		v = strings.TrimSpace(v)
		switch {
		case strings.HasPrefix(k, "proxy server"):
			server = v
		case strings.HasPrefix(k, "bypass list"):
			bypass = v
		}
	}
	if server == "" {
		return nil
	}
	return ParseWinProxyServer(server, "winhttp", "system", true, SplitBypass(bypass))
}

// ParseScutilProxy reads the output of `scutil --proxy`, the system proxy
// settings of macOS:
//
//	<dictionary> {
//	  ExceptionsList : <array> {
//	    0 : *.local
//	  }
//	  HTTPEnable : 1
//	  HTTPPort : 8080
//	  HTTPProxy : proxy.example
//	  ProxyAutoConfigEnable : 1
//	  ProxyAutoConfigURLString : http://wpad.example/proxy.pac
//	  SOCKSEnable : 1
//	  SOCKSPort : 1080
//	  SOCKSProxy : 10.0.0.5
//	}
//
// A protocol whose host is set is reported, enabled or not.
func ParseScutilProxy(s string) []*fwv1.ProxySetting {
	kv := map[string]string{}
	var exceptions []string
	depth, inExc := 0, false
	for _, line := range lines(s) {
		t := strings.TrimSpace(line)
		if t == "}" {
			depth--
			inExc = false
			continue
		}
		k, v, ok := strings.Cut(t, " : ")
		if !ok {
			if strings.HasSuffix(t, "{") {
				depth++
			}
			continue
		}
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		if strings.HasSuffix(v, "{") {
			depth++
			inExc = k == "ExceptionsList"
			continue
		}
		if inExc {
			exceptions = append(exceptions, v)
			continue
		}
		if depth <= 1 {
			kv[k] = v
		}
	}
	var out []*fwv1.ProxySetting
	for _, p := range []struct{ key, proto, scheme string }{
		{"HTTP", "http", "http"}, {"HTTPS", "https", "http"}, {"SOCKS", "socks", "socks5"}, {"FTP", "ftp", "http"},
	} {
		h := kv[p.key+"Proxy"]
		if h == "" {
			continue
		}
		addr := h
		if port := kv[p.key+"Port"]; port != "" {
			addr = net.JoinHostPort(h, port)
		}
		ps := setting("scutil", "system", p.proto, addr, p.scheme, kv[p.key+"Enable"] == "1")
		ps.Bypass = exceptions
		out = append(out, ps)
	}
	if u := kv["ProxyAutoConfigURLString"]; u != "" {
		ps := setting("scutil", "system", "pac", u, "http", kv["ProxyAutoConfigEnable"] == "1")
		out = append(out, ps)
	}
	return out
}
