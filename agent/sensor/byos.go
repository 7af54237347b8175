package sensor

import (
	"context"
	"errors"
	"fmt"

	"github.com/farmwatch/farmwatch/agent/host"
)

// ByOS holds one reader per OS. Read calls the one of the host's OS, so that
// a snapshot of any OS is read on any machine: the readers are pure Go over
// the host door, and the OS they read is the host's, not the running one.
//
//	st, err := sensor.ByOS[State]{Linux: readLinux, Darwin: readDarwin, Windows: readWindows}.Read(ctx, h)
type ByOS[T any] struct {
	Linux, Darwin, Windows func(context.Context, *host.Host) (T, error)
}

// Read calls the reader of h's OS. When there is none it returns the zero T
// and an error naming the OS that wraps errors.ErrUnsupported.
func (b ByOS[T]) Read(ctx context.Context, h *host.Host) (T, error) {
	var read func(context.Context, *host.Host) (T, error)
	switch h.OS() {
	case "linux":
		read = b.Linux
	case "darwin":
		read = b.Darwin
	case "windows":
		read = b.Windows
	}
	if read == nil {
		var zero T
		return zero, fmt.Errorf("no reader for os %q: %w", h.OS(), errors.ErrUnsupported)
	}
	return read(ctx, h)
}
