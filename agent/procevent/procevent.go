// Package procevent sees processes start and end as it happens, so that a
// remote-access tool that runs for three seconds between two scans is
// judged and reported all the same.
//
// Where the events come from, per OS:
//   - linux: the kernel's process connector (netlink NETLINK_CONNECTOR,
//     CN_IDX_PROC: exec and exit events; root with CAP_NET_ADMIN, in the
//     initial PID namespace). Where it is not available (not root, a
//     container) the watcher says why and polls /proc every second: the
//     directory listing only, and /proc/<pid> of the new pids.
//   - windows: ETW, the Microsoft-Windows-Kernel-Process provider
//     (ProcessStart, ProcessStop) in a real-time session of the SYSTEM
//     service.
//   - darwin: Endpoint Security needs an entitlement, so the process table
//     (sysctl kern.proc.all: pids and start times only) is polled every
//     second, and the details are read for the new pids only.
//
// A started process is read at once (package process) and judged by the
// agent's rules (Config.Judge); one the rules care about is kept until it
// ends, and then given, with its start and end, to the next scan
// (Watcher.Ended), which reports it once although it is gone. The
// processes the rules do not care about are forgotten at once: the cost is
// one read and one evaluation per exec.
//
// What a scan took is the API result api/process_events.json (API.md), so
// a snapshot replays it.
//
// The resident agent's process cache (process.Cache) is told of every
// event, and whether the source reports every exec and exit: with the
// connector, a scan reads only the processes that an event named.
package procevent

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"sync"
	"time"

	"github.com/farmwatch/farmwatch/agent/host"
	"github.com/farmwatch/farmwatch/agent/process"
	fwv1 "github.com/farmwatch/farmwatch/proto/farmwatch/v1"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// Kind is what happened to a process.
type Kind uint8

// The kinds of event.
const (
	Exec Kind = iota + 1 // a program started (exec, or a new process on windows and in polling)
	Exit                 // the process ended
)

// Event is one process start or end.
type Event struct {
	Kind Kind
	Pid  int32
	Time time.Time // when it happened; the time it was seen when polling
}

// Record is one process that started and ended between two scans, as
// api/process_events.json holds it: the process table's record
// (SNAPSHOT.md) and when it ended.
type Record struct {
	process.Record
	EndTime int64  `json:"end_time"`         // milliseconds since the Unix epoch
	Source  string `json:"source,omitempty"` // netlink | etw | poll
}

// Process is the record as an observation's process.
func (r Record) Process() *fwv1.Process {
	p := &fwv1.Process{Pid: r.Pid, Ppid: r.Ppid, Name: r.Name, Exe: r.Exe, Cmdline: r.Cmdline, Args: r.Args, Username: r.Username}
	if r.CreateTime > 0 {
		p.StartTime = timestamppb.New(time.UnixMilli(r.CreateTime))
	}
	if r.EndTime > 0 {
		p.EndTime = timestamppb.New(time.UnixMilli(r.EndTime))
	}
	if p.Exe != "" {
		p.ExeName = baseName(p.Exe)
	}
	return p
}

// recordOf is a process as a Record.
func recordOf(p *fwv1.Process) Record {
	r := Record{Record: process.Record{Pid: p.Pid, Ppid: p.Ppid, Name: p.Name, Exe: p.Exe, Cmdline: p.Cmdline,
		Username: p.Username, Args: p.Args}}
	if p.StartTime != nil {
		r.CreateTime = p.StartTime.AsTime().UnixMilli()
	}
	if p.EndTime != nil {
		r.EndTime = p.EndTime.AsTime().UnixMilli()
	}
	return r
}

func baseName(p string) string {
	for i := len(p) - 1; i >= 0; i-- {
		if p[i] == '/' || p[i] == '\\' {
			return p[i+1:]
		}
	}
	return p
}

// Bounds of what a watcher keeps.
const (
	// MaxKept bounds the running processes the rules cared about that
	// are watched for their end.
	MaxKept = 1024
	// MaxEnded bounds the ended processes waiting for the next scan; the
	// oldest go first, and are counted.
	MaxEnded = 256
	// MaxJudgedPerSecond bounds the starts read and judged each second
	// (a build runs thousands): past it, starts are counted and left to
	// the next scan, which sees the long-lived ones anyway.
	MaxJudgedPerSecond = 200
	// PollInterval is the period of the polling sources: a process that
	// lives longer than it is seen.
	PollInterval = time.Second
)

// Config is what a Watcher needs.
type Config struct {
	// Host is the running machine (host.Live).
	Host *host.Host
	// Judge says whether the rules care about a process (a finding of a
	// process rule, not suppressed): only those are kept until they end.
	Judge func(*fwv1.Process) bool
	// PollOnly polls even where the OS has an event source.
	PollOnly bool
	// Notify is called, without blocking, when a process the rules care
	// about started or ended: the agent scans soon.
	Notify func()
	// Processes, when set, is the resident agent's process cache: it is
	// told of every event before any judging, and whether the source
	// reports every exec and exit (process.Cache says what it does with
	// that).
	Processes *process.Cache
}

// Watcher follows process starts and ends on the running machine.
type Watcher struct {
	c    Config
	read *process.Reader

	mu       sync.Mutex
	mode     string                  // how events are gathered, and why
	kept     map[int32]*fwv1.Process // running processes the rules cared about
	ended    []*fwv1.Process         // ended since the last Ended
	stats    Stats
	bucket   int // starts judged in the current second
	bucketAt time.Time
	now      func() time.Time
}

// Stats counts what a watcher did.
type Stats struct {
	Execs, Exits  uint64 // events seen
	Judged, Kept  uint64 // starts read and judged; those the rules cared about
	Gone          uint64 // starts that ended before they could be read
	OverRate      uint64 // starts left unjudged over MaxJudgedPerSecond
	DroppedEnded  uint64 // ended processes dropped over MaxEnded
	DroppedEvents uint64 // events the source lost (a full socket buffer, ETW)
}

// New returns a Watcher; Run starts it.
func New(c Config) *Watcher {
	return &Watcher{c: c, read: process.NewReader(c.Host), kept: map[int32]*fwv1.Process{}, mode: "not started", now: time.Now}
}

// Mode says how events are gathered here ("netlink (CN_PROC)", "polling
// /proc every 1s: ..."), and why when it is not the OS's event source.
func (w *Watcher) Mode() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.mode
}

// Stats returns the counts so far.
func (w *Watcher) Stats() Stats {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.stats
}

func (w *Watcher) setMode(m string) {
	w.mu.Lock()
	w.mode = m
	w.mu.Unlock()
}

// source is an OS's way of seeing processes start and end. run delivers
// events until ctx ends or it fails; a failure before the first event
// means the source is not available here.
type source interface {
	name() string
	run(ctx context.Context, emit func([]Event), lost func(uint64)) error
}

// complete is a source that reports every exec and every exit of the
// machine (the process connector); a polling source sees new pids only.
type complete interface{ reportsEveryExec() bool }

func isComplete(s source) bool {
	c, ok := s.(complete)
	return ok && c.reportsEveryExec()
}

// errUnavailable wraps why an event source cannot be used here.
var errUnavailable = errors.New("unavailable")

// Run watches until ctx ends: with the OS's event source, or by polling
// where it is not available. It returns nil when ctx ends.
func (w *Watcher) Run(ctx context.Context) error {
	srcs := liveSources()
	if w.c.PollOnly && len(srcs) > 0 {
		srcs = []source{fallback{srcs[len(srcs)-1], "as configured"}}
	}
	defer w.c.Processes.Follow(false)
	for i, src := range srcs {
		w.setMode(src.name())
		w.c.Processes.Follow(isComplete(src))
		err := src.run(ctx, w.handle, w.lost)
		w.c.Processes.Follow(false)
		if ctx.Err() != nil {
			return nil
		}
		if i+1 < len(srcs) {
			w.setMode(fmt.Sprintf("%s: %v", srcs[i+1].name(), err))
			srcs[i+1] = fallback{srcs[i+1], fmt.Sprintf("%v", err)}
			continue
		}
		return fmt.Errorf("process events: %w", err)
	}
	return errors.New("process events: no source on this OS")
}

// fallback is a source used because the one before it failed; its mode
// says why.
type fallback struct {
	source
	why string
}

func (f fallback) name() string { return f.source.name() + " (" + f.why + ")" }

func (w *Watcher) lost(n uint64) {
	w.c.Processes.Lost()
	w.mu.Lock()
	w.stats.DroppedEvents += n
	w.mu.Unlock()
}

// handle takes a batch of events from a source.
func (w *Watcher) handle(evs []Event) {
	for _, e := range evs {
		w.c.Processes.Changed(e.Pid)
		switch e.Kind {
		case Exec:
			w.exec(e)
		case Exit:
			w.exit(e)
		}
	}
}

func (w *Watcher) exec(e Event) {
	w.mu.Lock()
	w.stats.Execs++
	// An exec in place replaces the program a kept pid ran: that one ended.
	if old := w.kept[e.Pid]; old != nil {
		w.endLocked(old, e.Time)
	}
	now := w.now()
	if now.Sub(w.bucketAt) >= time.Second {
		w.bucket, w.bucketAt = 0, now
	}
	if w.bucket >= MaxJudgedPerSecond {
		w.stats.OverRate++
		w.mu.Unlock()
		return
	}
	w.bucket++
	w.mu.Unlock()

	p, err := w.read.Read(context.Background(), e.Pid)
	if err != nil {
		w.mu.Lock()
		if errors.Is(err, fs.ErrNotExist) {
			w.stats.Gone++
		}
		w.mu.Unlock()
		return
	}
	keep := w.c.Judge != nil && w.c.Judge(p)
	w.mu.Lock()
	w.stats.Judged++
	if keep && len(w.kept) < MaxKept {
		w.kept[e.Pid] = p
		w.stats.Kept++
	}
	w.mu.Unlock()
	if keep && w.c.Notify != nil {
		w.c.Notify()
	}
}

func (w *Watcher) exit(e Event) {
	w.mu.Lock()
	w.stats.Exits++
	p := w.kept[e.Pid]
	if p != nil {
		w.endLocked(p, e.Time)
	}
	w.mu.Unlock()
	if p != nil && w.c.Notify != nil {
		w.c.Notify()
	}
}

// endLocked moves a kept process to the ended ones.
func (w *Watcher) endLocked(p *fwv1.Process, at time.Time) {
	delete(w.kept, p.Pid)
	if st := p.GetStartTime(); st != nil && at.Before(st.AsTime()) {
		at = st.AsTime() // a polled end is seen late, never before the start
	}
	p.EndTime = timestamppb.New(at)
	if len(w.ended) >= MaxEnded {
		w.ended = w.ended[1:]
		w.stats.DroppedEnded++
	}
	w.ended = append(w.ended, p)
}

// Ended returns the processes the rules cared about that ended since the
// last call, oldest first, and forgets them: the scan that takes them
// reports them once.
func (w *Watcher) Ended() []Record {
	w.mu.Lock()
	ended := w.ended
	w.ended = nil
	w.mu.Unlock()
	out := make([]Record, 0, len(ended))
	for _, p := range ended {
		r := recordOf(p)
		r.Source = sourceWord(w.Mode())
		out = append(out, r)
	}
	return out
}

func sourceWord(mode string) string {
	for _, w := range []string{"netlink", "etw", "poll"} {
		if len(mode) >= len(w) && mode[:len(w)] == w {
			return w
		}
	}
	return ""
}

// Sensor reports the processes that started and ended between two scans,
// from a Watcher on the running machine (api/process_events.json on a
// snapshot). Without a Watcher (a helpdesk scan) it reports none. Its
// observations are processes with an end time; a scan lets them replace a
// running process of the same key.
type Sensor struct {
	Watcher *Watcher
}

// Name is "procevent".
func (Sensor) Name() string { return "procevent" }

// Sense takes the ended processes.
func (s Sensor) Sense(ctx context.Context, h *host.Host) ([]*fwv1.Observation, error) {
	var recs []Record
	err := h.API(ctx, "process_events", &recs, func(context.Context) (any, error) {
		if s.Watcher == nil {
			return []Record{}, nil
		}
		return s.Watcher.Ended(), nil
	})
	if errors.Is(err, host.ErrNotRecorded) || errors.Is(err, host.ErrNotLive) {
		return nil, nil // an older snapshot, or a --root tree: no events
	}
	if err != nil {
		return nil, err
	}
	return Observations(recs), nil
}

// Observations turns records into process observations, keyed as the
// process table keys them, sorted by key; a record without a pid is left
// out.
func Observations(recs []Record) []*fwv1.Observation {
	out := make([]*fwv1.Observation, 0, len(recs))
	for _, r := range recs {
		if r.Pid <= 0 {
			continue
		}
		p := r.Process()
		out = append(out, &fwv1.Observation{Key: process.Key(p), Kind: &fwv1.Observation_Process{Process: p}})
	}
	slices.SortStableFunc(out, func(a, b *fwv1.Observation) int { return cmp.Compare(a.Key, b.Key) })
	return out
}

// poller is the polling source over a way to list the process table.
type poller struct {
	label string
	every time.Duration
	list  func(dst []procID) ([]procID, error) // the table, sorted by pid
}

// procID names one process for its life: its pid and start (0 where the
// listing does not give it, then a pid reused within a period is missed).
type procID struct {
	pid   int32
	start int64
}

func (p poller) name() string { return p.label }

func (p poller) run(ctx context.Context, emit func([]Event), _ func(uint64)) error {
	prev, err := p.list(nil)
	if err != nil {
		return fmt.Errorf("%w: %v", errUnavailable, err)
	}
	cur := make([]procID, 0, len(prev))
	t := time.NewTicker(p.every)
	defer t.Stop()
	var evs []Event
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		if cur, err = p.list(cur[:0]); err != nil {
			return err
		}
		evs = diff(prev, cur, time.Now(), evs[:0])
		if len(evs) > 0 {
			emit(evs)
		}
		prev, cur = cur, prev
	}
}

// diff returns the ends and starts between two tables sorted by pid: a
// pid that is gone ended, a pid that is new (or whose start changed)
// started.
func diff(prev, cur []procID, at time.Time, out []Event) []Event {
	i, j := 0, 0
	for i < len(prev) || j < len(cur) {
		switch {
		case j == len(cur) || (i < len(prev) && prev[i].pid < cur[j].pid):
			out = append(out, Event{Kind: Exit, Pid: prev[i].pid, Time: at})
			i++
		case i == len(prev) || cur[j].pid < prev[i].pid:
			out = append(out, Event{Kind: Exec, Pid: cur[j].pid, Time: at})
			j++
		default:
			if prev[i].start != cur[j].start {
				out = append(out, Event{Kind: Exit, Pid: prev[i].pid, Time: at}, Event{Kind: Exec, Pid: cur[j].pid, Time: at})
			}
			i++
			j++
		}
	}
	return out
}

func unixNano(n int64) time.Time { return time.Unix(0, n) }
