package remoteaccess

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"path"
	"strconv"
	"strings"

	"github.com/farmwatch/farmwatch/agent/host"
	fwv1 "github.com/farmwatch/farmwatch/proto/farmwatch/v1"
	"howett.net/plist"
)

// launchdDirs are the launchd job directories read, by glob. Apple's own
// jobs in /System/Library are not read, except Screen Sharing's.
var launchdDirs = []struct {
	glob   string
	daemon bool // a job of the system domain (runs as root unless UserName says otherwise)
}{
	{"/Library/LaunchDaemons/*.plist", true},
	{"/Library/LaunchAgents/*.plist", false},
	{"/Users/*/Library/LaunchAgents/*.plist", false},
}

const (
	screenSharingLabel = "com.apple.screensharing"
	screenSharingPlist = "/System/Library/LaunchDaemons/com.apple.screensharing.plist"
)

// remoteManagementFlags are the files ARDAgent keeps, holding "enabled",
// while Remote Management (Apple Remote Desktop) is on: the first since OS X
// 10.11, the second before.
var remoteManagementFlags = []string{
	"/Library/Application Support/Apple/Remote Desktop/RemoteManagement.launchd",
	"/etc/RemoteManagement.launchd",
}

var (
	printDisabledCmd = host.Command{Name: "launchctl", Args: []string{"print-disabled", "system"}}
	launchctlListCmd = host.Command{Name: "launchctl", Args: []string{"list"}}
)

// readDarwin reads launchd's jobs and the Screen Sharing and Remote
// Management settings; listServices says exactly what.
func readDarwin(ctx context.Context, h *host.Host) ([]*fwv1.Service, error) {
	var errs []error
	// Each command is optional: without it the plists still say most.
	var overrides map[string]bool
	if out, err := h.Run(ctx, printDisabledCmd); err == nil {
		overrides = parsePrintDisabled(out)
	} else if !unknown(err) {
		errs = append(errs, fmt.Errorf("launchd overrides: %w", err))
	}
	var pids map[string]int
	if out, err := h.Run(ctx, launchctlListCmd); err == nil {
		pids = parseLaunchctlList(out)
	} else if !unknown(err) {
		errs = append(errs, fmt.Errorf("launchd jobs: %w", err))
	}

	var out []*fwv1.Service
	read := func(p string, daemon bool, owner string) *fwv1.Service {
		b, err := h.ReadFile(p)
		if err != nil {
			if !missing(err) {
				errs = append(errs, fmt.Errorf("read %s: %w", p, err))
			}
			return nil
		}
		job, err := parseLaunchdPlist(b)
		if err != nil {
			errs = append(errs, fmt.Errorf("parse %s: %w", p, err))
			return nil
		}
		s := launchdService(job, p, daemon, owner, overrides, pids)
		out = append(out, s)
		return s
	}
	for _, d := range launchdDirs {
		if err := ctx.Err(); err != nil {
			return out, errors.Join(append(errs, err)...)
		}
		paths, err := h.Glob(d.glob)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		for _, p := range paths {
			owner := ""
			if rest, ok := strings.CutPrefix(p, "/Users/"); ok {
				owner, _, _ = strings.Cut(rest, "/")
			}
			read(p, d.daemon, owner)
		}
	}
	ss := read(screenSharingPlist, true, "")

	// Screen Sharing is on when its daemon is enabled: by the override when
	// there is one, else by the plist, which ships disabled. Without the
	// overrides the setting is unknown and is not reported.
	if overrides != nil {
		on := ss != nil && ss.Enabled
		if d, ok := overrides[screenSharingLabel]; ok {
			on = !d
		}
		s := &fwv1.Service{Name: "screensharing", DisplayName: "Screen Sharing", Manager: "setting", Enabled: on, Path: screenSharingPlist}
		if ss != nil {
			s.State = ss.State // it runs only while someone is connected
		}
		out = append(out, s)
	}
	out = append(out, remoteManagement(h, &errs))
	return out, errors.Join(errs...)
}

// remoteManagement is the Remote Management setting: on while ARDAgent's
// flag file holds "enabled"; ARDAgent removes the file when it is turned off.
func remoteManagement(h *host.Host, errs *[]error) *fwv1.Service {
	s := &fwv1.Service{Name: "remote-management", DisplayName: "Remote Management", Manager: "setting", Path: remoteManagementFlags[0]}
	for _, p := range remoteManagementFlags {
		b, err := h.ReadFile(p)
		if err != nil {
			if !missing(err) {
				*errs = append(*errs, fmt.Errorf("read %s: %w", p, err))
			}
			continue
		}
		s.Path, s.Enabled = p, strings.TrimSpace(string(b)) == "enabled"
		break
	}
	return s
}

// launchdJob is what the agent takes from a launchd.plist(5).
type launchdJob struct {
	Label            string
	Program          string
	ProgramArguments []string
	UserName         string
	Disabled         bool
	RunAtLoad        bool
	KeepAlive        bool // true, or conditions (a dictionary), under which launchd keeps it running
	OnDemand         bool // it has a trigger that starts it: MachServices, Sockets, a timer, paths, events
}

// parseLaunchdPlist parses a launchd job plist in any plist encoding (XML,
// binary, OpenStep). A key of the wrong type is ignored, as if absent.
func parseLaunchdPlist(b []byte) (launchdJob, error) {
	var m map[string]any
	if _, err := plist.Unmarshal(b, &m); err != nil {
		return launchdJob{}, err
	}
	if m == nil {
		return launchdJob{}, errors.New("not a dictionary")
	}
	j := launchdJob{
		Label:            plistString(m["Label"]),
		Program:          plistString(m["Program"]),
		ProgramArguments: plistStrings(m["ProgramArguments"]),
		UserName:         plistString(m["UserName"]),
		Disabled:         plistBool(m["Disabled"]),
		RunAtLoad:        plistBool(m["RunAtLoad"]),
	}
	switch v := m["KeepAlive"].(type) {
	case bool:
		j.KeepAlive = v
	case map[string]any:
		j.KeepAlive = len(v) > 0
	}
	for _, k := range []string{"MachServices", "Sockets", "StartInterval", "StartCalendarInterval",
		"WatchPaths", "QueueDirectories", "StartOnMount", "LaunchEvents"} {
		if plistSet(m[k]) {
			j.OnDemand = true
		}
	}
	return j, nil
}

func plistString(v any) string {
	s, _ := v.(string)
	return s
}

func plistBool(v any) bool {
	b, _ := v.(bool)
	return b
}

func plistStrings(v any) []string {
	a, ok := v.([]any)
	if !ok {
		return nil
	}
	out := make([]string, 0, len(a))
	for _, e := range a {
		if s, ok := e.(string); ok {
			out = append(out, s)
		}
	}
	return out
}

// plistSet reports whether a trigger key is present and not empty, zero or false.
func plistSet(v any) bool {
	switch v := v.(type) {
	case nil:
		return false
	case bool:
		return v
	case uint64:
		return v > 0
	case int64:
		return v > 0
	case []any:
		return len(v) > 0
	case map[string]any:
		return len(v) > 0
	case string:
		return v != ""
	default:
		return true
	}
}

// launchdService makes the observation of one job. overrides (label →
// disabled) apply to the system domain's jobs; pids (label → pid, 0 when
// loaded but not running) give the state of the jobs listed there.
func launchdService(j launchdJob, file string, daemon bool, owner string, overrides map[string]bool, pids map[string]int) *fwv1.Service {
	s := &fwv1.Service{Name: cmp.Or(j.Label, strings.TrimSuffix(path.Base(file), ".plist")), Manager: "launchd", Path: file}
	s.Exe = j.Program
	if s.Exe == "" && len(j.ProgramArguments) > 0 {
		s.Exe = j.ProgramArguments[0]
	}
	s.Command = cmp.Or(strings.Join(j.ProgramArguments, " "), j.Program)
	switch {
	case !daemon:
		s.Username = owner // an agent runs as the user logged in; "" is every user
	case j.UserName != "":
		s.Username = j.UserName
	default:
		s.Username = "root"
	}
	disabled := j.Disabled
	if d, ok := overrides[s.Name]; ok && daemon {
		disabled = d
	}
	switch {
	case disabled:
		s.StartMode = "disabled"
	case j.KeepAlive:
		s.StartMode, s.Enabled = "keep-alive", true
	case j.RunAtLoad:
		s.StartMode, s.Enabled = "run-at-load", true
	case j.OnDemand:
		s.StartMode, s.Enabled = "on-demand", true
	default:
		s.StartMode = "manual"
	}
	if pid, ok := pids[s.Name]; ok {
		s.State = "stopped"
		if pid > 0 {
			s.State = "running"
		}
	}
	return s
}

// parsePrintDisabled parses the output of `launchctl print-disabled
// <domain>` into label → disabled. The output is blocks of quoted labels:
//
//	disabled services = {
//		"com.apple.screensharing" => disabled
//		"com.openssh.sshd" => enabled
//	}
//	login item associations = {
//		"com.docker.helper" => "com.docker.docker"
//	}
//
// macOS 13 (Ventura) and later print "enabled" or "disabled"; earlier
// releases print "false" (enabled) or "true" (disabled). Only the
// "disabled services" block (or entries outside any block) count; a label
// that is not listed has no override, and its plist's Disabled key decides.
func parsePrintDisabled(b []byte) map[string]bool {
	out := map[string]bool{}
	block := ""
	for _, line := range strings.Split(string(b), "\n") {
		t := strings.TrimSpace(line)
		if name, ok := strings.CutSuffix(t, "= {"); ok {
			block = strings.TrimSpace(name)
			continue
		}
		if t == "}" {
			block = ""
			continue
		}
		if block != "" && block != "disabled services" {
			continue
		}
		i := strings.LastIndex(t, "=>")
		if i < 0 {
			continue
		}
		label, val := strings.TrimSpace(t[:i]), strings.TrimSpace(t[i+2:])
		if len(label) < 3 || label[0] != '"' || label[len(label)-1] != '"' {
			continue
		}
		label = label[1 : len(label)-1]
		switch val {
		case "disabled", "true":
			out[label] = true
		case "enabled", "false":
			out[label] = false
		}
	}
	return out
}

// parseLaunchctlList parses the output of `launchctl list`: a header line
// "PID\tStatus\tLabel", then one job a line, its pid "-" when it is loaded
// but not running. It returns label → pid, 0 for "-".
func parseLaunchctlList(b []byte) map[string]int {
	out := map[string]int{}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 3 {
			continue
		}
		label := strings.Join(f[2:], " ")
		if f[0] == "-" {
			out[label] = 0
			continue
		}
		pid, err := strconv.Atoi(f[0])
		if err != nil || pid < 0 {
			continue // the header, or not a job line
		}
		out[label] = pid
	}
	return out
}
