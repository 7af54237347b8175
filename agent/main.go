// Command farmwatch-agent finds signs that this computer is controlled from
// somewhere else: remote-access tools, IP-KVMs, virtual displays, VPN hops.
//
//	farmwatch-agent scan [--root DIR | --snapshot FILE] [--format table|json] [--fail-on SEVERITY] [--rules DIR] [--explain RULE]
//	farmwatch-agent snapshot -o FILE [--root DIR]
//	farmwatch-agent rules test|list [--rules DIR]
//	farmwatch-agent run ...      (the resident agent in the foreground; the service runs farmwatch-agentd)
//	farmwatch-agent install|configure|uninstall|start|stop|status|purge ...
//	farmwatch-agent version
//
// Exit status: 0 nothing at or above --fail-on, 1 findings at or above it,
// 2 an error (the message is on stderr).
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"time"

	"github.com/farmwatch/farmwatch/agent/daemon"
	"github.com/farmwatch/farmwatch/agent/host"
	"github.com/farmwatch/farmwatch/agent/scan"
	"github.com/farmwatch/farmwatch/agent/sensor"
	"github.com/farmwatch/farmwatch/agent/sensor/activity"
	"github.com/farmwatch/farmwatch/agent/wiring"
	fwv1 "github.com/farmwatch/farmwatch/proto/farmwatch/v1"
	"github.com/farmwatch/farmwatch/report"
	"github.com/farmwatch/farmwatch/rules"
	"github.com/rs/zerolog"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

// scanMemoryLimit is the heap at which a helpdesk scan, which otherwise
// does not collect its garbage, starts to.
const scanMemoryLimit = 256 << 20

// Exit statuses (wiring's, shared with farmwatch-agentd).
const (
	exitOK       = wiring.ExitOK
	exitFindings = wiring.ExitFindings
	exitError    = wiring.ExitError
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

const usage = `usage:
  farmwatch-agent scan [--root DIR | --snapshot FILE] [--format table|json] [--fail-on info|low|medium|high|critical]
                       [--rules DIR]... [--explain RULE] [--timeout DURATION] [--config FILE]
  farmwatch-agent snapshot -o FILE [--root DIR | --pack SRCDIR] [--config FILE]
  farmwatch-agent run ...   (the resident agent in the foreground: as farmwatch-agentd run; see farmwatch-agentd help)
  farmwatch-agent install --collector ADDR --ca FILE --enroll-secret-file FILE [--state DIR] [--interval D] [--config PATH]
  farmwatch-agent configure [--collector ADDR] [--ca FILE | --ca-pem PEM] [--enroll-secret S | --enroll-secret-file FILE] [--state DIR] [--config PATH]
  farmwatch-agent uninstall|start|stop|status|purge [--config PATH]
  farmwatch-agent rules test|list [--rules DIR]...
  farmwatch-agent version
`

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	log := zerolog.New(report.LogWriter(stderr, wiring.IsTerminal(stderr))).
		Level(zerolog.WarnLevel).With().Timestamp().Logger()
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return exitError
	}
	var (
		code int
		err  error
	)
	switch args[0] {
	case "scan":
		code, err = cmdScan(ctx, args[1:], stdout, stderr, log)
	case "run":
		// The service runs farmwatch-agentd, which links only this
		// (agent/daemon); here it stays for running by hand, and for
		// services installed before farmwatch-agentd existed.
		code, err = daemon.Run(ctx, args[1:], log, version)
	case "install", "configure", "uninstall", "start", "stop", "status", "purge":
		code, err = cmdService(args[0], args[1:], stdout, stderr)
	case "snapshot":
		code, err = cmdSnapshot(ctx, args[1:], stdout, stderr, log)
	case "rules":
		code, err = cmdRules(args[1:], stdout, stderr)
	case activity.ProbeCommand: // started by the service in the console user's session (windows)
		out, perr := activity.Probe()
		if perr == nil {
			fmt.Fprint(stdout, out)
			return exitOK
		}
		err = perr
	case "version", "--version", "-version":
		fmt.Fprintf(stdout, "farmwatch-agent %s\n", version)
		return exitOK
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return exitOK
	default:
		err = wiring.UsageError{Msg: fmt.Sprintf("unknown command %q", args[0])}
	}
	return wiring.Exit(stderr, "farmwatch-agent", usage, code, err)
}

// openHost opens the host named by --root or --snapshot, or this machine.
func openHost(root, snap string) (*host.Host, error) {
	switch {
	case root != "" && snap != "":
		return nil, wiring.UsageError{Msg: "give --root or --snapshot, not both"}
	case root != "":
		return host.FromRoot(root)
	case snap != "":
		return host.Open(snap)
	}
	return host.Live()
}

func cmdScan(ctx context.Context, args []string, stdout, stderr io.Writer, log zerolog.Logger) (int, error) {
	fs := wiring.NewFlags("scan")
	root := fs.String("root", "", "scan a directory that mirrors a host's filesystem")
	snap := fs.String("snapshot", "", "scan a captured snapshot file")
	format := fs.String("format", "table", "table or json")
	configFile := fs.String("config", "", "a YAML config file (flags override it)")
	failOn := fs.String("fail-on", "", "exit 1 when a finding is at or above this severity (default high)")
	explain := fs.String("explain", "", "show a rule, its sources and what it matched")
	timeout := fs.Duration("timeout", 0, "time limit for each sensor (default 10s)")
	var ruleDirs wiring.MultiFlag
	fs.Var(&ruleDirs, "rules", "a directory of extra rule and exception files (repeatable)")
	if err := wiring.Parse(fs, args); err != nil {
		return exitError, err
	}
	cfg, err := wiring.LoadConfig(*configFile)
	if err != nil {
		return exitError, err
	}
	if *failOn == "" {
		*failOn = cfg.FailOn
	}
	if *timeout == 0 {
		*timeout = cfg.SensorTimeout
	}
	ruleDirs = append(cfg.Rules, ruleDirs...)
	if *format != "table" && *format != "json" {
		return exitError, wiring.UsageError{Msg: fmt.Sprintf("--format %q: want table or json", *format)}
	}
	threshold, err := report.ParseSeverity(*failOn)
	if err != nil {
		return exitError, wiring.UsageError{Msg: "--fail-on: " + err.Error()}
	}
	if *timeout <= 0 {
		return exitError, wiring.UsageError{Msg: "--timeout must be positive"}
	}
	h, err := openHost(*root, *snap)
	if err != nil {
		return exitError, err
	}
	defer h.Close()
	// A scan is short-lived: it has no use for collecting its garbage,
	// only for starting soon (the collector's memory stays bounded).
	debug.SetGCPercent(-1)
	debug.SetMemoryLimit(scanMemoryLimit)
	// The rules compile while the sensors read the host: on two cores
	// most of the compiling is then free.
	type loaded struct {
		set *rules.Set
		err error
	}
	ch := make(chan loaded, 1)
	go func() {
		opts := rules.Options{Tests: *explain != ""}
		set, err := wiring.LoadRulesWith(opts, ruleDirs)
		if err == nil && cfg.State != "" {
			// An installed agent's config: judge by the collector's rules
			// too, as the agent does, when it has been sent them.
			set = wiring.WithStoredBundle(set, opts, ruleDirs, cfg.State, log)
		}
		ch <- loaded{set, err}
	}()
	sc := &scan.Scanner{Sensors: wiring.Sensors(cfg, wiring.Resident{}), Timeout: *timeout, Org: cfg.Org()}
	rep := sc.Sense(ctx, h)
	ld := <-ch
	if ld.err != nil {
		return exitError, ld.err
	}
	set := ld.set
	var rule *rules.Rule
	if *explain != "" {
		if rule = set.Rule(*explain); rule == nil {
			return exitError, fmt.Errorf("--explain %s: no such rule (farmwatch-agent rules list shows them)", *explain)
		}
	}
	sc.Rules = set
	sc.Judge(rep)
	for _, s := range rep.Sensors {
		if !s.Ok {
			log.Warn().Str("sensor", s.Name).Str("error", s.Error).Msg("sensor failed")
		}
	}
	if rule != nil {
		if err := explainRule(stdout, set, rule, rep, wiring.IsTerminal(stdout)); err != nil {
			return exitError, err
		}
	} else if *format == "json" {
		b, err := report.JSON(rep)
		if err != nil {
			return exitError, err
		}
		if _, err := stdout.Write(b); err != nil {
			return exitError, err
		}
	} else if err := report.Table(stdout, rep, report.TableOptions{Color: wiring.IsTerminal(stdout)}); err != nil {
		return exitError, err
	}
	if worstAtLeast(rep, threshold) {
		return exitFindings, nil
	}
	return exitOK, nil
}

func worstAtLeast(rep *fwv1.Report, t fwv1.Severity) bool {
	return report.Worst(rep) >= t
}

func explainRule(w io.Writer, set *rules.Set, r *rules.Rule, rep *fwv1.Report, color bool) error {
	var b strings.Builder
	fmt.Fprintf(&b, "rule %s (%s, scope %s) from %s:%d\n", r.ID, report.SeverityName(r.Severity), r.Scope, r.File, r.Line)
	fmt.Fprintf(&b, "  %s\n\n", r.Title)
	if d := strings.TrimSpace(r.Description); d != "" {
		fmt.Fprintf(&b, "%s\n\n", wrap(d, 78, ""))
	}
	if len(r.Tags) > 0 {
		fmt.Fprintf(&b, "ATT&CK: %s\n", strings.Join(r.Tags, ", "))
	}
	b.WriteString("Sources:\n")
	for _, s := range r.Sources {
		fmt.Fprintf(&b, "  - %s\n", s)
	}
	fmt.Fprintf(&b, "When:\n%s\n", indent(strings.TrimSpace(r.When), "  "))
	for _, n := range set.ListNames() {
		if strings.Contains(r.When+r.Label, "lists."+n) {
			l := set.Lists[n]
			fmt.Fprintf(&b, "List %s: %d values (%s match) from %s\n", n, l.Len(), l.Match, strings.Join(l.Sources, "; "))
		}
	}
	for _, x := range set.Exceptions {
		for _, id := range x.Rules {
			if id == r.ID {
				fmt.Fprintf(&b, "Exception %s (%s:%d): %s\n", x.ID, x.File, x.Line, x.Reason)
			}
		}
	}
	fmt.Fprintf(&b, "Tests: %d\n\n", len(r.Tests))
	n := 0
	for _, f := range rep.Findings {
		if f.Rule == r.ID {
			n++
		}
	}
	fmt.Fprintf(&b, "On this host it matched %d time(s):\n", n)
	if _, err := io.WriteString(w, report.CleanLines(b.String())); err != nil {
		return err
	}
	if n == 0 {
		return nil
	}
	return report.Table(w, rep, report.TableOptions{Color: color, Rule: r.ID})
}

func indent(s, pre string) string {
	return pre + strings.ReplaceAll(s, "\n", "\n"+pre)
}

func wrap(s string, width int, pre string) string {
	var lines []string
	line := pre
	for _, w := range strings.Fields(s) {
		if len(line)+len(w)+1 > width && strings.TrimSpace(line) != "" {
			lines = append(lines, line)
			line = pre
		}
		if strings.TrimSpace(line) != "" {
			line += " "
		}
		line += w
	}
	return strings.Join(append(lines, line), "\n")
}

func cmdSnapshot(ctx context.Context, args []string, stdout, stderr io.Writer, log zerolog.Logger) (int, error) {
	fs := wiring.NewFlags("snapshot")
	out := fs.String("o", "", "write the snapshot to this file (- for standard output)")
	root := fs.String("root", "", "record a directory that mirrors a host instead of this machine")
	pack := fs.String("pack", "", "build the snapshot from an unpacked source directory (recorded macOS/Windows outputs; see SNAPSHOT.md)")
	timeout := fs.Duration("timeout", 30*time.Second, "time limit for each sensor")
	configFile := fs.String("config", "", "a YAML config file (fleet_salt, mdns)")
	if err := wiring.Parse(fs, args); err != nil {
		return exitError, err
	}
	cfg, err := wiring.LoadConfig(*configFile)
	if err != nil {
		return exitError, err
	}
	if *out == "" {
		return exitError, wiring.UsageError{Msg: "snapshot: -o FILE is required"}
	}
	if *pack != "" {
		if *root != "" {
			return exitError, wiring.UsageError{Msg: "snapshot: give --pack or --root, not both"}
		}
		s, err := host.Pack(*pack)
		if err != nil {
			return exitError, err
		}
		b, err := s.Format()
		if err != nil {
			return exitError, err
		}
		return exitOK, writeFile(*out, b, stdout)
	}
	h, err := openHost(*root, "")
	if err != nil {
		return exitError, err
	}
	defer h.Close()
	h.Record()
	results := sensor.Run(ctx, h, wiring.Sensors(cfg, wiring.Resident{}), *timeout)
	for _, r := range results {
		if r.Err != nil {
			log.Warn().Str("sensor", r.Sensor).Err(r.Err).Msg("sensor failed while recording")
		}
	}
	if *out == "-" {
		return exitOK, h.WriteSnapshot(stdout)
	}
	f, err := os.OpenFile(*out, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return exitError, fmt.Errorf("snapshot: %w", err)
	}
	if err := h.WriteSnapshot(f); err != nil {
		f.Close()
		return exitError, fmt.Errorf("snapshot %s: %w", *out, err)
	}
	if err := f.Close(); err != nil {
		return exitError, fmt.Errorf("snapshot %s: %w", *out, err)
	}
	fmt.Fprintf(stderr, "farmwatch-agent: wrote %s (%s, %s)\n", report.Clean(*out), report.Clean(h.Hostname()), h.OS())
	return exitOK, nil
}

func writeFile(name string, b []byte, stdout io.Writer) error {
	if name == "-" {
		_, err := stdout.Write(b)
		return err
	}
	if err := os.WriteFile(name, b, 0o600); err != nil {
		return fmt.Errorf("write %s: %w", name, err)
	}
	return nil
}

func cmdRules(args []string, stdout, stderr io.Writer) (int, error) {
	if len(args) == 0 {
		return exitError, wiring.UsageError{Msg: "rules: want test or list"}
	}
	fs := wiring.NewFlags("rules " + args[0])
	var ruleDirs wiring.MultiFlag
	fs.Var(&ruleDirs, "rules", "a directory of extra rule and exception files (repeatable)")
	if err := wiring.Parse(fs, args[1:]); err != nil {
		return exitError, err
	}
	set, err := wiring.LoadRulesWith(rules.Options{Tests: args[0] == "test"}, ruleDirs)
	if err != nil {
		return exitError, err
	}
	switch args[0] {
	case "list":
		for _, r := range set.Rules {
			fmt.Fprintf(stdout, "%-36s %-8s %-10s %s\n", r.ID, report.SeverityName(r.Severity), r.Scope, report.Clean(r.Title))
		}
		fmt.Fprintf(stdout, "%d rules, %d lists, %d exceptions\n", len(set.Rules), len(set.Lists), len(set.Exceptions))
		return exitOK, nil
	case "test":
		passed, failed := set.RunTests()
		for _, f := range failed {
			fmt.Fprintln(stdout, "FAIL", report.CleanLines(f.Error()))
		}
		fmt.Fprintf(stdout, "%d passed, %d failed\n", passed, len(failed))
		if len(failed) > 0 {
			return exitFindings, nil
		}
		return exitOK, nil
	}
	return exitError, wiring.UsageError{Msg: fmt.Sprintf("rules: unknown subcommand %q: want test or list", args[0])}
}
