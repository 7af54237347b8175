//go:build darwin

package process

import (
	"context"
	"errors"
)

// liveProcesses reads the process table through gopsutil.
func liveProcesses(ctx context.Context) (any, error) { return psutilProcesses(ctx) }

// liveExeInfo is windows only: darwin names an executable by its bundle's
// Info.plist, read through the host door.
func liveExeInfo(context.Context, map[string]bool) (any, error) { return nil, errors.ErrUnsupported }
