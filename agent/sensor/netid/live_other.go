//go:build !windows

package netid

import (
	"context"
	"errors"
)

// liveNeighbors reads the Windows neighbour table; only windows has it
// (macOS's comes from arp -an, Linux's from /proc/net/arp).
func liveNeighbors(context.Context) (any, error) { return nil, errors.ErrUnsupported }

// liveWLAN asks the Windows Native Wifi service; only windows has it.
func liveWLAN(context.Context) (any, error) { return nil, errors.ErrUnsupported }
