package netstate

import (
	"testing"

	fwv1 "github.com/farmwatch/farmwatch/proto/farmwatch/v1"
	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/testing/protocmp"
)

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
