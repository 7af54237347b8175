package process

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"strconv"
	"sync"
	"time"

	"github.com/farmwatch/farmwatch/agent/host"
	fwv1 "github.com/farmwatch/farmwatch/proto/farmwatch/v1"
)

// Reader reads one process at a time, as List reads each one, for process
// events: a process seen starting is read at once, before it can end. On
// linux it reads /proc/<pid> through the host door (and the parent's comm
// for the parent name); on darwin and windows it asks gopsutil about the
// one pid (and, on windows, the executable's version resource). The boot
// time and the user names are kept for a minute.
type Reader struct {
	h *host.Host

	mu     sync.Mutex
	btime  int64
	users  map[uint32]string
	readAt time.Time
}

// NewReader returns a Reader of h.
func NewReader(h *host.Host) *Reader { return &Reader{h: h} }

// ErrKernelThread is a pid that names a kernel thread, which the agent
// does not list.
var ErrKernelThread = errors.New("a kernel thread")

// Read reads one process. It fails with an error wrapping fs.ErrNotExist
// when the process is gone.
func (r *Reader) Read(ctx context.Context, pid int32) (*fwv1.Process, error) {
	if r.h.OS() != "linux" {
		p, err := liveOne(ctx, pid)
		if err != nil {
			return nil, err
		}
		if p.Exe != "" {
			p.ExeName = baseName(p.Exe)
		}
		if app := appBundle(p.Exe); app != "" && r.h.OS() == "darwin" {
			if b := readBundle(r.h, app); b != nil {
				p.BundleId, p.Product = b.ID, b.Name
			}
		}
		return p, nil
	}
	r.mu.Lock()
	if time.Since(r.readAt) > time.Minute {
		if b, err := r.h.ReadFile("/proc/stat"); err == nil {
			r.btime = ParseBootTime(b)
		}
		r.users = map[uint32]string{}
		if b, err := r.h.ReadFile("/etc/passwd"); err == nil {
			r.users = ParsePasswd(b)
		}
		r.readAt = time.Now()
	}
	btime, users := r.btime, r.users
	r.mu.Unlock()
	p, err := readProcess(r.h, int(pid), btime, users)
	if err != nil {
		if gone(err) && !errors.Is(err, fs.ErrNotExist) {
			err = fmt.Errorf("process %d: %w (%w)", pid, fs.ErrNotExist, err)
		}
		return nil, err
	}
	if p == nil {
		return nil, ErrKernelThread
	}
	if p.Ppid > 0 {
		if b, err := r.h.ReadFile("/proc/" + strconv.Itoa(int(p.Ppid)) + "/stat"); err == nil {
			if st, err := ParseStat(b); err == nil {
				p.ParentName = st.Comm
			}
		}
	}
	if p.Exe != "" {
		p.ExeName = baseName(p.Exe)
	}
	return p, nil
}
