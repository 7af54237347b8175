//go:build !darwin && !windows

package process

import (
	"context"
	"errors"
)

// liveProcesses is only used on darwin and windows; linux reads /proc.
func liveProcesses(context.Context) (any, error) { return nil, errors.ErrUnsupported }
