// Package process lists the processes of a host.
//
// What it reads, per OS:
//   - linux: /proc/<pid>/stat (parent, start ticks, comm), /proc/<pid>/status
//     (real uid), /proc/<pid>/cmdline, the /proc/<pid>/exe link, /proc/stat
//     (btime) and /etc/passwd (user names), all through the host door, so a
//     --root tree or a snapshot replays them. gopsutil is not used here: its
//     user-name lookup goes to the running machine's user database instead of
//     the host root, and it reads more files than a scan needs (ANCHORS.md:
//     120 ms against 44 ms for 1066 processes).
//   - darwin, windows: the process table from gopsutil (pid, ppid, name, exe,
//     cmdline, username, create time), recorded as api/processes.json.
//     Rename resistance: on darwin the Info.plist of the .app bundle that
//     holds the executable (CFBundleIdentifier, CFBundleName), read through
//     the door; on windows the version resource of each executable
//     (OriginalFilename, ProductName, CompanyName, FileDescription) from
//     GetFileVersionInfo, recorded as api/exeinfo.json.
package process

import (
	"context"
	"errors"
	"fmt"
	"path"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/farmwatch/farmwatch/agent/host"
	fwv1 "github.com/farmwatch/farmwatch/proto/farmwatch/v1"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// Key is the stable observation key of a process: its pid and start time,
// which together name one process for its whole life.
func Key(p *fwv1.Process) string {
	var ms int64
	if p.GetStartTime() != nil {
		ms = p.GetStartTime().AsTime().UnixMilli()
	}
	return "process/" + strconv.Itoa(int(p.GetPid())) + "@" + strconv.FormatInt(ms, 10)
}

// List returns the host's processes, sorted by pid, with parent names filled in.
func List(ctx context.Context, h *host.Host) ([]*fwv1.Process, error) {
	var (
		ps  []*fwv1.Process
		err error
	)
	switch h.OS() {
	case "linux":
		ps, err = listLinux(ctx, h)
	case "darwin", "windows":
		ps, err = listAPI(ctx, h)
	default:
		return nil, fmt.Errorf("list processes on %s: %w", h.OS(), errors.ErrUnsupported)
	}
	if err != nil {
		return nil, err
	}
	sort.Slice(ps, func(i, j int) bool { return ps[i].Pid < ps[j].Pid })
	byPid := make(map[int32]*fwv1.Process, len(ps))
	for _, p := range ps {
		byPid[p.Pid] = p
	}
	for _, p := range ps {
		if pp := byPid[p.Ppid]; pp != nil && p.Ppid != p.Pid {
			p.ParentName = pp.Name
		}
		if p.Exe != "" {
			p.ExeName = baseName(p.Exe)
		}
	}
	if err := addExeInfo(ctx, h, ps); err != nil {
		return ps, err
	}
	return ps, nil
}

// baseName is the last element of a slash or backslash path.
func baseName(p string) string {
	if i := strings.LastIndexAny(p, `/\`); i >= 0 {
		return p[i+1:]
	}
	return p
}

// Record is one process as recorded in api/processes.json (darwin, windows).
type Record struct {
	Pid        int32    `json:"pid"`
	Ppid       int32    `json:"ppid"`
	Name       string   `json:"name"`
	Exe        string   `json:"exe"`
	Cmdline    string   `json:"cmdline"`
	Username   string   `json:"username"`
	CreateTime int64    `json:"create_time"` // milliseconds since the Unix epoch
	Args       []string `json:"args,omitempty"`
}

func listAPI(ctx context.Context, h *host.Host) ([]*fwv1.Process, error) {
	var recs []Record
	if err := h.API(ctx, "processes", &recs, liveProcesses); err != nil {
		return nil, fmt.Errorf("list processes: %w", err)
	}
	out := make([]*fwv1.Process, 0, len(recs))
	for _, r := range recs {
		p := &fwv1.Process{
			Pid: r.Pid, Ppid: r.Ppid, Name: r.Name, Exe: r.Exe, Cmdline: r.Cmdline,
			Args: r.Args, Username: r.Username,
		}
		if r.CreateTime > 0 {
			p.StartTime = timestamppb.New(time.UnixMilli(r.CreateTime))
		}
		if p.Name == "" && p.Exe != "" {
			p.Name = baseName(p.Exe)
		}
		out = append(out, p)
	}
	return out, nil
}

// ExeInfo is the version resource of a Windows executable, as recorded in
// api/exeinfo.json (an object keyed by executable path).
type ExeInfo struct {
	OriginalFilename string `json:"original_filename,omitempty"`
	ProductName      string `json:"product_name,omitempty"`
	CompanyName      string `json:"company_name,omitempty"`
	FileDescription  string `json:"file_description,omitempty"`
}

func addExeInfo(ctx context.Context, h *host.Host, ps []*fwv1.Process) error {
	switch h.OS() {
	case "windows":
		exes := map[string]bool{}
		for _, p := range ps {
			if p.Exe != "" {
				exes[p.Exe] = true
			}
		}
		var info map[string]ExeInfo
		err := h.API(ctx, "exeinfo", &info, func(ctx context.Context) (any, error) { return liveExeInfo(ctx, exes) })
		if err != nil {
			if errors.Is(err, host.ErrNotRecorded) {
				return nil // an older snapshot without metadata: names and paths still work
			}
			return fmt.Errorf("executable metadata: %w", err)
		}
		for _, p := range ps {
			if e, ok := info[p.Exe]; ok {
				p.OriginalFilename, p.Product, p.Company, p.Description = e.OriginalFilename, e.ProductName, e.CompanyName, e.FileDescription
			}
		}
	case "darwin":
		bundles := map[string]*bundleInfo{}
		for _, p := range ps {
			app := appBundle(p.Exe)
			if app == "" {
				continue
			}
			b, ok := bundles[app]
			if !ok {
				b = readBundle(h, app)
				bundles[app] = b
			}
			if b != nil {
				p.BundleId, p.Product = b.ID, b.Name
			}
		}
	}
	return nil
}

// appBundle returns the innermost "*.app" directory that holds exe, or "".
func appBundle(exe string) string {
	if !strings.HasPrefix(exe, "/") {
		return ""
	}
	dir := path.Dir(exe)
	for dir != "/" && dir != "." {
		if strings.HasSuffix(strings.ToLower(dir), ".app") {
			return dir
		}
		dir = path.Dir(dir)
	}
	return ""
}
