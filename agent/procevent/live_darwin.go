//go:build darwin

package procevent

import (
	"slices"

	"golang.org/x/sys/unix"
)

// liveSources polls the process table: Endpoint Security, the event
// source of macOS, needs an entitlement that the agent does not have.
func liveSources() []source {
	return []source{poller{label: "poll sysctl kern.proc.all every " + PollInterval.String() + " (no Endpoint Security entitlement)", every: PollInterval, list: sysctlPids}}
}

// sysctlPids lists the pids and start times of the process table (one
// sysctl; the details of the new pids are read afterwards).
func sysctlPids(dst []procID) ([]procID, error) {
	kps, err := unix.SysctlKinfoProcSlice("kern.proc.all")
	if err != nil {
		return dst, err
	}
	for i := range kps {
		p := &kps[i].Proc
		if p.P_pid <= 0 {
			continue
		}
		dst = append(dst, procID{pid: p.P_pid, start: p.P_starttime.Sec*1e6 + int64(p.P_starttime.Usec)})
	}
	slices.SortFunc(dst, func(a, b procID) int { return int(a.pid - b.pid) })
	return dst, nil
}
