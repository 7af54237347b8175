package network

import (
	"encoding/json"
	"net/url"
	"testing"
)

// Every parser of outside text has a fuzz target; the seeds are the test
// inputs. The parsers must not panic, and a proxy address must never keep
// credentials.

func FuzzParseResolvConf(f *testing.F) {
	f.Add("nameserver 10.0.0.1\nnameserver fd00::53\n")
	f.Fuzz(func(t *testing.T, s string) { ParseResolvConf(s) })
}

func FuzzParseEnvFile(f *testing.F) {
	f.Add("all_proxy=\"socks5h://u:p@203.0.113.7:1080\"\nno_proxy=localhost\nexport HTTPS_PROXY='x:1'\n")
	f.Fuzz(func(t *testing.T, s string) {
		for _, p := range ProxiesFromEnv(ParseEnvFile(s), "/etc/environment", "system") {
			if u, err := url.Parse(p.Url); err == nil && u.User != nil {
				t.Fatalf("credentials kept: %q", p.Url)
			}
		}
	})
}

func FuzzParseProxyURL(f *testing.F) {
	for _, s := range []string{"socks5://10.1.2.3:1080", "proxy:3128", "http://u:p@Proxy/", "http://wpad/proxy.pac", "[fd00::1]:8080", "http://a@b@c:1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		u, err := ParseProxyURL(s, "http")
		if err != nil {
			return
		}
		if pu, perr := url.Parse(u.URL); u.Host == "" || u.Port <= 0 || perr != nil || pu.User != nil {
			t.Fatalf("%q -> %+v", s, u)
		}
	})
}

func FuzzParseAptProxy(f *testing.F) {
	f.Add("Acquire::http::Proxy \"http://apt:3142/\";\n")
	f.Fuzz(func(t *testing.T, s string) { ParseAptProxy(s, "/etc/apt/apt.conf") })
}

func FuzzWindowsProxy(f *testing.F) {
	f.Add("http=proxy:8080;https=proxy:8443;socks=10.0.0.5:1080", "\nCurrent WinHTTP proxy settings:\n\n    Proxy Server(s) :  p:8080\n    Bypass List     :  <local>\n")
	f.Fuzz(func(t *testing.T, server, netsh string) {
		ParseWinProxyServer(server, "wininet", "S-1", true, SplitBypass(server))
		ParseNetshWinHTTP(netsh)
	})
}

func FuzzParseScutil(f *testing.F) {
	f.Add(scutilProxy)
	f.Add(scutilDNS)
	f.Fuzz(func(t *testing.T, s string) {
		ParseScutilProxy(s)
		ParseScutilDNS(s)
	})
}

// FuzzAPIJSON decodes api/proxy.json as a snapshot would hold it.
func FuzzAPIJSON(f *testing.F) {
	f.Add(`{"wininet":[{"user":"S-1","proxy_enable":1,"proxy_server":"203.0.113.7:3128","auto_config_url":"http://x/p.pac"}]}`)
	f.Fuzz(func(t *testing.T, proxy string) {
		var pr ProxyRecord
		if json.Unmarshal([]byte(proxy), &pr) == nil {
			WinINETProxies(pr)
		}
	})
}
