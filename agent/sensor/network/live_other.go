//go:build !darwin && !windows

package network

import "context"

// liveInterfaces is macOS and Windows only: Linux reads /sys/class/net.
func liveInterfaces(context.Context) (any, error) { return nil, errNotThisOS }

// liveRoutes is Windows only: Linux reads /proc/net/route.
func liveRoutes(context.Context) (any, error) { return nil, errNotThisOS }

// liveProxy is Windows only.
func liveProxy(context.Context) (any, error) { return nil, errNotThisOS }
