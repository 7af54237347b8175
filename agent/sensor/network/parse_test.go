package network

import (
	"testing"

	fwv1 "github.com/farmwatch/farmwatch/proto/farmwatch/v1"
	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/testing/protocmp"
)

func TestParseResolvConf(t *testing.T) {
	got := ParseResolvConf("# generated\nsearch corp.example\nnameserver 10.66.0.1\nnameserver   fd00::53 # v6\n; nameserver 9.9.9.9\nnameserver not-an-ip\noptions edns0\n")
	if d := cmp.Diff([]string{"10.66.0.1", "fd00::53"}, got); d != "" {
		t.Fatal(d)
	}
}

func TestParseEnvFile(t *testing.T) {
	got := ParseEnvFile(`PATH="/usr/local/sbin:/usr/bin"
all_proxy="socks5h://203.0.113.7:1080"
export https_proxy='http://user:secret@proxy.corp.example:3128/'
HTTP_PROXY=http://10.0.0.1:8080 # office
# http_proxy=http://commented:1
if [ -n "$x" ]; then no_proxy=x; fi
no_proxy=localhost,.corp.example
unterminated="abc
`)
	want := map[string]string{
		"PATH": "/usr/local/sbin:/usr/bin", "all_proxy": "socks5h://203.0.113.7:1080",
		"https_proxy": "http://user:secret@proxy.corp.example:3128/", "HTTP_PROXY": "http://10.0.0.1:8080",
		"no_proxy": "localhost,.corp.example", "unterminated": "abc",
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Fatal(d)
	}
	ps := ProxiesFromEnv(got, "/etc/environment", "system")
	wantP := []*fwv1.ProxySetting{
		{Source: "/etc/environment", Scope: "system", Protocol: "http", Url: "http://10.0.0.1:8080", Host: "10.0.0.1", Port: 8080, Enabled: true, Bypass: []string{"localhost", ".corp.example"}},
		{Source: "/etc/environment", Scope: "system", Protocol: "https", Url: "http://proxy.corp.example:3128", Host: "proxy.corp.example", Port: 3128, Enabled: true, Bypass: []string{"localhost", ".corp.example"}},
		{Source: "/etc/environment", Scope: "system", Protocol: "all", Url: "socks5h://203.0.113.7:1080", Host: "203.0.113.7", Port: 1080, Enabled: true, Bypass: []string{"localhost", ".corp.example"}},
	}
	if d := cmp.Diff(wantP, ps, protocmp.Transform()); d != "" {
		t.Fatalf("(-want +got):\n%s", d)
	}
}

func TestParseProxyURL(t *testing.T) {
	for _, c := range []struct {
		raw, def, url, host string
		port                int32
		bad                 bool
	}{
		{"socks5://10.1.2.3:1080", "http", "socks5://10.1.2.3:1080", "10.1.2.3", 1080, false},
		{"proxy:3128", "http", "http://proxy:3128", "proxy", 3128, false},
		{"http://u:p@Proxy.Example/", "http", "http://proxy.example:80", "proxy.example", 80, false},
		{"https://proxy", "http", "https://proxy:443", "proxy", 443, false},
		{"socks4a://[fd00::5]", "http", "socks4a://[fd00::5]:1080", "fd00::5", 1080, false},
		{"http://wpad.corp.example/proxy.pac", "http", "http://wpad.corp.example:80/proxy.pac", "wpad.corp.example", 80, false},
		{"10.0.0.1:99999", "http", "", "", 0, true},
		{"", "http", "", "", 0, true},
		{"http://", "http", "", "", 0, true},
	} {
		u, err := ParseProxyURL(c.raw, c.def)
		if (err != nil) != c.bad || u.URL != c.url || u.Host != c.host || u.Port != c.port {
			t.Errorf("ParseProxyURL(%q) = %+v, %v", c.raw, u, err)
		}
	}
}

func TestParseAptProxy(t *testing.T) {
	got := ParseAptProxy("Acquire::http::Proxy \"http://apt-cache.corp.example:3142/\";\nAcquire::https::Proxy \"DIRECT\";\nAcquire::http::Proxy::ppa.launchpad.net \"DIRECT\";\n// Acquire::ftp::Proxy \"x\";\n", "/etc/apt/apt.conf.d/01proxy")
	if len(got) != 1 || got[0].Host != "apt-cache.corp.example" || got[0].Port != 3142 || got[0].Protocol != "http" {
		t.Fatalf("got %v", got)
	}
}

func TestParseWinProxy(t *testing.T) {
	got := ParseWinProxyServer("http=proxy:8080;https=proxy:8443;socks=10.0.0.5:1080", "wininet", "S-1-5-21-1", true, SplitBypass("<local>;*.contoso.com"))
	if len(got) != 3 || got[2].Protocol != "socks" || got[2].Url != "socks4://10.0.0.5:1080" || got[1].Port != 8443 || len(got[0].Bypass) != 2 {
		t.Fatalf("got %v", got)
	}
	px := WinINETProxies(ProxyRecord{WinINET: []WinINETRecord{{User: "S-1", ProxyEnable: 0, ProxyServer: "203.0.113.7:3128", AutoConfigURL: "http://198.51.100.4/p.pac"}}})
	if len(px) != 2 || px[0].Enabled || px[0].Protocol != "all" || px[1].Protocol != "pac" || !px[1].Enabled {
		t.Fatalf("wininet: %v", px)
	}
}

func TestParseNetshWinHTTP(t *testing.T) {
	if got := ParseNetshWinHTTP("\nCurrent WinHTTP proxy settings:\n\n    Direct access (no proxy server).\n\n"); len(got) != 0 {
		t.Errorf("direct: %v", got)
	}
	got := ParseNetshWinHTTP("\r\nCurrent WinHTTP proxy settings:\r\n\r\n    Proxy Server(s) :  proxy.contoso.com:8080\r\n    Bypass List     :  <local>;*.contoso.com\r\n")
	if len(got) != 1 || got[0].Host != "proxy.contoso.com" || got[0].Port != 8080 || got[0].Source != "winhttp" || len(got[0].Bypass) != 2 {
		t.Fatalf("got %v", got)
	}
}

const scutilProxy = `<dictionary> {
  ExceptionsList : <array> {
    0 : *.local
    1 : 169.254/16
  }
  FTPPassive : 1
  HTTPEnable : 1
  HTTPPort : 8080
  HTTPProxy : proxy.example
  HTTPSEnable : 0
  HTTPSPort : 8443
  HTTPSProxy : proxy.example
  ProxyAutoConfigEnable : 1
  ProxyAutoConfigURLString : http://wpad.example/proxy.pac
  SOCKSEnable : 1
  SOCKSPort : 1080
  SOCKSProxy : 203.0.113.7
}
`

func TestParseScutilProxy(t *testing.T) {
	got := ParseScutilProxy(scutilProxy)
	if len(got) != 4 {
		t.Fatalf("got %d: %v", len(got), got)
	}
	if got[0].Protocol != "http" || !got[0].Enabled || got[0].Port != 8080 || len(got[0].Bypass) != 2 {
		t.Errorf("http: %v", got[0])
	}
	if got[1].Protocol != "https" || got[1].Enabled {
		t.Errorf("https: %v", got[1])
	}
	if got[2].Url != "socks5://203.0.113.7:1080" || !got[2].Enabled {
		t.Errorf("socks: %v", got[2])
	}
	if got[3].Protocol != "pac" || got[3].Url != "http://wpad.example:80/proxy.pac" {
		t.Errorf("pac: %v", got[3])
	}
	if n := ParseScutilProxy("<dictionary> {\n  HTTPEnable : 0\n}\n"); len(n) != 0 {
		t.Errorf("empty: %v", n)
	}
}

const scutilDNS = `DNS configuration

resolver #1
  search domain[0] : corp.example
  nameserver[0] : 10.8.0.1
  if_index : 21 (utun4)
  flags    : Request A records
  reach    : 0x00000003 (Reachable,Transient Connection)

resolver #2
  domain   : local
  options  : mdns
  timeout  : 5
  flags    : Request A records
  reach    : 0x00000000 (Not Reachable)
  order    : 300000

DNS configuration (for scoped queries)

resolver #1
  nameserver[0] : 192.168.1.1
  nameserver[1] : fe80::1%en0
  if_index : 6 (en0)
  flags    : Scoped, Request A records
`

func TestParseScutilDNS(t *testing.T) {
	got := ParseScutilDNS(scutilDNS)
	want := []*fwv1.DnsResolver{
		{Server: "10.8.0.1", Interface: "utun4", Source: "scutil"},
		{Server: "192.168.1.1", Interface: "en0", Source: "scutil"},
		{Server: "fe80::1", Interface: "en0", Source: "scutil"},
	}
	if d := cmp.Diff(want, got, protocmp.Transform()); d != "" {
		t.Fatalf("(-want +got):\n%s", d)
	}
}
