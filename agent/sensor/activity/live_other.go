//go:build !windows

package activity

import (
	"context"
	"errors"
)

// ProbeCommand is the agent's subcommand that prints the idle time of its
// session: windows only.
const ProbeCommand = "activity-probe"

// Probe is windows only: the other OSes give the console's idle time to a
// service directly.
func Probe() (string, error) { return "", errors.ErrUnsupported }

// liveActivity is windows only.
func liveActivity(context.Context) (any, error) { return nil, errors.ErrUnsupported }
