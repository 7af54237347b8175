package activity

import (
	"context"
	"errors"
	"time"

	"github.com/farmwatch/farmwatch/agent/host"
)

// Record is the console's input time as api/activity.json holds it
// (windows; API.md).
type Record struct {
	// ConsoleSession is the session attached to the physical console
	// (WTSGetActiveConsoleSessionId); -1 when none is.
	ConsoleSession int64 `json:"console_session"`
	// User is the console session's user name; "" when nobody is logged
	// on (then there is no sample).
	User string `json:"user,omitempty"`
	// Method is how the idle time was read: in_session (GetLastInputInfo
	// in the console session itself), helper (the agent run in the
	// console user's session for GetLastInputInfo), or "" when it was not.
	Method string `json:"method,omitempty"`
	// IdleMS is the milliseconds since the console's last input; -1 when
	// it could not be read (Error says why).
	IdleMS int64  `json:"idle_ms"`
	Error  string `json:"error,omitempty"`
}

// readWindows reads api/activity.json.
func readWindows(ctx context.Context, h *host.Host) (Sample, error) {
	var r Record
	if err := h.API(ctx, "activity", &r, liveActivity); err != nil {
		return Sample{}, err
	}
	return recordSample(r)
}

// recordSample turns the record into a sample: none without a user at the
// console, an error when the idle time of a user's console could not be
// read.
func recordSample(r Record) (Sample, error) {
	s := Sample{Source: "last_input_info"}
	if r.ConsoleSession < 0 || r.User == "" {
		return s, nil
	}
	if r.IdleMS < 0 {
		msg := r.Error
		if msg == "" {
			msg = "no idle time"
		}
		return s, errors.New("console input time of " + r.User + ": " + msg)
	}
	s.Idle, s.Console = time.Duration(r.IdleMS)*time.Millisecond, true
	return s, nil
}
