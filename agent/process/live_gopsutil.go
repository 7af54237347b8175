//go:build darwin || windows

package process

import (
	"context"

	gps "github.com/shirou/gopsutil/v4/process"
)

// psutilProcesses reads the process table through gopsutil, for the
// liveProcesses of darwin and windows. A process that
// exits or denies access half-way keeps the fields that could be read.
func psutilProcesses(ctx context.Context) (any, error) {
	procs, err := gps.ProcessesWithContext(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]Record, 0, len(procs))
	for _, p := range procs {
		r := Record{Pid: p.Pid}
		r.Ppid, _ = p.PpidWithContext(ctx)
		r.Name, _ = p.NameWithContext(ctx)
		r.Exe, _ = p.ExeWithContext(ctx)
		r.Cmdline, _ = p.CmdlineWithContext(ctx)
		r.Username, _ = p.UsernameWithContext(ctx)
		r.CreateTime, _ = p.CreateTimeWithContext(ctx)
		out = append(out, r)
	}
	return out, nil
}
