package network

import (
	"net/netip"
	"testing"

	fwv1 "github.com/farmwatch/farmwatch/proto/farmwatch/v1"
	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/testing/protocmp"
)

// Captured from this machine's kernel inside a network namespace (see
// testdata/hosts/capture-linux-network.sh): a full tunnel through wg0.
const procRoute = `Iface	Destination	Gateway 	Flags	RefCnt	Use	Metric	Mask		MTU	Window	IRTT                                                       
wg0	00000000	00000000	0001	0	0	0	00000000	0	0	0                                                                             
wg0	0000420A	00000000	0001	0	0	0	00FFFFFF	0	0	0                                                                             
eth0	004DA8C0	00000000	0001	0	0	0	00FFFFFF	0	0	0                                                                            
eth0	146433C6	014DA8C0	0007	0	0	0	FFFFFFFF	0	0	0                                                                            
tun0	00000000	0100080A	0003	0	0	0	00000080	0	0	0                                                                            
tun0	00000080	0100080A	0003	0	0	0	00000080	0	0	0                                                                            
bad	zz	00000000	0001	0	0	0	00000000	0	0	0
eth1	00000000	00000000	0200	0	0	0	00000000	0	0	0
`

func TestParseRoute(t *testing.T) {
	got := ParseRoute(procRoute)
	want := []*fwv1.Route{
		{Destination: "0.0.0.0/0", Interface: "wg0", Family: "ipv4"},
		{Destination: "10.66.0.0/24", Interface: "wg0", Family: "ipv4"},
		{Destination: "192.168.77.0/24", Interface: "eth0", Family: "ipv4"},
		{Destination: "198.51.100.20/32", Interface: "eth0", Gateway: "192.168.77.1", Family: "ipv4"},
		{Destination: "0.0.0.0/1", Interface: "tun0", Gateway: "10.8.0.1", Family: "ipv4"},
		{Destination: "128.0.0.0/1", Interface: "tun0", Gateway: "10.8.0.1", Family: "ipv4"},
	}
	if d := cmp.Diff(want, got, protocmp.Transform()); d != "" {
		t.Fatalf("ParseRoute (-want +got):\n%s", d)
	}
	MarkRoutes(got, map[string]string{"wg0": "wireguard", "tun0": "tun", "eth0": "physical"})
	if !got[0].Default || !got[0].ViaTunnel || got[0].SplitDefault {
		t.Errorf("wg0 default: %v", got[0])
	}
	if !got[4].Default || !got[4].SplitDefault || !got[5].SplitDefault || !got[5].ViaTunnel {
		t.Errorf("split halves: %v %v", got[4], got[5])
	}
	if got[3].Default || got[3].ViaTunnel {
		t.Errorf("endpoint route: %v", got[3])
	}
}

func TestMarkRoutesHalfAlone(t *testing.T) {
	rs := []*fwv1.Route{{Destination: "0.0.0.0/1", Interface: "tun0"}, {Destination: "128.0.0.0/1", Interface: "tun1"}}
	MarkRoutes(rs, nil)
	if rs[0].Default || rs[1].Default {
		t.Errorf("halves on different interfaces are not a default: %v", rs)
	}
}

const ipv6Route = `00000000000000000000000000000000 00 00000000000000000000000000000000 00 fd000000000000000000000000000001 00000400 00000001 00000000 00000003     eth0
fd000000000000000000000000000000 40 00000000000000000000000000000000 00 00000000000000000000000000000000 00000100 00000001 00000000 00000001     eth0
fe800000000000000000000000000000 40 00000000000000000000000000000000 00 00000000000000000000000000000000 00000100 00000001 00000000 00000001     eth0
00000000000000000000000000000001 80 00000000000000000000000000000000 00 00000000000000000000000000000000 00000000 00000002 00000000 80200001       lo
fd000000000000000000000000000002 80 00000000000000000000000000000000 00 00000000000000000000000000000000 00000000 00000002 00000000 80200001     eth0
ff000000000000000000000000000000 08 00000000000000000000000000000000 00 00000000000000000000000000000000 00000100 00000003 00000000 00000001     eth0
00000000000000000000000000000000 00 00000000000000000000000000000000 00 00000000000000000000000000000000 ffffffff 00000001 00000000 00200200       lo
`

func TestParseIPv6Route(t *testing.T) {
	got := ParseIPv6Route(ipv6Route)
	want := []*fwv1.Route{
		{Destination: "::/0", Interface: "eth0", Gateway: "fd00::1", Family: "ipv6", Metric: 1024},
		{Destination: "fd00::/64", Interface: "eth0", Family: "ipv6", Metric: 256},
	}
	if d := cmp.Diff(want, got, protocmp.Transform()); d != "" {
		t.Fatalf("(-want +got):\n%s", d)
	}
}

const fibTrie = `Main:
  +-- 0.0.0.0/0 3 0 5
     |-- 0.0.0.0
        /0 universe UNICAST
     +-- 127.0.0.0/8 2 0 2
        +-- 127.0.0.0/31 1 0 0
           |-- 127.0.0.0
              /8 host LOCAL
           |-- 127.0.0.1
              /32 host LOCAL
     +-- 192.168.77.0/24 2 0 2
        |-- 192.168.77.0
           /24 link UNICAST
        |-- 192.168.77.23
           /32 host LOCAL
Local:
  +-- 0.0.0.0/0 3 0 5
     |-- 10.66.0.2
        /32 host LOCAL
     |-- 192.168.77.23
        /32 host LOCAL
`

func TestParseFibTrieLocal(t *testing.T) {
	got := ParseFibTrieLocal(fibTrie)
	want := []netip.Addr{netip.MustParseAddr("127.0.0.1"), netip.MustParseAddr("192.168.77.23"), netip.MustParseAddr("10.66.0.2")}
	if d := cmp.Diff(want, got, cmp.Comparer(func(a, b netip.Addr) bool { return a == b })); d != "" {
		t.Fatalf("(-want +got):\n%s", d)
	}
	rs := ParseRoute(procRoute)
	for _, c := range []struct {
		a    string
		name string
		bits int
	}{{"192.168.77.23", "eth0", 24}, {"10.66.0.2", "wg0", 24}, {"127.0.0.1", "lo", 8}, {"172.16.0.1", "", 32}} {
		n, b := InterfaceFor(netip.MustParseAddr(c.a), rs)
		if n != c.name || b != c.bits {
			t.Errorf("InterfaceFor(%s) = %s/%d, want %s/%d", c.a, n, b, c.name, c.bits)
		}
	}
}

func TestParseIfInet6(t *testing.T) {
	got := ParseIfInet6("00000000000000000000000000000001 01 80 10 80       lo\nfe8000000000000000fa17fffe000023 02 40 20 80     eth0\nshort\n")
	if len(got) != 2 || got[1].Interface != "eth0" || got[1].Prefix.String() != "fe80::fa:17ff:fe00:23/64" {
		t.Fatalf("got %v", got)
	}
}

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

const netstatRN = `Routing tables

Internet:
Destination        Gateway            Flags               Netif Expire
0/1                10.8.0.1           UGScg               utun4       
default            192.168.1.1        UGScg                 en0       
10.8/24            10.8.0.6           UGSc                utun4       
127                127.0.0.1          UCS                   lo0       
128.0/1            10.8.0.1           UGSc                utun4       
192.168.1          link#6             UCS                   en0      !
192.168.1.1/32     link#6             UCS                   en0      !
192.168.1.23       a4:83:e7:1:2:3     UHLWIi                en0   1187
224.0.0/4          link#6             UmCS                  en0      !

Internet6:
Destination                             Gateway                                 Flags               Netif Expire
default                                 fe80::%utun0                            UGcIg               utun0       
default                                 fe80::1%utun5                           UGcg                utun5       
::1                                     ::1                                     UHL                   lo0       
fd00:1::/64                             link#6                                  UC                    en0       
fe80::%lo0/64                           fe80::1%lo0                             UcI                   lo0       
`

func TestParseNetstat(t *testing.T) {
	got := ParseNetstat(netstatRN)
	want := []*fwv1.Route{
		{Destination: "0.0.0.0/1", Gateway: "10.8.0.1", Interface: "utun4", Family: "ipv4"},
		{Destination: "0.0.0.0/0", Gateway: "192.168.1.1", Interface: "en0", Family: "ipv4"},
		{Destination: "10.8.0.0/24", Gateway: "10.8.0.6", Interface: "utun4", Family: "ipv4"},
		{Destination: "128.0.0.0/1", Gateway: "10.8.0.1", Interface: "utun4", Family: "ipv4"},
		{Destination: "192.168.1.0/24", Interface: "en0", Family: "ipv4"},
		{Destination: "192.168.1.1/32", Interface: "en0", Family: "ipv4"},
		{Destination: "::/0", Gateway: "fe80::1", Interface: "utun5", Family: "ipv6"},
		{Destination: "fd00:1::/64", Interface: "en0", Family: "ipv6"},
	}
	if d := cmp.Diff(want, got, protocmp.Transform()); d != "" {
		t.Fatalf("(-want +got):\n%s", d)
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

func TestKinds(t *testing.T) {
	for _, c := range []struct {
		s    SysNet
		kind string
	}{
		{SysNet{Name: "wlp2s0", Type: "1", Uevent: "DEVTYPE=wlan\nINTERFACE=wlp2s0\n", Device: true}, "wifi"},
		{SysNet{Name: "wg0", Type: "65534", Uevent: "DEVTYPE=wireguard\n"}, "wireguard"},
		{SysNet{Name: "wg0", Type: "65534", TunFlags: "0x1001"}, "wireguard"},
		{SysNet{Name: "tun0", Type: "65534", TunFlags: "0x1001"}, "tun"},
		{SysNet{Name: "tap0", Type: "1", TunFlags: "0x1002"}, "tap"},
		{SysNet{Name: "tailscale0", Type: "65534", TunFlags: "0x1001"}, "tailscale"},
		{SysNet{Name: "ztabcdef12", Type: "1", TunFlags: "0x1002"}, "zerotier"},
		{SysNet{Name: "lo", Type: "772"}, "loopback"},
		{SysNet{Name: "ppp0", Type: "512"}, "ppp"},
		{SysNet{Name: "enp0s31f6", Type: "1", Device: true}, "physical"},
		{SysNet{Name: "veth12ab", Type: "1"}, "veth"},
		{SysNet{Name: "docker0", Type: "1", Uevent: "DEVTYPE=bridge\n"}, "bridge"},
		{SysNet{Name: "dummy0", Type: "1"}, "virtual"},
	} {
		if k := c.s.kind(); k != c.kind {
			t.Errorf("%s: kind %s, want %s", c.s.Name, k, c.kind)
		}
	}
	for _, c := range []struct {
		r    IfaceRecord
		kind string
	}{
		{IfaceRecord{Name: "OpenVPN Wintun", Description: "Wintun Userspace Tunnel", IfType: 53}, "wintun"},
		{IfaceRecord{Name: "Ethernet 3", Description: "TAP-Windows Adapter V9", IfType: 6}, "tap"},
		{IfaceRecord{Name: "Tailscale", Description: "Tailscale Tunnel", IfType: 53}, "tailscale"},
		{IfaceRecord{Name: "ZeroTier One [8056c2e21c000001]", Description: "ZeroTier Virtual Port", IfType: 6}, "zerotier"},
		{IfaceRecord{Name: "Wi-Fi", Description: "Intel(R) Wi-Fi 6E AX211 160MHz", IfType: 71}, "wifi"},
		{IfaceRecord{Name: "Ethernet", Description: "Intel(R) Ethernet Connection I219-LM", IfType: 6}, "physical"},
		{IfaceRecord{Name: "vEthernet (WSL)", Description: "Hyper-V Virtual Ethernet Adapter", IfType: 6}, "virtual"},
	} {
		if k := WindowsKind(c.r); k != c.kind {
			t.Errorf("%s: kind %s, want %s", c.r.Name, k, c.kind)
		}
	}
	for n, k := range map[string]string{"utun3": "utun", "feth2000": "zerotier", "feth0": "", "en0": "", "lo0": "loopback", "ipsec0": "ipsec", "nordlynx": "wireguard", "wg0-mullvad": "wireguard"} {
		if got := KindByName(n); got != k {
			t.Errorf("KindByName(%s) = %q, want %q", n, got, k)
		}
	}
}

func TestWindowsRoutes(t *testing.T) {
	got := WindowsRoutes([]RouteRecord{
		{Destination: "0.0.0.0/0", NextHop: "192.168.1.1", IfIndex: 12},
		{Destination: "0.0.0.0/1", NextHop: "10.20.30.1", IfIndex: 19},
		{Destination: "10.20.30.0/24", NextHop: "0.0.0.0", IfIndex: 19, Metric: 256},
		{Destination: "224.0.0.0/4", NextHop: "0.0.0.0", IfIndex: 12},
		{Destination: "127.0.0.0/8", NextHop: "0.0.0.0", IfIndex: 1},
		{Destination: "bogus", IfIndex: 12},
		{Destination: "10.0.0.0/8", IfIndex: 99},
	}, map[int]string{12: "Wi-Fi", 19: "OpenVPN Wintun", 1: "Loopback"})
	want := []*fwv1.Route{
		{Destination: "0.0.0.0/0", Gateway: "192.168.1.1", Interface: "Wi-Fi"},
		{Destination: "0.0.0.0/1", Gateway: "10.20.30.1", Interface: "OpenVPN Wintun"},
		{Destination: "10.20.30.0/24", Interface: "OpenVPN Wintun", Metric: 256},
	}
	if d := cmp.Diff(want, got, protocmp.Transform()); d != "" {
		t.Fatalf("(-want +got):\n%s", d)
	}
}
