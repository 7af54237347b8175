package process

import (
	"context"
	"sync"
	"time"

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
//
// Where a source reports every exec and exit of the machine as it happens
// (the process connector: procevent tells the cache with Follow, Changed
// and Lost), a listing does not even read the stat of a known process that
// no event named: it reads the /proc directory, and the new or changed
// processes. The cache trusts the events only after a listing that read
// every process and started once the source had settled (FollowSettle
// after it started or lost events), and stops trusting them at once when
// the source stops or loses events.
type Cache struct {
	mu    sync.Mutex // one listing at a time: each replaces byPid
	byPid map[int32]cachedProcess
	stats CacheStats

	ev        sync.Mutex // guards the event state below; never held while reading
	following bool       // a source reports every exec and exit
	since     time.Time  // when it started following, or last lost events
	gen       uint64     // counts Follow and Lost calls
	trusted   bool       // listings may take unnamed known processes unread
	dirty     map[int32]bool
	now       func() time.Time
}

// FollowSettle is how long after an event source started (or lost
// events) a listing must start for the cache to trust the source: the
// process connector answers its subscription within two seconds or fails.
const FollowSettle = 3 * time.Second

// maxDirty bounds the pids remembered between two listings; past it the
// next listing reads every process, as if events had been lost.
const maxDirty = 8192

// CacheStats counts how the last listing was made: processes taken from
// the cache after a check of their stat and exe link, taken unread
// (trusted events named nothing about them), and read; and kernel threads
// passed over unread (trusted events named nothing about them; a kernel
// thread is no process a listing returns).
type CacheStats struct {
	Reused, Trusted, Read, Kernel int
}

// Follow says whether a source now reports every exec and exit of the
// machine to Changed (true), or none does any more (false). Either way the
// next listing reads every process.
func (c *Cache) Follow(on bool) {
	if c == nil {
		return
	}
	c.ev.Lock()
	defer c.ev.Unlock()
	c.following, c.trusted, c.since, c.dirty = on, false, c.clock(), nil
	c.gen++
}

// Lost says that the source lost events: the next listing reads every
// process.
func (c *Cache) Lost() {
	if c == nil {
		return
	}
	c.ev.Lock()
	defer c.ev.Unlock()
	c.trusted, c.since, c.dirty = false, c.clock(), nil
	c.gen++
}

// Changed says that a process started, executed a program or ended.
func (c *Cache) Changed(pid int32) {
	if c == nil {
		return
	}
	c.ev.Lock()
	defer c.ev.Unlock()
	if !c.trusted && !c.following {
		return
	}
	if c.dirty == nil {
		c.dirty = map[int32]bool{}
	}
	c.dirty[pid] = true
	if len(c.dirty) > maxDirty {
		c.trusted, c.since, c.dirty = false, c.clock(), nil
		c.gen++
	}
}

func (c *Cache) clock() time.Time {
	if c.now != nil {
		return c.now()
	}
	return time.Now()
}

type cachedProcess struct {
	startTicks uint64
	comm, exe  string
	p          *fwv1.Process // as read: no parent name, no exe name; nil for a kernel thread
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
	c.mu.Lock()
	defer c.mu.Unlock()
	c.ev.Lock()
	dirty, trust, gen, start := c.dirty, c.trusted, c.gen, c.clock()
	c.dirty = nil // what changes from now on is for the next listing
	c.ev.Unlock()

	next := make(map[int32]cachedProcess, len(c.byPid))
	var st CacheStats
	ps, err := listWith(ctx, h, 1, func(pid int, btime int64, users map[uint32]string) (*fwv1.Process, error) {
		if old, ok := c.byPid[int32(pid)]; ok && trust && !dirty[int32(pid)] {
			switch {
			case old.p == nil: // a kernel thread
				next[int32(pid)] = old
				st.Kernel++
				return nil, nil
			case !dirty[old.p.Ppid]:
				next[int32(pid)] = old
				st.Trusted++
				return proto.CloneOf(old.p), nil
			}
		}
		return c.read(h, pid, btime, users, next, &st, dirty[int32(pid)])
	})
	c.byPid, c.stats = next, st

	c.ev.Lock()
	if !trust && err == nil && c.gen == gen && c.following && start.Sub(c.since) >= FollowSettle {
		c.trusted = true // this listing read everything after the source settled
	}
	c.ev.Unlock()
	return finish(ps, err)
}

// read reads one process, from the cache when it is the one cached.
// A changed process (an event named it) is read whole.
func (c *Cache) read(h *host.Host, pid int, btime int64, users map[uint32]string, next map[int32]cachedProcess, st *CacheStats, changed bool) (*fwv1.Process, error) {
	dir, s, kernel, err := readStat(h, pid)
	if err != nil {
		return nil, err
	}
	if kernel { // kept, so that a trusted listing passes over it unread
		next[int32(pid)] = cachedProcess{startTicks: s.StartTicks, comm: s.Comm}
		return nil, nil
	}
	if old, ok := c.byPid[int32(pid)]; ok && old.p != nil && !changed && old.startTicks == s.StartTicks && old.comm == s.Comm {
		exe, _ := readExe(h, dir)
		if exe == old.exe {
			if old.p.Ppid != s.PPid { // reparented: the same process, another parent
				np := proto.CloneOf(old.p)
				np.Ppid = s.PPid
				old.p = np
			}
			p := proto.CloneOf(old.p)
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
