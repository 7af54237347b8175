package netstate

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

func TestLinuxKinds(t *testing.T) {
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
}
