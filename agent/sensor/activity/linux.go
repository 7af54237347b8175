package activity

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/farmwatch/farmwatch/agent/host"
)

// The commands run on Linux, exactly: the console seat's properties (when
// logind's seat file does not say them), then those of its active session.
var seatCmd = host.Command{Name: "loginctl", Args: []string{"show-seat", "seat0"}}

func sessionCmd(id string) host.Command {
	return host.Command{Name: "loginctl", Args: []string{"show-session", id}}
}

// sessionID is what logind names sessions by ("2", "c1").
var sessionID = regexp.MustCompile(`^[A-Za-z0-9_-]{1,32}$`)

// readLinux reads what the package doc lists for linux. A machine without
// logind (a container, a system without systemd) or without a console
// seat has no console to sample: no sample, no failure.
func readLinux(ctx context.Context, h *host.Host) (Sample, error) {
	id, known := activeFromSeatFile(h)
	if !known {
		out, err := h.Run(ctx, seatCmd)
		if err != nil {
			if noLogind(err) || errors.Is(err, host.ErrNotRecorded) {
				return Sample{Source: "logind"}, nil
			}
			return Sample{}, err
		}
		id = parseProps(out)["ActiveSession"]
	}
	if !sessionID.MatchString(id) {
		return Sample{Source: "logind"}, nil // nobody at the console
	}
	out, err := h.Run(ctx, sessionCmd(id))
	if err != nil {
		return Sample{}, err
	}
	return sessionSample(parseProps(out), h.Captured()), nil
}

// seatFile is where logind keeps the state of the console's seat; its
// ACTIVE= is the active session, which sd-login's sd_seat_get_active
// reads from it too. Reading it spares running loginctl at every scan,
// and on a machine without a console seat (a server, a VM) any command.
const seatFile = "/run/systemd/seats/seat0"

// activeFromSeatFile returns the console's active session ("" for none)
// from seatFile, and whether that settled it: on the live machine a
// missing file means no logind or no console seat; a snapshot without it
// (recorded before the agent read it) is asked through the recorded
// loginctl.
func activeFromSeatFile(h *host.Host) (string, bool) {
	b, err := h.ReadFile(seatFile)
	switch {
	case err == nil:
		return parseProps(b)["ACTIVE"], true
	case h.Live() && errors.Is(err, fs.ErrNotExist):
		return "", true
	}
	return "", false
}

// noLogind says whether a loginctl failure means there is no logind or no
// console seat here, rather than a failure to read it.
func noLogind(err error) bool {
	if errors.Is(err, fs.ErrNotExist) {
		return true // no loginctl
	}
	msg := err.Error()
	for _, s := range []string{"not been booted with systemd", "Failed to connect to bus", "No seat", "Unknown seat", "does not exist"} {
		if strings.Contains(msg, s) {
			return true
		}
	}
	return false
}

// parseProps parses loginctl show-* output: one KEY=VALUE a line.
func parseProps(b []byte) map[string]string {
	m := map[string]string{}
	for _, line := range bytes.Split(b, []byte("\n")) {
		k, v, ok := bytes.Cut(line, []byte("="))
		if !ok || len(k) == 0 {
			continue
		}
		m[string(k)] = strings.TrimRight(string(v), "\r")
	}
	return m
}

// sessionSample turns the properties of the console's session into a
// sample at now. A graphical session is idle when its desktop says so
// (IdleHint, since IdleSinceHint), and in use otherwise; a desktop that
// never set the hint (IdleSinceHint 0) says nothing. For a text console,
// logind gives the terminal's last access as IdleSinceHint.
func sessionSample(p map[string]string, now time.Time) Sample {
	s := Sample{Source: "logind"}
	if p["Remote"] == "yes" || p["Active"] == "no" || !strings.HasPrefix(p["Class"], "user") {
		return s // not a user at the console (a greeter, a remote session)
	}
	since, _ := strconv.ParseInt(p["IdleSinceHint"], 10, 64) // microseconds, realtime
	if since <= 0 {
		return s
	}
	graphical := p["Type"] == "x11" || p["Type"] == "wayland" || p["Type"] == "mir"
	s.Console = true
	if graphical && p["IdleHint"] != "yes" {
		return s // in use: idle 0
	}
	if idle := now.Sub(time.UnixMicro(since)); idle > 0 {
		s.Idle = idle
	}
	return s
}
