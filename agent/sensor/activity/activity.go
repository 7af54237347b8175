// Package activity is the sensor of when the machine receives human input:
// at each scan it samples how long the console session has been idle, and
// counts, by UTC hour, the samples in which someone used the keyboard or
// the mouse since the sample before. Only these counts leave the host: no
// keystroke, no content, no window title.
//
// What it reads, per OS:
//   - linux: logind: the console's active session from its seat file
//     /run/systemd/seats/seat0 (ACTIVE=; a snapshot without the file:
//     /usr/bin/loginctl show-seat seat0), then /usr/bin/loginctl
//     show-session ID: IdleHint and IdleSinceHint, which the desktop (GNOME, KDE, X11 and
//     Wayland alike) sets through logind, and which logind itself keeps from
//     the terminal's access time for a text console. A remote session
//     (Remote=yes) is not the console. A desktop that never sets the hint
//     (IdleSinceHint 0 on a graphical session) gives no sample.
//   - darwin: /usr/sbin/ioreg -r -d 1 -c IOHIDSystem: HIDIdleTime, the
//     nanoseconds since the last HID event of any user.
//   - windows: api/activity.json (API.md): GetLastInputInfo in the console
//     session. A service runs in session 0, where GetLastInputInfo answers
//     for session 0 and the WTS session information of the console gives no
//     idle time, so the service asks a helper (this binary, started in the
//     console user's session with their token) for it.
//
// The counts of a resident agent are kept in its state directory
// ("activity", a day of 24 counts for each of the last 28 days), so that
// they survive between scans and restarts; a helpdesk scan, and a replayed
// host, report their one sample.
package activity

import (
	"context"
	"errors"
	"time"

	"github.com/farmwatch/farmwatch/agent/host"
	"github.com/farmwatch/farmwatch/agent/sensor"
	fwv1 "github.com/farmwatch/farmwatch/proto/farmwatch/v1"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// Sample is one reading of the console's idle time.
type Sample struct {
	Source string        // logind | hid_idle_time | last_input_info
	Idle   time.Duration // since the last human input
	// Console is false when nobody is at the console (no active session,
	// no user logged on): no sample.
	Console bool
}

// Sensor is the activity sensor. Counts, when set (the resident agent),
// keeps the counts between scans.
type Sensor struct {
	Counts *Counts
}

// Name is "activity".
func (Sensor) Name() string { return "activity" }

// window is the time a first sample looks back: input within it counts.
const window = time.Minute

// Sense samples the idle time and reports the counts so far.
func (s Sensor) Sense(ctx context.Context, h *host.Host) ([]*fwv1.Observation, error) {
	smp, err := sensor.ByOS[Sample]{Linux: readLinux, Darwin: readDarwin, Windows: readWindows}.Read(ctx, h)
	if errors.Is(err, host.ErrNotRecorded) || errors.Is(err, host.ErrNotLive) {
		return nil, nil // a snapshot from before this sensor, or a --root tree
	}
	if err != nil {
		return nil, err
	}
	if !smp.Console {
		return nil, nil
	}
	now := h.Captured()
	if s.Counts != nil && h.Live() {
		a, err := s.Counts.Add(now, smp)
		return []*fwv1.Observation{observation(a)}, err
	}
	var a fwv1.Activity
	a.Source, a.Samples, a.HoursUtc = smp.Source, 1, make([]uint32, 24)
	a.Since = timestamppb.New(now)
	if last, ok := lastInput(now, smp, window); ok {
		a.HoursUtc[last.UTC().Hour()] = 1
	}
	return []*fwv1.Observation{observation(&a)}, nil
}

func observation(a *fwv1.Activity) *fwv1.Observation {
	return &fwv1.Observation{Key: "activity/" + a.Source, Kind: &fwv1.Observation_Activity{Activity: a}}
}

// lastInput says when the last input was, and whether it was within the
// window before now: the sample then counts, in the hour of that input.
func lastInput(now time.Time, s Sample, window time.Duration) (time.Time, bool) {
	if s.Idle < 0 || s.Idle > window {
		return time.Time{}, false
	}
	return now.Add(-s.Idle), true
}
