package main

import (
	"context"
	"errors"
	"fmt"
	"io"
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
	"github.com/farmwatch/farmwatch/agent/statefile"
	"github.com/farmwatch/farmwatch/agent/stream"
	"github.com/farmwatch/farmwatch/agent/workingset"
	"github.com/farmwatch/farmwatch/credential"
	fwv1 "github.com/farmwatch/farmwatch/proto/farmwatch/v1"
	"github.com/farmwatch/farmwatch/rules"
	"github.com/kardianos/service"
	"github.com/rs/zerolog"
	gps "github.com/shirou/gopsutil/v4/process"
	"golang.org/x/sync/errgroup"
)

// cmdRun runs the agent in the foreground, connected to a collector:
//
//	farmwatch-agent run --collector ADDR --ca FILE --enroll-secret-file FILE --state DIR [--snapshot FILE [--hostname NAME]] [--interval DURATION]
//
// With --snapshot the agent replays that host instead of this machine (a
// simulated host, for demos and tests).
func cmdRun(ctx context.Context, args []string, stderr io.Writer, log zerolog.Logger) (int, error) {
	fs := newFlags("run", stderr)
	collector := fs.String("collector", "", "the collector's address, or several replicas' separated by commas (default 127.0.0.1:7443)")
	ca := fs.String("ca", "", "the collector's CA certificate")
	secretFile := fs.String("enroll-secret-file", "", "the fleet's enroll secret")
	state := fs.String("state", "", "the agent's state directory (host id, node key, sequence)")
	snap := fs.String("snapshot", "", "replay this snapshot instead of scanning this machine")
	rename := fs.String("hostname", "", "with --snapshot: the name the replayed host goes by (default: the captured one)")
	interval := fs.Duration("interval", 0, "time between scans (default 1m)")
	configFile := fs.String("config", "", "a YAML config file (flags override it)")
	var ruleDirs multiFlag
	fs.Var(&ruleDirs, "rules", "a directory of extra rule and exception files (repeatable)")
	if err := parse(fs, args); err != nil {
		return exitError, err
	}
	cfg, err := loadConfig(*configFile)
	if err != nil {
		return exitError, err
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
		return exitError, usageError{"run: --ca, --enroll-secret-file and --state are required (flags or config)"}
	}
	if *interval < time.Second {
		return exitError, usageError{"run: --interval must be at least 1s"}
	}
	ruleDirs = append(cfg.Rules, ruleDirs...)
	set, err := residentRules(ruleDirs)
	if err != nil {
		return exitError, err
	}
	tlsCfg, err := credential.ClientTLS(*ca)
	if err != nil {
		return exitError, err
	}
	secret, err := credential.ReadSecret(*secretFile)
	if err != nil {
		return exitError, err
	}
	if *rename != "" && *snap == "" {
		return exitError, usageError{"run: --hostname renames a replayed host: give --snapshot too"}
	}
	if *snap != "" { // fail now, not in the loop, on a bad snapshot
		h, err := host.Open(*snap)
		if err != nil {
			return exitError, err
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
	// A resident agent trades a little CPU at each scan for a smaller heap.
	debug.SetGCPercent(50)
	if err := statefile.MkdirPrivate(*state); err != nil {
		return exitError, fmt.Errorf("run: %w", err)
	}
	ob, rec, err := outbox.Open(*state, cfg.SpoolMB<<20)
	if err != nil {
		return exitError, err
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
		res    = residentParts{activity: activity.NewCounts(*state), procs: process.NewCache()}
		events = make(chan struct{}, 1)
		agent  *resident.Agent
	)
	if *snap == "" && cfg.ProcessEvents != "off" {
		live, err := host.Live()
		if err != nil {
			return exitError, err
		}
		res.events = procevent.New(procevent.Config{Host: live, PollOnly: cfg.ProcessEvents == "poll", Processes: res.procs,
			Judge: func(p *fwv1.Process) bool { return agent.Judge(p) },
			Notify: func() {
				select {
				case events <- struct{}{}:
				default:
				}
			}})
	}
	agent, err = resident.New(resident.Config{
		Scanner:   scan.Scanner{Sensors: sensors(cfg, res), Rules: set, Timeout: cfg.SensorTimeout, Org: cfg.Org()},
		LoadRules: func(bundle []rules.Source) (*rules.Set, error) { return residentRules(ruleDirs, bundle...) },
		Open:      open, Outbox: ob, StateDir: *state, Interval: *interval, Version: version, Log: log,
		MaxHeapBytes: cfg.MaxHeapMB << 20, MaxCPUPercent: cfg.MaxCPUPercent, CPUTime: selfCPUTime, Rescan: ob.NeedFull(),
		Salted: func(salt string) []sensor.Sensor { c := cfg; c.FleetSalt = salt; return sensors(c, res) },
		Scanned: func(at time.Time) {
			n, b := ob.Backlog()
			err := resident.WriteStatus(*state, resident.Status{Version: version, PID: os.Getpid(), Collector: *collector,
				LastScan: at, Backlog: n, BacklogBytes: b, Dropped: ob.Dropped()})
			if err != nil {
				log.Warn().Err(err).Msg("status file not written")
			}
		},
		Events: events,
		Trim:   func() { trimWorkingSet(log) },
	})
	if err != nil {
		return exitError, err
	}
	st, err := stream.New(stream.Config{Dial: stream.Failover(stream.SplitAddrs(*collector), tlsCfg), EnrollSecret: secret, StateDir: *state,
		Agent: agent, Queue: ob, Log: log})
	if err != nil {
		return exitError, err
	}
	// The agent scans and the stream delivers; either failing (the spool
	// can no longer keep what it is given) stops both.
	runBoth := func(ctx context.Context) error {
		g, ctx := errgroup.WithContext(ctx)
		g.Go(func() error { return agent.Run(ctx) })
		g.Go(func() error { return st.Run(ctx) })
		if res.events != nil {
			g.Go(func() error { watchProcesses(ctx, res.events, *state, log); return nil })
		}
		return g.Wait()
	}
	if !service.Interactive() {
		// Started by the service manager: it sends start and stop.
		log.Info().Str("collector", *collector).Str("state", *state).Msg("agent service running")
		if err := runService(runBoth, *configFile, log, os.Exit); err != nil {
			return exitError, fmt.Errorf("run: %w", err)
		}
		return exitOK, nil
	}
	log.Info().Str("collector", *collector).Str("state", *state).Msg("agent running")
	if err := runBoth(ctx); err != nil {
		return exitError, fmt.Errorf("run: %w", err)
	}
	log.Info().Msg("agent stopped")
	return exitOK, nil
}

// eventsStatusFile, in the state directory, says how the agent sees
// process starts (farmwatch-agent status shows it).
const eventsStatusFile = "process-events.status"

// watchProcesses runs the process-event watcher until ctx ends. Once its
// source has settled (the process connector answers within seconds, or
// the watcher fell back to polling) it says how it watches, in the log and
// in the state directory. A watcher that cannot run at all costs the
// agent its events, not its scans.
func watchProcesses(ctx context.Context, w *procevent.Watcher, state string, log zerolog.Logger) {
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	say := func(mode string) {
		if err := statefile.Write(filepath.Join(state, eventsStatusFile), []byte(mode+"\n")); err != nil {
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

// residentRules loads rules for the resident agent. Compiling makes ten
// times the garbage it keeps. With the collector running often, the set is
// packed into few spans instead of being spread among its garbage, which an
// idle agent would keep resident (the idle RSS that make bench measures). A
// few more GC cycles, once per load.
func residentRules(dirs []string, extra ...rules.Source) (*rules.Set, error) {
	defer debug.SetGCPercent(debug.SetGCPercent(10))
	return loadRules(dirs, extra...)
}

// trimWorkingSet gives back the pages of the executable the agent touched
// only to start or to load rules (agent/workingset), and logs what it gave
// back.
func trimWorkingSet(log zerolog.Logger) {
	res, err := workingset.Trim()
	switch {
	case errors.Is(err, workingset.ErrUnsupported):
		log.Debug().Err(err).Msg("working set not trimmed")
	case err != nil:
		log.Warn().Err(err).Msg("working set not trimmed")
	default:
		log.Info().Int64("file_rss_kb_before", res.FileBefore>>10).Int64("file_rss_kb_after", res.FileAfter>>10).
			Int("mappings", res.Mappings).Msg("working set trimmed")
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
