// Package resident is the agent as a service: it scans on a schedule (with
// jitter) within its self-limits, puts every scan into the outbox for the
// collector, and takes the collector's rule bundle and settings: it is the
// Agent that agent/stream carries. The collector's bundle is kept in the
// state directory ("rules.bundle"), so a restarted agent, and a helpdesk
// scan with the agent's config, use it before the collector is reached
// again.
package resident

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/farmwatch/farmwatch/agent/host"
	"github.com/farmwatch/farmwatch/agent/process"
	"github.com/farmwatch/farmwatch/agent/scan"
	"github.com/farmwatch/farmwatch/agent/sensor"
	"github.com/farmwatch/farmwatch/agent/spool"
	"github.com/farmwatch/farmwatch/agent/statefile"
	fwv1 "github.com/farmwatch/farmwatch/proto/farmwatch/v1"
	"github.com/farmwatch/farmwatch/rules"
	"github.com/rs/zerolog"
	"google.golang.org/protobuf/proto"
)

// Config is what an Agent needs.
type Config struct {
	// Scanner scans with the agent's own rules and expectations; the
	// collector's rule bundle and settings change them while running.
	Scanner scan.Scanner
	// LoadRules compiles the agent's rules with a bundle's files on top
	// (none: the agent's own rules alone).
	LoadRules func(bundle []rules.Source) (*rules.Set, error)
	// Open returns the host to scan (live, or a snapshot replayed as a
	// simulated host) and a function to release it.
	Open func() (*host.Host, func(), error)
	// Outbox takes every periodic scan (agent/outbox).
	Outbox interface{ Put(*fwv1.Report) error }
	// StateDir keeps the collector's rule bundle.
	StateDir string
	Interval time.Duration // between scans; 1 min when zero
	Version  string
	Log      zerolog.Logger
	// MaxHeapBytes and MaxCPUPercent are the agent's self-limits: a
	// periodic scan is skipped, and logged, while the Go heap is above the
	// first or the agent used more than the second share of one core since
	// the last scan. Zero means no limit.
	MaxHeapBytes  uint64
	MaxCPUPercent float64
	// CPUTime returns the process's CPU time so far (for MaxCPUPercent).
	CPUTime func() time.Duration
	// Rescan, when signalled, makes the agent scan soon (the collector
	// asked for a full state).
	Rescan <-chan struct{}
	// Salted returns the sensors that hash network identifiers with a
	// fleet salt: the collector's (ConfigUpdate.fleet_salt) replaces
	// Scanner.Sensors, which hash with the agent config's. Nil: the
	// collector's salt is not taken.
	Salted func(salt string) []sensor.Sensor
	// Scanned, when set, is called after each scan is queued (the agent
	// writes its status file; status.go).
	Scanned func(at time.Time)
	// Events, when signalled, makes the agent scan soon, but not sooner
	// than EventGap after the last scan: a process the rules care about
	// started or ended (agent/procevent).
	Events <-chan struct{}
	// Trim, when set, is called after queued scans, to give back the
	// executable's pages the scan touched (agent/workingset). A scan maps
	// some 9 MB of the executable (2 MB of code and 3 MB of read-only data
	// used, and the kernel maps 64 KiB around each fault) that the idle
	// agent does not use until its next scan. Most trims only unmap them
	// (evict false): they stay in the page cache and the next scan maps them
	// back by minor fault. Those come after every scan when the interval is
	// at least UnmapInterval, and not at all below it. Getting going
	// (package initialisation, compiling rules, the first connection)
	// touches much that a scan never does again, and what is in the page
	// cache is mapped again by fault-around: evict is true after each of the
	// first TrimScans periodic scans that began with the rules in use (since
	// the agent started, or since a bundle changed them), and after every
	// RetrimScans-th; scans asked for do not count (trimAfter). Those trims
	// also reclaim the pages, so what no scan uses is read from disk no
	// more.
	Trim func(evict bool)
	// UnmapInterval is the least scan interval at which Trim unmaps after
	// every scan; zero: DefaultUnmapInterval.
	UnmapInterval time.Duration
}

// DefaultUnmapInterval is the least scan interval at which the agent
// unmaps its executable's pages after every scan. The next scan pays for
// mapping back what it uses, some 6 ms of CPU measured: worth it before
// most of a minute idle (some 8 MB less RSS), not before a scan a few
// seconds later (the collector may set 5 s), which would map them back at
// once.
const DefaultUnmapInterval = 30 * time.Second

// TrimScans is how many scans with new rules evict what they touched;
// RetrimScans is how often a trim evicts after them: every 10 min at the
// default 60 s interval. An evicting trim costs the next scan the reading
// back of what it uses (about 500 pages from disk).
const (
	TrimScans   = 2
	RetrimScans = 10
)

// EventGap is the least time between two scans that process events ask
// for: a burst of starts makes one scan, and a tool that lives a few
// seconds is seen starting and ending in two.
const EventGap = 2 * time.Second

// The bounds of a scan interval the collector may set: a broken or
// hostile collector can neither make the agent spin nor go quiet.
const (
	MinInterval = 5 * time.Second
	MaxInterval = 24 * time.Hour
)

// Agent is the resident agent.
type Agent struct {
	c Config

	lastWall time.Time // for the CPU limit; only the scan loop uses these
	lastCPU  time.Duration
	lastScan time.Time

	mu        sync.Mutex   // guards the policy below
	scanner   scan.Scanner // the rules and expectations in use
	bundleVer string       // the collector's bundle in use; "" for none
	bundleErr string       // why the last bundle was refused
	interval  time.Duration
	salt      string         // the collector's fleet salt in use; "" for the config's
	rescan    chan struct{}  // scan soon: the rules changed
	hostInfo  *fwv1.HostInfo // of the last scan, for Judge
	rulesGen  int            // counts rule changes
	genScans  int            // queued scans that began with the rules of rulesGen
}

// bundleFile is where the agent keeps the collector's rule bundle.
const bundleFile = "rules.bundle"

// saltFile is where the agent keeps the collector's fleet salt, so a
// restarted agent hashes with it from its first scan.
const saltFile = "fleet-salt"

// StoredBundle returns the rule bundle kept in a state directory; nil when
// there is none.
func StoredBundle(stateDir string) (*fwv1.RuleBundle, error) {
	p := filepath.Join(stateDir, bundleFile)
	b, err := os.ReadFile(p)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("rule bundle %s: %w", p, err)
	}
	var rb fwv1.RuleBundle
	if err := proto.Unmarshal(b, &rb); err != nil {
		return nil, fmt.Errorf("rule bundle %s: %w", p, err)
	}
	return &rb, nil
}

// New makes an Agent, with the bundle kept from the last run when it still
// loads.
func New(c Config) (*Agent, error) {
	if c.StateDir == "" || c.Open == nil || c.LoadRules == nil || c.Outbox == nil || c.Scanner.Rules == nil {
		return nil, errors.New("resident: a state directory, a host, rules, a rule loader and an outbox are required")
	}
	if c.Interval <= 0 {
		c.Interval = time.Minute
	}
	a := &Agent{c: c, scanner: c.Scanner, interval: c.Interval, rescan: make(chan struct{}, 1)}
	// The bundle kept from the last run: used until the collector says
	// otherwise. One that no longer loads (an older agent binary) is
	// reported in the hello, and the collector sends it again.
	if rb, err := StoredBundle(c.StateDir); err != nil {
		a.bundleErr = err.Error()
		c.Log.Error().Err(err).Msg("stored rule bundle unreadable: using the agent's own rules")
	} else if rb != nil {
		if err := a.useBundle(rb); err != nil {
			a.bundleErr = err.Error()
			c.Log.Error().Err(err).Str("version", rb.GetVersion()).Msg("stored rule bundle does not load: using the agent's own rules")
		}
	}
	if c.Salted != nil {
		b, bad, err := statefile.Read(filepath.Join(c.StateDir, saltFile), validSalt)
		if bad {
			c.Log.Error().Err(err).Msg("stored fleet salt damaged: set aside; the collector sends it again")
		}
		if salt := strings.TrimSpace(string(b)); salt != "" {
			a.salt, a.scanner.Sensors = salt, c.Salted(salt)
		}
	}
	return a, nil
}

// maxSalt bounds a fleet salt.
const maxSalt = 1024

func validSalt(b []byte) error {
	if s := strings.TrimSpace(string(b)); s == "" || len(s) > maxSalt || strings.ContainsAny(s, "\r\n") {
		return errors.New("not one line of at most 1024 bytes")
	}
	return nil
}

// applySalt takes the collector's fleet salt ("": the config's): the
// sensors hash with it from the next scan, which comes soon when it
// changed, and it is kept for a restart. Called with a.mu held.
func (a *Agent) applySalt(salt string) {
	salt = strings.TrimSpace(salt)
	if a.c.Salted == nil || salt == a.salt {
		return
	}
	p := filepath.Join(a.c.StateDir, saltFile)
	if salt == "" {
		a.scanner.Sensors = a.c.Scanner.Sensors
		if err := statefile.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
			a.c.Log.Warn().Err(err).Msg("withdrawn fleet salt not removed from the state directory")
		}
	} else {
		if validSalt([]byte(salt)) != nil {
			a.c.Log.Warn().Int("bytes", len(salt)).Msg("the collector's fleet salt refused: not one line of at most 1024 bytes")
			return
		}
		a.scanner.Sensors = a.c.Salted(salt)
		if err := statefile.Write(p, []byte(salt+"\n")); err != nil {
			a.c.Log.Warn().Err(err).Msg("fleet salt in use but not kept: a restarted agent hashes with its config's until the collector is reached")
		}
	}
	a.salt = salt
	a.c.Log.Info().Bool("collector_salt", salt != "").Msg("fleet salt changed: network identifiers are hashed with it from the next scan")
	select {
	case a.rescan <- struct{}{}:
	default:
	}
}

// Policy is what the agent now uses: its interval and the collector's
// bundle version ("" for none).
func (a *Agent) Policy() (time.Duration, string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.interval, a.bundleVer
}

// Scan scans the host now with the rules and expectations in use.
func (a *Agent) Scan(ctx context.Context) (*fwv1.Report, error) {
	h, release, err := a.c.Open()
	if err != nil {
		return nil, err
	}
	defer release()
	a.mu.Lock()
	sc := a.scanner
	a.mu.Unlock()
	rep := sc.Scan(ctx, h)
	a.mu.Lock()
	a.hostInfo = rep.GetHost()
	a.mu.Unlock()
	return rep, nil
}

// Judge says whether the rules in use care about one process: whether a
// process rule finds something in it that no exception suppresses. It is
// how a process seen starting (agent/procevent) is judged at once.
func (a *Agent) Judge(p *fwv1.Process) bool {
	a.mu.Lock()
	sc, hi := a.scanner, a.hostInfo
	a.mu.Unlock()
	if hi == nil {
		hi = &fwv1.HostInfo{Os: runtime.GOOS}
	}
	o := &fwv1.Observation{Key: process.Key(p), Kind: &fwv1.Observation_Process{Process: p}}
	for _, f := range sc.Rules.EvaluateObservation(hi, sc.Org, o).Findings {
		if f.GetSuppressedBy() == "" && slices.Contains(f.GetEvidence(), o.Key) {
			return true
		}
	}
	return false
}

// Hello says what the agent is and runs.
func (a *Agent) Hello(ctx context.Context) (*fwv1.Hello, error) {
	h, release, err := a.c.Open()
	if err != nil {
		return nil, err
	}
	defer release()
	a.mu.Lock()
	defer a.mu.Unlock()
	return &fwv1.Hello{Host: scan.HostInfo(h), AgentVersion: a.c.Version,
		RulesVersion: a.bundleVer, RulesError: a.bundleErr, Org: a.c.Scanner.Org}, nil
}

// Run scans every interval (with jitter, and soon after the rules change)
// and puts each scan into the outbox, until ctx ends. It returns the
// outbox's failure, or nil when ctx ends.
func (a *Agent) Run(ctx context.Context) error {
	tick := time.NewTimer(0)
	defer tick.Stop()
	eventDue := false // the timer was set for an event's scan, not the interval
	for {
		periodic := false
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
			periodic, eventDue = !eventDue, false
		case <-a.rescan:
			tick.Stop() // since Go 1.23 no stale tick is left to drain
		case <-a.c.Rescan:
			tick.Stop()
		case <-a.c.Events:
			if wait := time.Until(a.lastScan.Add(EventGap)); wait > 0 {
				tick.Reset(wait)
				eventDue = true
				continue
			}
			tick.Stop()
		}
		eventDue = false
		a.lastScan = time.Now()
		interval, _ := a.Policy()
		tick.Reset(jitter(interval))
		if why := a.overLimit(); why != "" {
			a.c.Log.Warn().Str("reason", why).Msg("scan skipped: over the agent's resource limit")
			continue
		}
		gen := a.generation()
		rep, err := a.Scan(ctx)
		if err != nil {
			a.c.Log.Warn().Err(err).Msg("scan failed")
			continue
		}
		if err := a.c.Outbox.Put(rep); errors.Is(err, spool.ErrTooLarge) {
			a.c.Log.Error().Err(err).Msg("scan not queued: the host's state is larger than the spool (raise spool_mb)")
		} else if err != nil {
			return err
		} else {
			a.scanned(time.Now())
		}
		// A scan's garbage is most of the agent's memory; between scans an
		// idle agent gives it back (idle RSS is measured by make bench).
		debug.FreeOSMemory()
		if evict := a.trimAfter(gen, periodic); a.c.Trim != nil && (evict || interval >= a.unmapInterval()) {
			a.c.Trim(evict)
		}
	}
}

// unmapInterval is Config.UnmapInterval or its default.
func (a *Agent) unmapInterval() time.Duration {
	if a.c.UnmapInterval > 0 {
		return a.c.UnmapInterval
	}
	return DefaultUnmapInterval
}

// jitter spreads periodic scans over ±10% of the interval.
func jitter(d time.Duration) time.Duration {
	return d - d/10 + time.Duration(rand.Int64N(int64(d/5)+1))
}

// CPUWindow is the shortest time over which the CPU self-limit
// (MaxCPUPercent) judges the agent's use: checks closer together than that
// to the last judged one add to the same window.
const CPUWindow = 30 * time.Second

// overLimit says why the agent should not scan now, or "".
func (a *Agent) overLimit() string {
	if a.c.MaxHeapBytes > 0 {
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		if ms.HeapAlloc > a.c.MaxHeapBytes {
			return fmt.Sprintf("heap %d MiB over the limit of %d MiB", ms.HeapAlloc>>20, a.c.MaxHeapBytes>>20)
		}
	}
	if a.c.MaxCPUPercent > 0 && a.c.CPUTime != nil {
		now, cpu := time.Now(), a.c.CPUTime()
		if a.lastWall.IsZero() {
			a.lastWall, a.lastCPU = now, cpu
			return ""
		}
		wall := now.Sub(a.lastWall)
		if wall < CPUWindow {
			// Too short to judge: a burst (start-up, a rule bundle
			// compiled, a scan asked for right after) is not a sustained
			// load. The CPU counts on into the next window.
			return ""
		}
		used := cpu - a.lastCPU
		a.lastWall, a.lastCPU = now, cpu
		if pct := 100 * float64(used) / float64(wall); pct > a.c.MaxCPUPercent {
			return fmt.Sprintf("%.1f%% of a core over the last %s, over the limit of %.1f%%", pct, wall.Round(time.Second), a.c.MaxCPUPercent)
		}
	}
	return ""
}

// useBundle loads a rule bundle and, when it loads, makes it the one in use.
func (a *Agent) useBundle(rb *fwv1.RuleBundle) error {
	srcs, err := rules.BundleSources(rb)
	if err != nil {
		return err
	}
	set, err := a.c.LoadRules(srcs)
	if err != nil {
		return err
	}
	a.mu.Lock()
	a.scanner.Rules, a.bundleVer, a.bundleErr = set, rb.GetVersion(), ""
	a.rulesGen++
	a.genScans = 0
	a.mu.Unlock()
	return nil
}

// generation is the count of rule changes so far.
func (a *Agent) generation() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.rulesGen
}

// trimAfter counts a queued periodic scan that began with the rules of
// generation gen, and says whether the trim after it evicts: one of the first
// TrimScans with these rules, or a RetrimScans-th. A scan that began before
// the rules changed does not count, nor does one asked for (new rules,
// a resync, a process event): those come in bursts at start-up and after
// a rule change, and a trim after them would be spent before the agent
// settles, leaving what its first periodic scans touch once (the rules'
// first evaluation) mapped until the RetrimScans-th.
func (a *Agent) trimAfter(gen int, periodic bool) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	if gen != a.rulesGen || !periodic {
		return false
	}
	a.genScans++
	return a.genScans <= TrimScans || a.genScans%RetrimScans == 0
}

// ApplyBundle answers a bundle from the collector: it is loaded, kept on
// disk and used, or refused (the rules in use stay) and the refusal
// reported.
func (a *Agent) ApplyBundle(rb *fwv1.RuleBundle) *fwv1.BundleStatus {
	refuse := func(err error) *fwv1.BundleStatus {
		a.mu.Lock()
		a.bundleErr = err.Error()
		cur := a.bundleVer
		a.mu.Unlock()
		a.c.Log.Error().Err(err).Str("version", rb.GetVersion()).Str("keeping", cur).Msg("rule bundle refused")
		return &fwv1.BundleStatus{Version: cur, RefusedVersion: rb.GetVersion(), Error: err.Error()}
	}
	if err := a.useBundle(rb); err != nil {
		return refuse(err)
	}
	p := filepath.Join(a.c.StateDir, bundleFile)
	if rb.GetVersion() == "" {
		if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
			a.c.Log.Warn().Err(err).Msg("withdrawn rule bundle not removed from the state directory")
		}
	} else if b, err := proto.Marshal(rb); err != nil {
		return refuse(err)
	} else if err := statefile.Write(p, b); err != nil {
		a.c.Log.Warn().Err(err).Msg("rule bundle in use but not kept: a restarted agent waits for it again")
	}
	a.c.Log.Info().Str("version", rb.GetVersion()).Int("files", len(rb.GetFiles())).Msg("rule bundle in use")
	select {
	case a.rescan <- struct{}{}:
	default:
	}
	return &fwv1.BundleStatus{Version: rb.GetVersion()}
}

// ApplyConfig takes the collector's settings: its scan interval (clamped
// to MinInterval..MaxInterval), expectations and fleet salt, when it sets
// them; unset, the agent's own come back.
func (a *Agent) ApplyConfig(c *fwv1.ConfigUpdate) {
	a.mu.Lock()
	defer a.mu.Unlock()
	switch s := c.GetIntervalSeconds(); {
	case s <= 0:
		a.interval = a.c.Interval
	case s < int64(MinInterval/time.Second):
		a.c.Log.Warn().Int64("interval_seconds", s).Dur("using", MinInterval).Msg("the collector's scan interval is too short")
		a.interval = MinInterval
	case s > int64(MaxInterval/time.Second):
		a.c.Log.Warn().Int64("interval_seconds", s).Dur("using", MaxInterval).Msg("the collector's scan interval is too long")
		a.interval = MaxInterval
	default:
		a.interval = time.Duration(s) * time.Second
	}
	if c.GetOrg() != nil {
		a.scanner.Org = c.GetOrg()
	} else {
		a.scanner.Org = a.c.Scanner.Org
	}
	a.applySalt(c.GetFleetSalt())
}

// Hunt answers a fleet hunt: a fresh scan's observations that match the
// filter, compiled here against the rules in use (their types and cost
// limit), with the host and the expectations in use. At most
// limits.HostObservations matches are sent.
func (a *Agent) Hunt(ctx context.Context, req *fwv1.HuntRequest) *fwv1.HuntReply {
	a.mu.Lock()
	sc := a.scanner
	a.mu.Unlock()
	q, err := sc.Rules.Query(req.GetKind(), req.GetFilter())
	if err != nil {
		return &fwv1.HuntReply{Error: err.Error()}
	}
	rep, err := a.Scan(ctx)
	if err != nil {
		return &fwv1.HuntReply{Error: "scan: " + err.Error()}
	}
	return q.Hunt(rep.GetHost(), sc.Org, rep.GetObservations())
}
