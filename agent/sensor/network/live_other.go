//go:build !windows

package network

import (
	"context"
	"errors"
)

// liveProxy reads the WinINET settings of the Windows registry; only
// windows has them (macOS proxies come from scutil --proxy, Linux's from
// files).
func liveProxy(context.Context) (any, error) { return nil, errors.ErrUnsupported }
