package netstate

import (
	"testing"

	fwv1 "github.com/farmwatch/farmwatch/proto/farmwatch/v1"
	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/testing/protocmp"
)

func TestWindowsKinds(t *testing.T) {
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
