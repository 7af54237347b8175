package activity

import (
	"bytes"
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/farmwatch/farmwatch/agent/host"
)

// The command run on macOS, exactly: the IOHIDSystem object alone, with its
// properties.
var ioregHID = host.Command{Name: "ioreg", Args: []string{"-r", "-d", "1", "-c", "IOHIDSystem"}}

// readDarwin reads what the package doc lists for darwin.
func readDarwin(ctx context.Context, h *host.Host) (Sample, error) {
	out, err := h.Run(ctx, ioregHID)
	if err != nil {
		return Sample{}, err
	}
	idle, err := parseHIDIdleTime(out)
	if err != nil {
		return Sample{}, err
	}
	return Sample{Source: "hid_idle_time", Idle: idle, Console: true}, nil
}

// parseHIDIdleTime reads the `"HIDIdleTime" = N` of ioreg's text output:
// nanoseconds since the last HID event. Where there are several (more than
// one IOHIDSystem object), the smallest is the last input.
func parseHIDIdleTime(b []byte) (time.Duration, error) {
	key := []byte(`"HIDIdleTime"`)
	best, found := time.Duration(0), false
	for {
		i := bytes.Index(b, key)
		if i < 0 {
			break
		}
		b = bytes.TrimLeft(b[i+len(key):], " \t")
		if len(b) == 0 || b[0] != '=' {
			continue
		}
		rest := bytes.TrimLeft(b[1:], " \t")
		j := 0
		for j < len(rest) && rest[j] >= '0' && rest[j] <= '9' {
			j++
		}
		n, err := strconv.ParseUint(string(rest[:j]), 10, 63)
		if err != nil {
			return 0, fmt.Errorf("HIDIdleTime %q: %w", rest[:min(j+1, len(rest))], err)
		}
		if d := time.Duration(n); !found || d < best {
			best, found = d, true
		}
	}
	if !found {
		return 0, fmt.Errorf("no HIDIdleTime in the ioreg output")
	}
	return best, nil
}
