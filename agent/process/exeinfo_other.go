//go:build !windows

package process

import (
	"context"
	"errors"
)

// liveExeInfo reads executable version resources; only windows has them.
func liveExeInfo(context.Context, map[string]bool) (any, error) { return nil, errors.ErrUnsupported }
