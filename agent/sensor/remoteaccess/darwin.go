package remoteaccess

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"path"
	"sort"
	"strconv"
	"strings"

	"github.com/farmwatch/farmwatch/agent/host"
	fwv1 "github.com/farmwatch/farmwatch/proto/farmwatch/v1"
	"howett.net/plist"
)

// launchdDirs are the launchd job directories read, by glob. Apple's own
// jobs in /System/Library are not read, except Screen Sharing's. Jobs that
// an app registers with SMAppService (macOS 13 and later) keep their plist
// inside the app bundle, in Contents/Library/LaunchDaemons or
// Contents/Library/LaunchAgents.
var launchdDirs = []struct {
	glob   string
	daemon bool // a job of the system domain (runs as root unless UserName says otherwise)
	bundle bool // inside an app bundle: loaded only once the app registered it
}{
	{"/Library/LaunchDaemons/*.plist", true, false},
	{"/Library/LaunchAgents/*.plist", false, false},
	{"/Users/*/Library/LaunchAgents/*.plist", false, false},
	{"/Applications/*.app/Contents/Library/LaunchDaemons/*.plist", true, true},
	{"/Applications/*.app/Contents/Library/LaunchAgents/*.plist", false, true},
	{"/Applications/*/*.app/Contents/Library/LaunchDaemons/*.plist", true, true},
	{"/Applications/*/*.app/Contents/Library/LaunchAgents/*.plist", false, true},
	{"/Users/*/Applications/*.app/Contents/Library/LaunchDaemons/*.plist", true, true},
	{"/Users/*/Applications/*.app/Contents/Library/LaunchAgents/*.plist", false, true},
}

const (
	// launchdDB holds launchd's override files: disabled.plist for the
	// system domain, disabled.UID.plist for each user's domains.
	launchdDB = "/var/db/com.apple.xpc.launchd"
	// dslocalUsers holds the local user records (name, uid, home).
	dslocalUsers = "/var/db/dslocal/nodes/Default/users"
	// maxUsers bounds the per-user domains asked for.
	maxUsers = 64
)

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
//
// `launchctl list`, run as root, shows only the system domain. Each
// user's LaunchAgents run in that user's gui domain: for every local user
// (the dslocal user records, and the disabled.UID.plist files launchd
// keeps for each user who logged in) the sensor asks `launchctl print
// gui/UID` (which fails for a user who is not logged in: no error) and
// reads the user's overrides from /var/db/com.apple.xpc.launchd/disabled.UID.plist,
// completed by the "disabled services" block of that print.
func readDarwin(ctx context.Context, h *host.Host) ([]*fwv1.Service, error) {
	var errs []error
	// Each command is optional: without it the plists still say most.
	var overrides map[string]bool
	if out, err := h.Run(ctx, printDisabledCmd); err == nil {
		overrides = parsePrintDisabled(out)
	} else if !unknown(err) {
		errs = append(errs, fmt.Errorf("launchd overrides: %w", err))
	}
	if overrides == nil {
		if m, err := readOverrides(h, launchdDB+"/disabled.plist"); err == nil {
			overrides = m
		}
	}
	var pids map[string]int
	if out, err := h.Run(ctx, launchctlListCmd); err == nil {
		pids = parseLaunchctlList(out)
	} else if !unknown(err) {
		errs = append(errs, fmt.Errorf("launchd jobs: %w", err))
	}

	users := darwinUsers(h)
	byHome := map[string]*darwinUser{}
	// The union over the users, for the agents every user runs
	// (/Library/LaunchAgents, app bundles): running when it runs for
	// someone; disabled when every user who overrides it disabled it.
	var guiPids, guiOverrides map[string]int
	for _, u := range users {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if m, err := readOverrides(h, fmt.Sprintf("%s/disabled.%d.plist", launchdDB, u.UID)); err == nil {
			u.Overrides = m
		} else if !missing(err) && !unknown(err) {
			errs = append(errs, err)
		}
		if out, err := h.Run(ctx, host.Command{Name: "launchctl", Args: []string{"print", fmt.Sprintf("gui/%d", u.UID)}}); err == nil {
			u.Pids = parseLaunchctlPrint(out)
			// The domain's own "disabled services" block holds the
			// overrides launchd applies: it fills in what
			// disabled.UID.plist (unreadable, or not yet written) lacks.
			for label, d := range parsePrintDisabled(out) {
				if _, ok := u.Overrides[label]; !ok {
					if u.Overrides == nil {
						u.Overrides = map[string]bool{}
					}
					u.Overrides[label] = d
				}
			}
		}
		if u.Home != "" {
			byHome[u.Home] = u
		}
		if u.Pids != nil {
			guiPids = mergePids(guiPids, u.Pids)
		}
		for label, d := range u.Overrides {
			if guiOverrides == nil {
				guiOverrides = map[string]int{}
			}
			if d {
				guiOverrides[label] |= 1
			} else {
				guiOverrides[label] |= 2
			}
		}
	}
	allUsersOverrides := map[string]bool{}
	for label, v := range guiOverrides {
		allUsersOverrides[label] = v == 1 // disabled by every user who says
	}

	var out []*fwv1.Service
	read := func(p string, daemon, bundle bool, owner string) *fwv1.Service {
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
		ov, pd := overrides, pids
		if !daemon {
			ov, pd = allUsersOverrides, guiPids
			if u := byHome["/Users/"+owner]; owner != "" && u != nil {
				ov, pd = u.Overrides, u.Pids
			}
		}
		s := launchdService(job, p, daemon, owner, ov, pd)
		if bundle {
			bundleJob(s, job, p, pd)
		}
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
			read(p, d.daemon, d.bundle, owner)
		}
	}
	ss := read(screenSharingPlist, true, false, "")

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

// darwinUser is a local user whose launchd domains are read.
type darwinUser struct {
	Name      string
	UID       int
	Home      string
	Overrides map[string]bool // disabled.UID.plist: label -> disabled
	Pids      map[string]int  // launchctl print gui/UID: label -> pid, 0 when not running
}

// darwinUsers lists the local users (uid 500 and up, as macOS numbers
// people) from their dslocal records, and the uids of the override files
// launchd keeps, sorted by uid.
func darwinUsers(h *host.Host) []*darwinUser {
	byUID := map[int]*darwinUser{}
	if paths, err := h.Glob(dslocalUsers + "/*.plist"); err == nil {
		for _, p := range paths {
			b, err := h.ReadFile(p)
			if err != nil {
				continue
			}
			if u, ok := parseDslocalUser(b); ok && byUID[u.UID] == nil {
				byUID[u.UID] = u
			}
		}
	}
	if paths, err := h.Glob(launchdDB + "/disabled.*.plist"); err == nil {
		for _, p := range paths {
			n := strings.TrimSuffix(strings.TrimPrefix(path.Base(p), "disabled."), ".plist")
			if uid, err := strconv.Atoi(n); err == nil && uid >= 500 && uid < 1<<31 && byUID[uid] == nil {
				byUID[uid] = &darwinUser{UID: uid}
			}
		}
	}
	out := make([]*darwinUser, 0, len(byUID))
	for _, u := range byUID {
		out = append(out, u)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].UID < out[j].UID })
	if len(out) > maxUsers {
		out = out[:maxUsers]
	}
	return out
}

// parseDslocalUser reads a dslocal user record (a plist of arrays of
// strings: name, uid, home); only people (uid 500 and up) count.
func parseDslocalUser(b []byte) (*darwinUser, bool) {
	var m map[string]any
	if _, err := plist.Unmarshal(b, &m); err != nil || m == nil {
		return nil, false
	}
	first := func(k string) string {
		if a := plistStrings(m[k]); len(a) > 0 {
			return a[0]
		}
		return plistString(m[k])
	}
	uid, err := strconv.Atoi(first("uid"))
	if err != nil || uid < 500 || uid >= 1<<31 {
		return nil, false
	}
	return &darwinUser{Name: first("name"), UID: uid, Home: first("home")}, true
}

// readOverrides reads one of launchd's override files (disabled.plist,
// disabled.UID.plist): a dictionary of label to a boolean, true for
// disabled.
func readOverrides(h *host.Host, p string) (map[string]bool, error) {
	b, err := h.ReadFile(p)
	if err != nil {
		return nil, err
	}
	return parseOverrides(b)
}

// parseOverrides parses an override file; a value that is not a boolean
// is left out.
func parseOverrides(b []byte) (map[string]bool, error) {
	var m map[string]any
	if _, err := plist.Unmarshal(b, &m); err != nil {
		return nil, err
	}
	out := make(map[string]bool, len(m))
	for k, v := range m {
		if d, ok := v.(bool); ok && k != "" {
			out[k] = d
		}
	}
	return out, nil
}

// mergePids adds a domain's jobs to a union: a job runs when it runs in
// any domain.
func mergePids(into, from map[string]int) map[string]int {
	if into == nil {
		into = map[string]int{}
	}
	for k, v := range from {
		if old, ok := into[k]; !ok || v > old {
			into[k] = v
		}
	}
	return into
}

// bundleJob completes the observation of a job whose plist is inside an
// app bundle: its executable is BundleProgram, relative to the bundle;
// and it is loaded only once the app registered it with SMAppService, so
// it is enabled only when launchd lists it (and "not registered" when the
// listing says it is not there, "bundled" when there is no listing).
func bundleJob(s *fwv1.Service, j launchdJob, file string, pids map[string]int) {
	bundle := file
	if i := strings.Index(file, ".app/Contents/Library/"); i >= 0 {
		bundle = file[:i+len(".app")]
	}
	if j.BundleProgram != "" && j.Program == "" {
		s.Exe = path.Join(bundle, path.Clean("/"+j.BundleProgram))
		if len(j.ProgramArguments) == 0 {
			s.Command = s.Exe
		}
	}
	if _, loaded := pids[s.Name]; loaded {
		return
	}
	s.Enabled = false
	if pids == nil {
		s.StartMode = "bundled"
	} else {
		s.StartMode = "not registered"
	}
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
	BundleProgram    string // SMAppService jobs: the program, relative to the app bundle
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
		BundleProgram:    plistString(m["BundleProgram"]),
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
	if d, ok := overrides[s.Name]; ok {
		disabled = d // the caller gives the overrides of the job's domain
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
