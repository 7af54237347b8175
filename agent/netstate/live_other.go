//go:build !darwin && !windows

package netstate

import (
	"context"
	"errors"
)

// liveInterfaces is macOS and Windows only: Linux reads /sys/class/net.
func liveInterfaces(context.Context) (any, error) { return nil, errors.ErrUnsupported }

// liveRoutes is Windows only: Linux reads /proc/net/route.
func liveRoutes(context.Context) (any, error) { return nil, errors.ErrUnsupported }
