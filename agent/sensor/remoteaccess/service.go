package remoteaccess

import (
	"context"
	"errors"
	"sort"

	"github.com/farmwatch/farmwatch/agent/host"
	"github.com/farmwatch/farmwatch/agent/sensor"
	fwv1 "github.com/farmwatch/farmwatch/proto/farmwatch/v1"
)

// listServices returns the host's services and its built-in remote-access
// settings, one per ServiceKey, sorted by key. The parser is chosen by the
// host's OS at run time, so a snapshot of any OS can be scanned anywhere.
// What it reads, exactly:
//
// linux (systemd, manager "systemd"): no command is run.
//   - The unit directories, listed with ReadDir, in systemd's priority order:
//     /run/systemd/transient, /run/systemd/generator.early, /etc/systemd/system,
//     /run/systemd/system, /run/systemd/generator, /usr/local/lib/systemd/system,
//     /usr/lib/systemd/system, /lib/systemd/system (skipped when /lib is a
//     link to usr/lib: the /lib link is read), /run/systemd/generator.late; for
//     user units /etc/systemd/user, /run/systemd/user,
//     /usr/local/lib/systemd/user, /usr/lib/systemd/user, /lib/systemd/user,
//     and for each home /home/*/.config/systemd/user, /root/.config/systemd/user
//     and the matching .local/share/systemd/user.
//   - Every link in their *.wants/, *.requires/ and *.upholds/ directories,
//     with Readlink: a unit linked there is enabled.
//   - The /run/systemd/units/invocation:<unit> links of services and
//     sockets, with Readlink: systemd keeps one for each active unit of the
//     system manager (user managers keep none, so user units have no state).
//   - Only for units that are enabled or active: the unit file (its template
//     unit@.service for an instance), the link that masks it (to /dev/null),
//     and its drop-ins (<unit>.d/, <template>.d/, prefix and type drop-in
//     directories) *.conf. Description=, ExecStart= and User= are used.
//
// darwin (launchd, manager "launchd"):
//   - /Library/LaunchDaemons/*.plist, /Library/LaunchAgents/*.plist,
//     /Users/*/Library/LaunchAgents/*.plist, the jobs that apps register
//     with SMAppService (macOS 13 and later), which stay inside the bundle:
//     /Applications/*.app, /Applications/*/*.app and /Users/*/Applications/*.app
//     Contents/Library/LaunchDaemons/*.plist and Contents/Library/LaunchAgents/*.plist,
//     and, of the system's own jobs, only
//     /System/Library/LaunchDaemons/com.apple.screensharing.plist (XML or
//     binary): Label, Program, ProgramArguments, BundleProgram (relative to
//     the bundle), UserName, Disabled, RunAtLoad, KeepAlive and the demand
//     triggers (MachServices, Sockets, StartInterval, StartCalendarInterval,
//     WatchPaths, QueueDirectories, StartOnMount, LaunchEvents). A bundled
//     job is enabled only when launchd lists it (the app registered it).
//   - `/bin/launchctl print-disabled system` (else
//     /var/db/com.apple.xpc.launchd/disabled.plist): the enable/disable
//     overrides of the system domain, which win over a daemon's Disabled key.
//   - `/bin/launchctl list`: the pid of each job of the system domain (the
//     agent runs as root), for the running state.
//   - The local users (uid 500 and up: /var/db/dslocal/nodes/Default/users/*.plist,
//     and the uids of /var/db/com.apple.xpc.launchd/disabled.UID.plist): for
//     each, `/bin/launchctl print gui/UID` (the services of the user's gui
//     domain with their pids; it fails for a user who is not logged in) and
//     disabled.UID.plist (the user's overrides). A user's own LaunchAgents
//     take that user's; the agents every user runs take the union: running
//     when running for anyone, disabled when every user who overrides it
//     disabled it.
//   - Settings (manager "setting"): "screensharing" from the override of
//     com.apple.screensharing (else that plist's Disabled key), and
//     "remote-management" from /Library/Application Support/Apple/Remote
//     Desktop/RemoteManagement.launchd (macOS 10.11 and later) or
//     /etc/RemoteManagement.launchd (earlier), which ARDAgent writes holding
//     "enabled" while Remote Management is on.
//
// windows (service control manager, manager "scm"):
//   - api/services.json: every Win32 service from EnumServicesStatusEx, with
//     QueryServiceConfig and the delayed-start and trigger configuration of
//     each (API.md). Services that run, or start on their own (boot, system
//     and automatic start, or manual start with a trigger), are reported.
//   - api/rdp.json: fDenyTSConnections under
//     HKLM\SYSTEM\CurrentControlSet\Control\Terminal Server and under the
//     policy key HKLM\SOFTWARE\Policies\Microsoft\Windows NT\Terminal Services
//     → setting "rdp".
//
// A source that one part needs but cannot read fails only that part: the
// others are returned with the joined error. An optional command or API call
// that a snapshot does not hold (host.ErrNotRecorded), or that a --root tree
// cannot answer (host.ErrNotLive), leaves what it would have said unknown
// and is not an error.
func listServices(ctx context.Context, h *host.Host) ([]*fwv1.Service, error) {
	svcs, err := sensor.ByOS[[]*fwv1.Service]{Linux: readLinux, Darwin: readDarwin, Windows: readWindows}.Read(ctx, h)
	return uniqueServices(svcs), err
}

// uniqueServices keeps one service per key, sorted by key. When two share a
// key (a system and a user unit of one name, or one user unit enabled by two
// people), the first is kept and is enabled or running when either is.
func uniqueServices(svcs []*fwv1.Service) []*fwv1.Service {
	byKey := make(map[string]*fwv1.Service, len(svcs))
	out := make([]*fwv1.Service, 0, len(svcs))
	for _, s := range svcs {
		k := ServiceKey(s)
		first, dup := byKey[k]
		if !dup {
			byKey[k] = s
			out = append(out, s)
			continue
		}
		first.Enabled = first.Enabled || s.Enabled
		if s.State == "running" || first.State == "" {
			first.State = s.State
		}
	}
	sort.Slice(out, func(i, j int) bool { return ServiceKey(out[i]) < ServiceKey(out[j]) })
	return out
}

// unknown reports whether err says only that an optional source is not
// available on this host: a snapshot that did not record it, or a --root
// tree, where commands and OS APIs cannot run.
func unknown(err error) bool {
	return errors.Is(err, host.ErrNotRecorded) || errors.Is(err, host.ErrNotLive)
}
