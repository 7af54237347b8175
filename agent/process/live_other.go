//go:build !darwin && !windows

package process

import (
	"context"
	"errors"
)

// liveProcesses is darwin and windows only; linux reads /proc.
func liveProcesses(context.Context) (any, error) { return nil, errors.ErrUnsupported }

// liveExeInfo reads executable version resources; only windows has them.
func liveExeInfo(context.Context, map[string]bool) (any, error) { return nil, errors.ErrUnsupported }
