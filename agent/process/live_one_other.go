//go:build !darwin && !windows

package process

import (
	"context"
	"errors"

	fwv1 "github.com/farmwatch/farmwatch/proto/farmwatch/v1"
)

// liveOne is darwin and windows only; linux reads /proc.
func liveOne(context.Context, int32) (*fwv1.Process, error) { return nil, errors.ErrUnsupported }
