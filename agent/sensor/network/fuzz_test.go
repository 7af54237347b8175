package network

import (
	"encoding/json"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"testing"

	fwv1 "github.com/farmwatch/farmwatch/proto/farmwatch/v1"
)

// Every parser of outside text has a fuzz target; the seeds are the test
// inputs. The parsers must not panic, what they return must be well formed,
// and no proxy setting ever keeps a credential.

// secret is a password planted in proxy values; it must never come out.
const secret = "S3CRET-PW"

// withoutSecret removes the planted password from fuzzer text, so that it
// is only where a test plants it.
func withoutSecret(s string) string {
	for strings.Contains(s, secret) {
		s = strings.ReplaceAll(s, secret, "")
	}
	return s
}

// checkProxies fails when a proxy setting keeps a credential (userinfo in
// its URL, '@' in its host, the planted password in any field) or is not
// well formed: a URL that is "unparsed" or parses back to its host and port.
func checkProxies(t *testing.T, ps []*fwv1.ProxySetting) {
	t.Helper()
	for _, p := range ps {
		for _, f := range append([]string{p.Url, p.Host, p.Source, p.Scope, p.Protocol}, p.Bypass...) {
			if strings.Contains(f, secret) {
				t.Fatalf("credential kept in %q of %v", f, p)
			}
		}
		if p.Url == "unparsed" {
			if p.Host != "" || p.Port != 0 {
				t.Fatalf("unparsed with a host: %v", p)
			}
			continue
		}
		u, err := url.Parse(p.Url)
		if err != nil || u.User != nil || strings.Contains(p.Host, "@") || u.Hostname() != p.Host || u.Port() != strconv.Itoa(int(p.Port)) || p.Port < 1 || p.Port > 65535 {
			t.Fatalf("proxy %v: URL %q (%v)", p, p.Url, err)
		}
	}
}

func FuzzParseResolvConf(f *testing.F) {
	f.Add("nameserver 10.0.0.1\nnameserver fd00::53\n")
	f.Fuzz(func(t *testing.T, s string) {
		ns := ParseResolvConf(s)
		if len(ns) > strings.Count(s, "nameserver") {
			t.Fatalf("%d servers from %d nameserver lines", len(ns), strings.Count(s, "nameserver"))
		}
		for _, n := range ns {
			if a, err := netip.ParseAddr(n); err != nil || a.String() != n {
				t.Fatalf("server %q is not an address in canonical form", n)
			}
		}
	})
}

func FuzzParseEnvFile(f *testing.F) {
	f.Add("all_proxy=\"socks5h://u:p@203.0.113.7:1080\"\nno_proxy=localhost\nexport HTTPS_PROXY='x:1'\n")
	f.Fuzz(func(t *testing.T, s string) {
		env := ParseEnvFile(s)
		for k, v := range env {
			if !envLine.MatchString(k+"=") || strings.Contains(v, "\n") {
				t.Fatalf("variable %q = %q", k, v)
			}
		}
		checkProxies(t, ProxiesFromEnv(env, "/etc/environment", "system"))
		s = withoutSecret(s)
		planted := "http_proxy=http://u:" + secret + "@" + strings.ReplaceAll(s, "\n", " ") + "\nHTTPS_PROXY='u:" + secret + "@" + strings.ReplaceAll(s, "'", "") + "'\n"
		checkProxies(t, ProxiesFromEnv(ParseEnvFile(planted), "/etc/environment", "system"))
	})
}

func FuzzParseProxyURL(f *testing.F) {
	for _, s := range []string{"socks5://10.1.2.3:1080", "proxy:3128", "http://u:p@Proxy/", "http://wpad/proxy.pac", "[fd00::1]:8080", "http://a@b@c:1", "http://[fe80::1%25en0]:8080"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for _, raw := range []string{s, "http://u:" + secret + "@" + withoutSecret(s), "u:" + secret + "@" + withoutSecret(s)} {
			u, err := ParseProxyURL(raw, "http")
			if err != nil {
				continue
			}
			if pu, perr := url.Parse(u.URL); u.Host == "" || u.Port <= 0 || perr != nil || pu.User != nil || strings.Contains(u.URL, secret) {
				t.Fatalf("%q -> %+v (%v)", raw, u, perr)
			}
			if !strings.HasPrefix(u.URL, u.Scheme+"://") || u.Host != strings.ToLower(u.Host) {
				t.Fatalf("%q -> %+v", raw, u)
			}
			checkProxies(t, []*fwv1.ProxySetting{{Url: u.URL, Host: u.Host, Port: u.Port}})
			// What comes out is a proxy address in its clean form: read
			// again (when escaping left it short enough), it stays the same.
			if again, err := ParseProxyURL(u.URL, "socks5"); len(u.URL) <= maxProxyURL && (err != nil || again != u) {
				t.Fatalf("%q -> %+v, read again %+v, %v", raw, u, again, err)
			}
		}
	})
}

func FuzzParseAptProxy(f *testing.F) {
	f.Add("Acquire::http::Proxy \"http://apt:3142/\";\n")
	f.Fuzz(func(t *testing.T, s string) {
		ps := ParseAptProxy(s, "/etc/apt/apt.conf")
		for _, p := range ps {
			if p.Source != "/etc/apt/apt.conf" || !map[string]bool{"http": true, "https": true, "ftp": true, "socks": true}[p.Protocol] {
				t.Fatalf("apt proxy %v", p)
			}
		}
		checkProxies(t, ps)
		s = strings.NewReplacer("\"", "", "\n", "").Replace(withoutSecret(s))
		checkProxies(t, ParseAptProxy("Acquire::http::Proxy \"http://u:"+secret+"@"+s+"\";\n", "/etc/apt/apt.conf"))
	})
}

func FuzzWindowsProxy(f *testing.F) {
	f.Add("http=proxy:8080;https=proxy:8443;socks=10.0.0.5:1080", "\nCurrent WinHTTP proxy settings:\n\n    Proxy Server(s) :  p:8080\n    Bypass List     :  <local>\n")
	f.Add("a:1;b:2;c:3;d:4;e:5;f:6;g:7;h:8;i:9;j:10;k:11;l:12;m:13;n:14;o:15;p:16;q:17", "")
	f.Fuzz(func(t *testing.T, server, netsh string) {
		bypass := SplitBypass(server)
		for _, b := range bypass {
			if b == "" || b != strings.TrimSpace(b) || strings.ContainsAny(b, ";,") {
				t.Fatalf("bypass entry %q", b)
			}
		}
		ps := ParseWinProxyServer(server, "wininet", "S-1", true, bypass)
		if len(ps) > 16 {
			t.Fatalf("%d settings", len(ps))
		}
		checkProxies(t, ps)
		checkProxies(t, ParseNetshWinHTTP(netsh))
		server, netsh = withoutSecret(server), withoutSecret(netsh)
		checkProxies(t, ParseWinProxyServer("https=u:"+secret+"@"+server, "wininet", "S-1", true, nil))
		checkProxies(t, ParseNetshWinHTTP("    Proxy Server(s) :  u:"+secret+"@"+strings.ReplaceAll(netsh, "\n", "")+"\n"))
	})
}

func FuzzParseScutil(f *testing.F) {
	f.Add(scutilProxy)
	f.Add(scutilDNS)
	f.Add(scutilDNS + scutilDNS)
	f.Fuzz(func(t *testing.T, s string) {
		checkProxies(t, ParseScutilProxy(s))
		ds := ParseScutilDNS(s)
		if len(ds) > 64 {
			t.Fatalf("%d resolvers", len(ds))
		}
		seen := map[string]bool{}
		for _, d := range ds {
			if a, err := netip.ParseAddr(d.Server); err != nil || a.String() != d.Server || seen[d.Server] || d.Source != "scutil" {
				t.Fatalf("resolver %v", d)
			}
			seen[d.Server] = true
		}
		for _, o := range (State{DNS: ds, Proxies: ParseScutilProxy(s)}).Observations("") {
			if o.Key == "" || o.Kind == nil {
				t.Fatalf("observation %v", o)
			}
		}
		s = withoutSecret(s)
		checkProxies(t, ParseScutilProxy("<dictionary> {\n  HTTPEnable : 1\n  HTTPProxy : u:"+secret+"@"+strings.ReplaceAll(s, "\n", "")+"\n  ProxyAutoConfigURLString : http://u:"+secret+"@"+strings.ReplaceAll(s, "\n", "")+"\n}\n"))
	})
}

// FuzzAPIJSON decodes api/proxy.json as a snapshot would hold it.
func FuzzAPIJSON(f *testing.F) {
	f.Add(`{"wininet":[{"user":"S-1","proxy_enable":1,"proxy_server":"203.0.113.7:3128","auto_config_url":"http://x/p.pac"}]}`)
	f.Fuzz(func(t *testing.T, proxy string) {
		var pr ProxyRecord
		if json.Unmarshal([]byte(proxy), &pr) == nil {
			checkProxies(t, WinINETProxies(pr))
		}
		proxy = withoutSecret(proxy)
		checkProxies(t, WinINETProxies(ProxyRecord{WinINET: []WinINETRecord{{User: "S-1", ProxyServer: "u:" + secret + "@" + proxy, AutoConfigURL: "http://u:" + secret + "@" + proxy}}}))
	})
}
