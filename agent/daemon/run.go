// Package daemon is the resident agent: the run command that farmwatch-agentd
// is (and farmwatch-agent run, in the foreground), and its life under the
// service manager. It wires the scanner, the process-event watcher, the
// spool and the collector stream together (agent/resident, agent/stream)
// from a config (agent/wiring).
//
// It is its own executable so that the service links nothing it does not
// run. Installing a service renders units with text/template, whose
// method calls by name make the linker keep every exported method of
// every type in the binary; the resident agent's working set grows with
// what is linked around the code it runs (measured: an idle agent 2 to
// 2.5 MB smaller without it; README, "What the agent costs").
package daemon

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"time"

	"github.com/farmwatch/farmwatch/agent/host"
	"github.com/farmwatch/farmwatch/agent/outbox"
	"github.com/farmwatch/farmwatch/agent/process"
	"github.com/farmwatch/farmwatch/agent/procevent"
	"github.com/farmwatch/farmwatch/agent/resident"
	"github.com/farmwatch/farmwatch/agent/scan"
	"github.com/farmwatch/farmwatch/agent/sensor"
	"github.com/farmwatch/farmwatch/agent/sensor/activity"
	"github.com/farmwatch/farmwatch/agent/sensor/locale"
	"github.com/farmwatch/farmwatch/agent/statefile"
	"github.com/farmwatch/farmwatch/agent/stream"
	"github.com/farmwatch/farmwatch/agent/wiring"
	"github.com/farmwatch/farmwatch/agent/workingset"
	"github.com/farmwatch/farmwatch/credential"
	fwv1 "github.com/farmwatch/farmwatch/proto/farmwatch/v1"
	"github.com/farmwatch/farmwatch/rules"
	"github.com/kardianos/service"
	"github.com/rs/zerolog"
	gps "github.com/shirou/gopsutil/v4/process"
	"golang.org/x/sync/errgroup"
)

// Usage is the run command's synopsis.
const Usage = "run --collector ADDR --ca FILE --enroll-secret-file FILE --state DIR [--snapshot FILE [--hostname NAME]] [--interval DURATION] [--rules DIR]... [--config FILE]"

// Run runs the agent, connected to a collector, until ctx ends or the
// service manager stops it:
//
//	farmwatch-agentd run --collector ADDR --ca FILE --enroll-secret-file FILE --state DIR [--snapshot FILE [--hostname NAME]] [--interval DURATION]
//
// With --snapshot the agent replays that host instead of this machine (a
// simulated host, for demos and tests). version is the executable's, which
// the agent reports. It returns the exit status, with the error that made
// it wiring.ExitError.
func Run(ctx context.Context, args []string, log zerolog.Logger, version string) (int, error) {
	fs := wiring.NewFlags("run")
	collector := fs.String("collector", "", "the collector's address, or several replicas' separated by commas (default 127.0.0.1:7443)")
	ca := fs.String("ca", "", "the collector's CA certificate")
	secretFile := fs.String("enroll-secret-file", "", "the fleet's enroll secret")
	state := fs.String("state", "", "the agent's state directory (host id, node key, sequence)")
	snap := fs.String("snapshot", "", "replay this snapshot instead of scanning this machine")
	rename := fs.String("hostname", "", "with --snapshot: the name the replayed host goes by (default: the captured one)")
	interval := fs.Duration("interval", 0, "time between scans (default 1m)")
	configFile := fs.String("config", "", "a YAML config file (flags override it)")
	var ruleDirs wiring.MultiFlag
	fs.Var(&ruleDirs, "rules", "a directory of extra rule and exception files (repeatable)")
	if err := wiring.Parse(fs, args); err != nil {
		return wiring.ExitError, err
	}
	cfg, err := wiring.LoadConfig(*configFile)
	if err != nil {
		return wiring.ExitError, err
	}
	pick := func(flag *string, conf, def string) {
		if *flag == "" {
			*flag = conf
		}
		if *flag == "" {
			*flag = def
		}
	}
	pick(collector, string(cfg.Collector), "127.0.0.1:7443")
	pick(ca, cfg.CA, "")
	pick(secretFile, cfg.EnrollSecretFile, "")
	pick(state, cfg.State, "")
	if *interval == 0 {
		*interval = cfg.Interval
	}
	if *interval == 0 {
		*interval = time.Minute
	}
	if *ca == "" || *secretFile == "" || *state == "" {
		return wiring.ExitError, wiring.UsageError{Msg: "run: --ca, --enroll-secret-file and --state are required (flags or config)"}
	}
	if *interval < time.Second {
		return wiring.ExitError, wiring.UsageError{Msg: "run: --interval must be at least 1s"}
	}
	ruleDirs = append(cfg.Rules, ruleDirs...)
	set, err := residentRules(ruleDirs)
	if err != nil {
		return wiring.ExitError, err
	}
	tlsCfg, err := credential.ClientTLS(*ca)
	if err != nil {
		return wiring.ExitError, err
	}
	secret, err := credential.ReadSecret(*secretFile)
	if err != nil {
		return wiring.ExitError, err
	}
	if *rename != "" && *snap == "" {
		return wiring.ExitError, wiring.UsageError{Msg: "run: --hostname renames a replayed host: give --snapshot too"}
	}
	if *snap != "" { // fail now, not in the loop, on a bad snapshot
		h, err := host.Open(*snap)
		if err != nil {
			return wiring.ExitError, err
		}
		h.Close()
	}
	open := func() (*host.Host, func(), error) {
		var (
			h   *host.Host
			err error
		)
		if *snap != "" {
			if h, err = host.Open(*snap); err == nil && *rename != "" {
				if err = h.Rename(*rename); err != nil {
					h.Close()
				}
			}
		} else {
			h, err = host.Live()
		}
		if err != nil {
			return nil, nil, err
		}
		return h, func() { h.Close() }, nil
	}
	log = log.Level(zerolog.InfoLevel)
	debug.SetGCPercent(gcPercent)
	if err := statefile.MkdirPrivate(*state); err != nil {
		return wiring.ExitError, fmt.Errorf("run: %w", err)
	}
	ob, rec, err := outbox.Open(*state, cfg.SpoolMB<<20)
	if err != nil {
		return wiring.ExitError, err
	}
	defer ob.Close()
	if r := rec.Spool; r.Records > 0 || r.StateLost {
		log.Error().Int("records", r.Records).Int64("bytes", r.Bytes).Bool("state_lost", r.StateLost).Msg("spool damaged: the damaged part was cut and counted as dropped")
	}
	if rec.Seq != nil {
		log.Error().Err(rec.Seq).Msg("sequence file damaged: numbering goes on from the spool, and the collector resyncs")
	}
	// Process events on the live machine: every start is judged at once by
	// the agent's rules, and those it cares about make the agent scan
	// soon and are reported with their end.
	var (
		res    = wiring.Resident{Activity: activity.NewCounts(*state), Procs: process.NewCache(), Packages: locale.NewPackages()}
		events = make(chan struct{}, 1)
		agent  *resident.Agent
	)
	if *snap == "" && cfg.ProcessEvents != "off" {
		live, err := host.Live()
		if err != nil {
			return wiring.ExitError, err
		}
		res.Events = procevent.New(procevent.Config{Host: live, PollOnly: cfg.ProcessEvents == "poll", Processes: res.Procs,
			Judge: func(p *fwv1.Process) bool { return agent.Judge(p) },
			Notify: func() {
				select {
				case events <- struct{}{}:
				default:
				}
			}})
	}
	agent, err = resident.New(resident.Config{
		Scanner:   scan.Scanner{Sensors: wiring.Sensors(cfg, res), Rules: set, Timeout: cfg.SensorTimeout, Org: cfg.Org()},
		LoadRules: func(bundle []rules.Source) (*rules.Set, error) { return residentRules(ruleDirs, bundle...) },
		Open:      open, Outbox: ob, StateDir: *state, Interval: *interval, Version: version, Log: log,
		MaxHeapBytes: cfg.MaxHeapMB << 20, MaxCPUPercent: cfg.MaxCPUPercent, CPUTime: selfCPUTime, Rescan: ob.NeedFull(),
		Salted: func(salt string) []sensor.Sensor { c := cfg; c.FleetSalt = salt; return wiring.Sensors(c, res) },
		Scanned: func(at time.Time) {
			n, b := ob.Backlog()
			err := resident.WriteStatus(*state, resident.Status{Version: version, PID: os.Getpid(), Collector: *collector,
				LastScan: at, Backlog: n, BacklogBytes: b, Dropped: ob.Dropped()})
			if err != nil {
				log.Warn().Err(err).Msg("status file not written")
			}
		},
		Events: events,
		Trim:   trimmer(log),
	})
	if err != nil {
		return wiring.ExitError, err
	}
	st, err := stream.New(stream.Config{Dial: stream.Failover(stream.SplitAddrs(*collector), tlsCfg), EnrollSecret: secret, StateDir: *state,
		Agent: agent, Queue: ob, Log: log})
	if err != nil {
		return wiring.ExitError, err
	}
	// The agent scans and the stream delivers; either failing (the spool
	// can no longer keep what it is given) stops both.
	runBoth := func(ctx context.Context) error {
		g, ctx := errgroup.WithContext(ctx)
		g.Go(func() error { return agent.Run(ctx) })
		g.Go(func() error { return st.Run(ctx) })
		if res.Events != nil {
			g.Go(func() error { watchProcesses(ctx, res.Events, *state, log); return nil })
		}
		return g.Wait()
	}
	if !service.Interactive() {
		// Started by the service manager: it sends start and stop.
		log.Info().Str("collector", *collector).Str("state", *state).Msg("agent service running")
		if err := runService(runBoth, *configFile, log, os.Exit); err != nil {
			return wiring.ExitError, fmt.Errorf("run: %w", err)
		}
		return wiring.ExitOK, nil
	}
	log.Info().Str("collector", *collector).Str("state", *state).Msg("agent running")
	if err := runBoth(ctx); err != nil {
		return wiring.ExitError, fmt.Errorf("run: %w", err)
	}
	log.Info().Msg("agent stopped")
	return wiring.ExitOK, nil
}

// EventsStatusFile, in the state directory, says how the agent sees
// process starts (farmwatch-agent status shows it).
const EventsStatusFile = "process-events.status"

// watchProcesses runs the process-event watcher until ctx ends. Once its
// source has settled (the process connector answers within seconds, or
// the watcher fell back to polling) it says how it watches, in the log and
// in the state directory. A watcher that cannot run at all costs the
// agent its events, not its scans.
func watchProcesses(ctx context.Context, w *procevent.Watcher, state string, log zerolog.Logger) {
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	say := func(mode string) {
		if err := statefile.Write(filepath.Join(state, EventsStatusFile), []byte(mode+"\n")); err != nil {
			log.Warn().Err(err).Msg("process events status not written")
		}
	}
	select {
	case err := <-done:
		if err != nil {
			log.Warn().Err(err).Msg("no process events: only scans see processes")
			say("none: " + err.Error())
		}
		return
	case <-time.After(3 * time.Second):
	}
	mode := w.Mode()
	if strings.HasPrefix(mode, "poll") && strings.Contains(mode, "(") {
		log.Warn().Str("mode", mode).Msg("process events by polling")
	} else {
		log.Info().Str("mode", mode).Msg("process events")
	}
	say(mode)
	if err := <-done; err != nil {
		log.Warn().Err(err).Msg("process events stopped: only scans see processes")
		say("none: " + err.Error())
	}
}

// gcPercent is the resident agent's GOGC. A scan with 1,000 processes
// makes some 2.4 MB of garbage over a live heap of about 3.5 MB; at 200
// the collection after the scan (the scan loop's FreeOSMemory, which also
// gives back what is free) is most often the only one, where at 50 the
// scan also paid for one or two in its middle: 33-42 ms of CPU a scan
// against 24-28 ms (BenchmarkResidentScan, same sitting). Between scans
// the heap is the live set either way.
const gcPercent = 200

// residentRules loads rules for the resident agent. Compiling makes ten
// times the garbage it keeps. With the collector running often, the set is
// packed into few spans instead of being spread among its garbage, which an
// idle agent would keep resident (the idle RSS that make bench measures). A
// few more GC cycles, once per load.
func residentRules(dirs []string, extra ...rules.Source) (*rules.Set, error) {
	defer debug.SetGCPercent(debug.SetGCPercent(10))
	return wiring.LoadRules(dirs, extra...)
}

// trimmer returns the scan loop's Trim: it gives back the pages of the
// executable a scan, or starting and loading rules, touched
// (agent/workingset), and logs what it gave back when it evicts. Where
// there is no trim, or the executable's mappings cannot be read, it says
// why once and is nil.
func trimmer(log zerolog.Logger) func(evict bool) {
	t, err := workingset.New()
	switch {
	case errors.Is(err, workingset.ErrUnsupported):
		log.Debug().Err(err).Msg("working set not trimmed")
		return nil
	case err != nil:
		log.Warn().Err(err).Msg("working set not trimmed")
		return nil
	}
	return func(evict bool) {
		res, err := t.Trim(evict)
		switch {
		case err != nil:
			log.Warn().Err(err).Msg("working set not trimmed")
		case evict:
			log.Info().Int64("file_rss_kb_before", res.FileBefore>>10).Int64("file_rss_kb_after", res.FileAfter>>10).
				Int("mappings", res.Mappings).Msg("working set evicted")
		}
	}
}

// selfCPUTime is the agent's own CPU time (user + system), for its
// self-limit; zero when the OS does not say.
func selfCPUTime() time.Duration {
	p, err := gps.NewProcess(int32(os.Getpid()))
	if err != nil {
		return 0
	}
	t, err := p.Times()
	if err != nil {
		return 0
	}
	return time.Duration((t.User + t.System) * float64(time.Second))
}
