//go:build !windows

package usb

import (
	"context"
	"errors"
)

// liveUSB enumerates Windows device nodes; only windows has them.
func liveUSB(context.Context) (any, error) { return nil, errors.ErrUnsupported }
