//go:build !windows

package locale

import (
	"context"
	"errors"
)

// liveKeyboard reads the Windows registry; only windows has one.
func liveKeyboard(context.Context) (any, error) { return nil, errors.ErrUnsupported }
