package netstate

import (
	"testing"

	fwv1 "github.com/farmwatch/farmwatch/proto/farmwatch/v1"
)

func TestMarkRoutesHalfAlone(t *testing.T) {
	rs := []*fwv1.Route{{Destination: "0.0.0.0/1", Interface: "tun0"}, {Destination: "128.0.0.0/1", Interface: "tun1"}}
	MarkRoutes(rs, nil)
	if rs[0].Default || rs[1].Default {
		t.Errorf("halves on different interfaces are not a default: %v", rs)
	}
}

func TestKindByName(t *testing.T) {
	for n, k := range map[string]string{"utun3": "utun", "feth2000": "zerotier", "feth0": "", "en0": "", "lo0": "loopback", "ipsec0": "ipsec", "nordlynx": "wireguard", "wg0-mullvad": "wireguard"} {
		if got := KindByName(n); got != k {
			t.Errorf("KindByName(%s) = %q, want %q", n, got, k)
		}
	}
}
