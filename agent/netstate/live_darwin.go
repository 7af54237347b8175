//go:build darwin

package netstate

import (
	"context"
	"errors"
	"fmt"
	"slices"

	psnet "github.com/shirou/gopsutil/v4/net"
)

// liveInterfaces lists the interfaces through gopsutil (getifaddrs), so
// that no ifconfig output has to be parsed.
func liveInterfaces(ctx context.Context) (any, error) {
	ifs, err := psnet.InterfacesWithContext(ctx)
	if err != nil {
		return nil, fmt.Errorf("list interfaces: %w", err)
	}
	out := make([]IfaceRecord, 0, len(ifs))
	for _, i := range ifs {
		r := IfaceRecord{Name: i.Name, Index: i.Index, MAC: i.HardwareAddr, MTU: i.MTU, Flags: i.Flags, Up: slices.Contains(i.Flags, "up")}
		for _, a := range i.Addrs {
			r.Addresses = append(r.Addresses, a.Addr)
		}
		out = append(out, r)
	}
	return out, nil
}

// liveRoutes is Windows only: macOS routes come from netstat -rn.
func liveRoutes(context.Context) (any, error) { return nil, errors.ErrUnsupported }
