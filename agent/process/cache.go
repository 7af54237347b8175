package process

import (
	"context"
	"sync"

	"github.com/farmwatch/farmwatch/agent/host"
	fwv1 "github.com/farmwatch/farmwatch/proto/farmwatch/v1"
	"google.golang.org/protobuf/proto"
)

// Cache keeps what the resident agent read of each process, so that the
// next listing of the live machine reads again only the processes that are
// new: on Linux, a pid whose /proc/<pid>/stat shows the same start time
// and name and whose exe link is unchanged is the same process running the
// same program, and its status, cmdline and user are taken from the cache.
// That is two system calls' worth of reading per known process instead of
// four files.
//
// What a cached process can get wrong, by design: arguments a process
// rewrites in place after it was first read (a title such as "postgres:
// checkpointer"), and a user it switched to without executing anything
// (setuid after start). An exec always shows: it changes the exe link or
// the name, and the process connector reports it besides.
//
// A helpdesk scan uses no cache; neither do darwin and windows, whose
// process table comes whole from one OS call.
type Cache struct {
	mu    sync.Mutex
	byPid map[int32]cachedProcess
	stats CacheStats
}

// CacheStats counts how the last listing was made.
type CacheStats struct {
	Reused, Read int
}

type cachedProcess struct {
	startTicks uint64
	comm, exe  string
	p          *fwv1.Process // as read: no parent name, no exe name
}

// NewCache returns an empty cache.
func NewCache() *Cache { return &Cache{byPid: map[int32]cachedProcess{}} }

// Stats says how many processes the last listing took from the cache and
// how many it read.
func (c *Cache) Stats() CacheStats {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.stats
}

// List is List through the cache. A host that is not the live machine (a
// snapshot, a --root tree) is listed as List does, and the cache left
// alone.
func (c *Cache) List(ctx context.Context, h *host.Host) ([]*fwv1.Process, error) {
	if c == nil || !h.Live() || h.OS() != "linux" {
		return List(ctx, h)
	}
	c.mu.Lock() // one listing at a time: each replaces the cache
	defer c.mu.Unlock()
	next := make(map[int32]cachedProcess, len(c.byPid))
	var st CacheStats
	ps, err := listWith(ctx, h, func(pid int, btime int64, users map[uint32]string) (*fwv1.Process, error) {
		return c.read(h, pid, btime, users, next, &st)
	})
	c.byPid, c.stats = next, st
	return finish(ps, err)
}

// read reads one process, from the cache when it is the one cached.
func (c *Cache) read(h *host.Host, pid int, btime int64, users map[uint32]string, next map[int32]cachedProcess, st *CacheStats) (*fwv1.Process, error) {
	dir := "/proc/" + itoa(pid)
	statb, err := h.ReadFile(dir + "/stat")
	if err != nil {
		return nil, err
	}
	s, err := ParseStat(statb)
	if err != nil {
		return nil, errStat(dir, err)
	}
	if isKernelThread(pid, s) {
		return nil, nil
	}
	if old, ok := c.byPid[int32(pid)]; ok && old.startTicks == s.StartTicks && old.comm == s.Comm {
		exe, _ := readExe(h, dir)
		if exe == old.exe {
			p := proto.CloneOf(old.p)
			p.Ppid = s.PPid // a reparented process keeps its identity
			next[int32(pid)] = old
			st.Reused++
			return p, nil
		}
	}
	p, err := readRest(h, dir, pid, s, btime, users)
	if err != nil || p == nil {
		return p, err
	}
	st.Read++
	next[int32(pid)] = cachedProcess{startTicks: s.StartTicks, comm: s.Comm, exe: p.Exe, p: proto.CloneOf(p)}
	return p, nil
}
