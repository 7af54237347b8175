//go:build !linux

package netstate

import (
	"context"
	"errors"
)

// livePolicy is Linux only: netlink.
func livePolicy(context.Context) (any, error) { return nil, errors.ErrUnsupported }
