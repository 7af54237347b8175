//go:build darwin || windows

package process

import (
	"context"
	"fmt"
	"io/fs"
	"time"

	fwv1 "github.com/farmwatch/farmwatch/proto/farmwatch/v1"
	gps "github.com/shirou/gopsutil/v4/process"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// liveOne reads one process of the running machine through gopsutil, with
// the fields psutilProcesses gives, and on windows the version resource of
// its executable.
func liveOne(ctx context.Context, pid int32) (*fwv1.Process, error) {
	gp, err := gps.NewProcessWithContext(ctx, pid)
	if err != nil {
		return nil, fmt.Errorf("process %d: %w", pid, fs.ErrNotExist)
	}
	p := &fwv1.Process{Pid: pid}
	p.Ppid, _ = gp.PpidWithContext(ctx)
	p.Name, _ = gp.NameWithContext(ctx)
	p.Exe, _ = gp.ExeWithContext(ctx)
	p.Cmdline, _ = gp.CmdlineWithContext(ctx)
	p.Args, _ = gp.CmdlineSliceWithContext(ctx)
	p.Username, _ = gp.UsernameWithContext(ctx)
	if ms, err := gp.CreateTimeWithContext(ctx); err == nil && ms > 0 {
		p.StartTime = timestamppb.New(time.UnixMilli(ms))
	}
	if pp, err := gps.NewProcessWithContext(ctx, p.Ppid); err == nil && p.Ppid != pid {
		p.ParentName, _ = pp.NameWithContext(ctx)
	}
	if p.Name == "" && p.Exe != "" {
		p.Name = baseName(p.Exe)
	}
	if p.Exe != "" {
		if v, err := liveExeInfo(ctx, map[string]bool{p.Exe: true}); err == nil {
			if m, ok := v.(map[string]ExeInfo); ok {
				e := m[p.Exe]
				p.OriginalFilename, p.Product, p.Company, p.Description = e.OriginalFilename, e.ProductName, e.CompanyName, e.FileDescription
			}
		}
	}
	return p, nil
}
