//go:build !windows

package remoteaccess

import (
	"context"
	"errors"
)

// liveServices enumerates Windows services; only windows has them.
func liveServices(context.Context) (any, error) { return nil, errors.ErrUnsupported }

// liveRDP reads the Windows Remote Desktop setting; only windows has it.
func liveRDP(context.Context) (any, error) { return nil, errors.ErrUnsupported }
