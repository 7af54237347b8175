package process

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/farmwatch/farmwatch/agent/host"
	fwv1 "github.com/farmwatch/farmwatch/proto/farmwatch/v1"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// clockTicks is USER_HZ, the unit of /proc/<pid>/stat start times. It is 100
// on every Linux architecture the agent is built for.
const clockTicks = 100

// readLinux reads the process table from /proc; the package doc says what.
// The live machine's processes are read by several workers at once: a
// helpdesk scan is mostly this, and the other sensors leave cores idle.
func readLinux(ctx context.Context, h *host.Host) ([]*fwv1.Process, error) {
	workers := 1
	if h.Live() {
		workers = min(runtime.GOMAXPROCS(0), maxListWorkers)
	}
	return listWith(ctx, h, workers, func(pid int, btime int64, users map[uint32]string) (*fwv1.Process, error) {
		return readProcess(h, pid, btime, users)
	})
}

// maxListWorkers bounds the workers of a listing.
const maxListWorkers = 4

// listWith lists /proc, reading each process with read (nil, nil: a kernel
// thread, not listed) in workers goroutines at once; read must then be
// safe for concurrent use. The result is in the directory's order, and the
// error is the one of the first process in it that failed.
func listWith(ctx context.Context, h *host.Host, workers int, read func(pid int, btime int64, users map[uint32]string) (*fwv1.Process, error)) ([]*fwv1.Process, error) {
	ents, err := h.ReadDir("/proc")
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) && !h.Live() {
			return nil, nil // a --root tree or snapshot without a process table
		}
		return nil, fmt.Errorf("list processes: %w", err)
	}
	var btime int64
	if b, err := h.ReadFile("/proc/stat"); err == nil {
		btime = ParseBootTime(b)
	}
	users := map[uint32]string{}
	if b, err := h.ReadFile("/etc/passwd"); err == nil {
		users = ParsePasswd(b)
	}
	pids := make([]int, 0, len(ents))
	for _, e := range ents {
		if pid, err := strconv.Atoi(e.Name); err == nil && pid > 0 {
			pids = append(pids, pid)
		}
	}
	got := make([]*fwv1.Process, len(pids))
	errs := make([]error, len(pids))
	readRange := func(from, to int) {
		for i := from; i < to; i++ {
			if (i-from)%64 == 0 && ctx.Err() != nil {
				errs[i] = ctx.Err()
				return
			}
			got[i], errs[i] = read(pids[i], btime, users)
		}
	}
	if workers = max(1, min(workers, len(pids)/64)); workers == 1 {
		readRange(0, len(pids))
	} else {
		var wg sync.WaitGroup
		per := (len(pids) + workers - 1) / workers
		for from := 0; from < len(pids); from += per {
			wg.Add(1)
			go func(from, to int) {
				defer wg.Done()
				readRange(from, to)
			}(from, min(from+per, len(pids)))
		}
		wg.Wait()
	}
	out := make([]*fwv1.Process, 0, len(pids))
	for i, p := range got {
		if err := errs[i]; err != nil {
			if gone(err) {
				continue // it exited while we looked
			}
			return nil, err
		}
		if p != nil {
			out = append(out, p)
		}
	}
	return out, nil
}

// gone says whether reading a process's /proc files failed because it
// exited meanwhile: its directory is gone (ENOENT), or the kernel already
// refuses to describe it (ESRCH, from a file opened just before it exited).
func gone(err error) bool {
	return errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ESRCH)
}

// readStat reads /proc/<pid>/stat and returns the process's directory;
// kernel is true for a kernel thread (no executable, no user), which is
// not listed.
func readStat(h *host.Host, pid int) (dir string, st Stat, kernel bool, err error) {
	dir = "/proc/" + strconv.Itoa(pid)
	b, err := h.ReadFile(dir + "/stat")
	if err != nil {
		return dir, st, false, err
	}
	if st, err = ParseStat(b); err != nil {
		return dir, st, false, fmt.Errorf("%s/stat: %w", dir, err)
	}
	return dir, st, st.PPid == 2 || pid == 2, nil
}

// readExe reads the exe link of /proc/<pid>, without the " (deleted)" of
// an executable removed since it started.
func readExe(h *host.Host, dir string) (string, error) {
	t, err := h.Readlink(dir + "/exe")
	return strings.TrimSuffix(t, " (deleted)"), err
}

// readProcess reads /proc/<pid>; nil for a kernel thread.
func readProcess(h *host.Host, pid int, btime int64, users map[uint32]string) (*fwv1.Process, error) {
	dir, st, kernel, err := readStat(h, pid)
	if err != nil || kernel {
		return nil, err
	}
	return readRest(h, dir, pid, st, btime, users)
}

// readRest reads what /proc/<pid>/stat does not say: the user, the
// arguments and the executable.
func readRest(h *host.Host, dir string, pid int, st Stat, btime int64, users map[uint32]string) (*fwv1.Process, error) {
	p := &fwv1.Process{Pid: int32(pid), Ppid: st.PPid, Name: st.Comm}
	if b, err := h.ReadFile(dir + "/status"); err == nil {
		if uid, ok := ParseStatusUID(b); ok {
			if name, ok := users[uid]; ok {
				p.Username = name
			} else {
				p.Username = strconv.FormatUint(uint64(uid), 10)
			}
		}
	}
	if b, err := h.ReadFile(dir + "/cmdline"); err == nil {
		p.Args = ParseCmdline(b)
		p.Cmdline = strings.Join(p.Args, " ")
	}
	if t, err := readExe(h, dir); err == nil {
		p.Exe = t
	}
	if btime > 0 {
		ms := btime*1000 + int64(st.StartTicks)*1000/clockTicks
		p.StartTime = timestamppb.New(time.UnixMilli(ms))
	}
	p.Name = widenComm(p.Name, p.Exe, p.Args)
	return p, nil
}

// widenComm returns the full image name when the kernel cut comm at 15
// bytes: the base name of the executable or of argv[0] that starts with it.
func widenComm(comm, exe string, args []string) string {
	if len(comm) < 15 {
		return comm
	}
	for _, c := range []string{exe, firstArg(args)} {
		if b := path.Base(c); c != "" && len(b) > len(comm) && strings.HasPrefix(b, comm) {
			return b
		}
	}
	return comm
}

func firstArg(a []string) string {
	if len(a) == 0 {
		return ""
	}
	return a[0]
}

// Stat is what the agent takes from /proc/<pid>/stat.
type Stat struct {
	Comm       string
	State      byte
	PPid       int32
	StartTicks uint64
}

// ParseStat parses /proc/<pid>/stat. The comm field is in parentheses and may
// itself hold spaces and parentheses, so it ends at the last ')'.
func ParseStat(b []byte) (Stat, error) {
	var s Stat
	open := bytes.IndexByte(b, '(')
	end := bytes.LastIndexByte(b, ')')
	if open < 0 || end < open {
		return s, errors.New("no (comm)")
	}
	s.Comm = string(b[open+1 : end])
	f := strings.Fields(string(b[end+1:]))
	// After comm: state(3) ppid(4) ... starttime(22); f[0] is field 3.
	if len(f) < 20 {
		return s, fmt.Errorf("%d fields after comm, want at least 20", len(f))
	}
	if len(f[0]) != 1 {
		return s, fmt.Errorf("state %q", f[0])
	}
	s.State = f[0][0]
	pp, err := strconv.ParseInt(f[1], 10, 32)
	if err != nil {
		return s, fmt.Errorf("ppid %q", f[1])
	}
	s.PPid = int32(pp)
	st, err := strconv.ParseUint(f[19], 10, 64)
	if err != nil {
		return s, fmt.Errorf("starttime %q", f[19])
	}
	s.StartTicks = st
	return s, nil
}

// ParseStatusUID returns the real uid from /proc/<pid>/status.
func ParseStatusUID(b []byte) (uint32, bool) {
	i := bytes.Index(b, []byte("\nUid:"))
	if i < 0 {
		if !bytes.HasPrefix(b, []byte("Uid:")) {
			return 0, false
		}
		i = -1
	}
	line := b[i+1+len("Uid:"):]
	if j := bytes.IndexByte(line, '\n'); j >= 0 {
		line = line[:j]
	}
	f := strings.Fields(string(line))
	if len(f) == 0 {
		return 0, false
	}
	u, err := strconv.ParseUint(f[0], 10, 32)
	if err != nil {
		return 0, false
	}
	return uint32(u), true
}

// ParseCmdline splits /proc/<pid>/cmdline (NUL-separated, maybe
// NUL-terminated). A process that rewrote its arguments into one
// space-separated string comes back as that one string.
func ParseCmdline(b []byte) []string {
	b = bytes.TrimRight(b, "\x00")
	if len(b) == 0 {
		return nil
	}
	parts := bytes.Split(b, []byte{0})
	out := make([]string, len(parts))
	for i, p := range parts {
		out[i] = string(p)
	}
	return out
}

// ParseBootTime returns btime from /proc/stat, 0 when absent.
func ParseBootTime(b []byte) int64 {
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "btime "); ok {
			n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			if err == nil {
				return n
			}
		}
	}
	return 0
}

// ParsePasswd maps uids to user names from /etc/passwd; malformed lines are
// skipped, and the first name for a uid wins.
func ParsePasswd(b []byte) map[uint32]string {
	m := map[uint32]string{}
	for _, line := range strings.Split(string(b), "\n") {
		if line == "" || line[0] == '#' {
			continue
		}
		f := strings.SplitN(line, ":", 4)
		if len(f) < 4 || f[0] == "" {
			continue
		}
		u, err := strconv.ParseUint(f[2], 10, 32)
		if err != nil {
			continue
		}
		if _, ok := m[uint32(u)]; !ok {
			m[uint32(u)] = f[0]
		}
	}
	return m
}
