//go:build !windows

package display

import (
	"context"
	"errors"
)

// liveDisplays reads the Windows display registry; only windows has it.
func liveDisplays(context.Context) (any, error) { return nil, errors.ErrUnsupported }
