//go:build windows

package netstate

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"unsafe"

	"golang.org/x/sys/windows"
)

// liveInterfaces lists the adapters (GetAdaptersAddresses, with gateways):
// friendly name, description, IANA ifType, MAC, MTU, state, unicast
// addresses with their prefix lengths, DNS servers and gateways.
func liveInterfaces(context.Context) (any, error) {
	size := uint32(15000)
	var buf []byte
	for tries := 0; ; tries++ {
		buf = make([]byte, size)
		err := windows.GetAdaptersAddresses(windows.AF_UNSPEC, windows.GAA_FLAG_INCLUDE_GATEWAYS,
			0, (*windows.IpAdapterAddresses)(unsafe.Pointer(&buf[0])), &size)
		if err == nil {
			break
		}
		if !errors.Is(err, windows.ERROR_BUFFER_OVERFLOW) || tries > 3 {
			return nil, fmt.Errorf("GetAdaptersAddresses: %w", err)
		}
	}
	var out []IfaceRecord
	for a := (*windows.IpAdapterAddresses)(unsafe.Pointer(&buf[0])); a != nil; a = a.Next {
		r := IfaceRecord{
			Name:        windows.UTF16PtrToString(a.FriendlyName),
			Index:       int(a.IfIndex),
			Description: windows.UTF16PtrToString(a.Description),
			MTU:         int(a.Mtu),
			Up:          a.OperStatus == windows.IfOperStatusUp,
			IfType:      int(a.IfType),
		}
		if r.Index == 0 {
			r.Index = int(a.Ipv6IfIndex)
		}
		if n := a.PhysicalAddressLength; n > 0 && n <= uint32(len(a.PhysicalAddress)) {
			parts := make([]string, n)
			for i := range parts {
				parts[i] = fmt.Sprintf("%02x", a.PhysicalAddress[i])
			}
			r.MAC = strings.Join(parts, ":")
		}
		for u := a.FirstUnicastAddress; u != nil; u = u.Next {
			if ip, ok := netip.AddrFromSlice(u.Address.IP()); ok {
				r.Addresses = append(r.Addresses, netip.PrefixFrom(ip.Unmap(), int(u.OnLinkPrefixLength)).String())
			}
		}
		for d := a.FirstDnsServerAddress; d != nil; d = d.Next {
			if ip, ok := netip.AddrFromSlice(d.Address.IP()); ok {
				r.DNSServers = append(r.DNSServers, ip.Unmap().String())
			}
		}
		for g := a.FirstGatewayAddress; g != nil; g = g.Next {
			if ip, ok := netip.AddrFromSlice(g.Address.IP()); ok {
				r.Gateways = append(r.Gateways, ip.Unmap().String())
			}
		}
		out = append(out, r)
	}
	return out, nil
}

// liveRoutes reads the IPv4 and IPv6 routing tables (GetIpForwardTable2).
func liveRoutes(context.Context) (any, error) {
	var t *windows.MibIpForwardTable2
	if err := windows.GetIpForwardTable2(windows.AF_UNSPEC, &t); err != nil {
		return nil, fmt.Errorf("GetIpForwardTable2: %w", err)
	}
	defer windows.FreeMibTable(unsafe.Pointer(t))
	var out []RouteRecord
	for _, row := range t.Rows() {
		dst, ok := sockaddrInet(&row.DestinationPrefix.Prefix)
		if !ok {
			continue
		}
		p := netip.PrefixFrom(dst, int(row.DestinationPrefix.PrefixLength))
		r := RouteRecord{Destination: p.String(), IfIndex: int(row.InterfaceIndex), Metric: int(row.Metric)}
		if nh, ok := sockaddrInet(&row.NextHop); ok {
			r.NextHop = nh.String()
		}
		out = append(out, r)
	}
	return out, nil
}

// sockaddrInet reads a SOCKADDR_INET: sockaddr_in (address at byte 4) or
// sockaddr_in6 (address at byte 8).
func sockaddrInet(sa *windows.RawSockaddrInet) (netip.Addr, bool) {
	b := (*[28]byte)(unsafe.Pointer(sa))
	switch sa.Family {
	case windows.AF_INET:
		return netip.AddrFrom4([4]byte(b[4:8])), true
	case windows.AF_INET6:
		return netip.AddrFrom16([16]byte(b[8:24])), true
	}
	return netip.Addr{}, false
}
