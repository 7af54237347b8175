// Package servicedef is what each service manager is told about the agent:
// the systemd unit, the launchd property list and the Windows recovery
// actions. The packages (installer/linuxpkg, installer/macpkg,
// installer/msi) and `farmwatch-agent install` render them from here, so
// that an agent installed either way runs, is confined and is restarted
// alike. It holds text and numbers only, and the agent may link it.
//
// A dead agent never stays dead:
//   - systemd: Restart=always, 5 s at first, backing off to 5 min
//     (RestartSteps and RestartMaxDelaySec, systemd 254 and later; older
//     versions ignore the two keys with a warning and restart every 5 s),
//     and no start limit;
//   - launchd: KeepAlive and RunAtLoad, relaunched at most every 10 s
//     (ThrottleInterval);
//   - Windows: the recovery actions restart the service after 5 s, 30 s,
//     then every 60 s, with the count reset after a day without failure, and
//     they apply when the service stops itself with an error as well as when
//     the process dies (the failure actions flag).
package servicedef

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"path"
	"strings"
	"text/template"
	"time"
)

// Name is the service's name for every manager: the systemd unit
// farmwatch-agent.service, the launchd label and the Windows service.
const Name = "farmwatch-agent"

// Daemon is the resident agent's executable, which the service manager
// runs (agent/daemon): farmwatch-agentd, or farmwatch-agentd.exe. The
// agent's command, farmwatch-agent, installs it and scans; the service
// links nothing of the install.
const Daemon = "farmwatch-agentd"

// Paths is where an installed agent lives.
type Paths struct {
	Binary string // the agent's command, farmwatch-agent
	Daemon string // the service's executable, farmwatch-agentd
	Config string // its agent.yaml
	State  string // its state directory
	Log    string // launchd only: where its standard output and error go
}

// Linux, Darwin and Windows are the packages' paths.
var (
	Linux   = Paths{Binary: "/usr/bin/farmwatch-agent", Daemon: "/usr/sbin/farmwatch-agentd", Config: "/etc/farmwatch/agent.yaml", State: "/var/lib/farmwatch"}
	Darwin  = Paths{Binary: "/usr/local/bin/farmwatch-agent", Daemon: "/usr/local/bin/farmwatch-agentd", Config: "/Library/Application Support/farmwatch/agent.yaml", State: "/Library/Application Support/farmwatch/state", Log: "/Library/Logs/farmwatch-agent.log"}
	Windows = Paths{Binary: `C:\Program Files\farmwatch\farmwatch-agent.exe`, Daemon: `C:\Program Files\farmwatch\farmwatch-agentd.exe`, Config: `C:\ProgramData\farmwatch\agent.yaml`, State: `C:\ProgramData\farmwatch\state`}
)

// Args are the daemon's arguments under a service manager.
func Args(config string) []string { return []string{"run", "--config", config} }

// Capabilities are all the root privileges the agent keeps under systemd:
// reading every /proc/<pid>/exe and /proc/<pid>/cmdline of other users'
// processes needs CAP_SYS_PTRACE (ptrace read access, not tracing), and
// reading files that are not root's (input-method settings under /home)
// needs CAP_DAC_READ_SEARCH. /sys, /proc/net and /dev/bus/usb are readable
// by root without more.
var Capabilities = []string{"CAP_DAC_READ_SEARCH", "CAP_SYS_PTRACE"}

// Windows recovery: restart after each delay in turn (the service control
// manager repeats the last for every later failure), and forget the
// failures after WindowsResetPeriod without one.
var (
	WindowsRestartDelays = []time.Duration{5 * time.Second, 30 * time.Second, 60 * time.Second}
	WindowsResetPeriod   = 24 * time.Hour
)

// SystemdUnit is the agent's systemd unit; it runs p.Daemon.
func SystemdUnit(p Paths) (string, error) {
	for _, s := range []string{p.Daemon, p.Config, p.State} {
		if !path.IsAbs(s) || strings.ContainsAny(s, " \t\n\"'\\%$;") {
			return "", fmt.Errorf("systemd unit: path %q must be absolute, without spaces, quotes, %%, $ or ;", s)
		}
	}
	stateDir := ""
	if rest, ok := strings.CutPrefix(path.Clean(p.State), "/var/lib/"); ok && rest != "" {
		stateDir = rest
	}
	var b bytes.Buffer
	err := unitTemplate.Execute(&b, map[string]any{
		"Exec": strings.Join(append([]string{p.Daemon}, Args(p.Config)...), " "), "State": path.Clean(p.State),
		"StateDirectory": stateDir, "Caps": strings.Join(Capabilities, " "),
	})
	return b.String(), err
}

var unitTemplate = template.Must(template.New("unit").Parse(`[Unit]
Description=farmwatch agent: reports signs that this computer is controlled from elsewhere
After=network-online.target
Wants=network-online.target
# Never give up restarting.
StartLimitIntervalSec=0

[Service]
Type=simple
ExecStart={{.Exec}}
Restart=always
RestartSec=5s
RestartSteps=10
RestartMaxDelaySec=5min
TimeoutStopSec=20s
{{- if .StateDirectory}}
StateDirectory={{.StateDirectory}}
StateDirectoryMode=0700
{{- end}}
UMask=0077

# Confinement: a read-only system with the state directory writable, and
# only the capabilities a full scan needs.
ProtectSystem=strict
ReadWritePaths={{.State}}
ProtectHome=read-only
PrivateTmp=yes
NoNewPrivileges=yes
CapabilityBoundingSet={{.Caps}}
ProtectKernelTunables=yes
ProtectKernelModules=yes
ProtectKernelLogs=yes
ProtectControlGroups=yes
ProtectClock=yes
ProtectHostname=yes
RestrictNamespaces=yes
RestrictRealtime=yes
RestrictSUIDSGID=yes
LockPersonality=yes
MemoryDenyWriteExecute=yes
SystemCallArchitectures=native
SystemCallFilter=@system-service
SystemCallErrorNumber=EPERM
RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6 AF_NETLINK

[Install]
WantedBy=multi-user.target
`))

// LaunchdPlist is the agent's LaunchDaemon property list; it runs
// p.Daemon.
func LaunchdPlist(p Paths) (string, error) {
	if p.Daemon == "" || p.Config == "" {
		return "", fmt.Errorf("launchd plist: want the daemon's and the config's paths")
	}
	var b bytes.Buffer
	err := plistTemplate.Execute(&b, map[string]any{"Label": Name, "Args": append([]string{p.Daemon}, Args(p.Config)...), "Log": p.Log})
	return b.String(), err
}

var plistTemplate = template.Must(template.New("plist").Funcs(template.FuncMap{"x": xmlEscape}).Parse(`<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
<plist version="1.0">
<dict>
	<key>Label</key>
	<string>{{x .Label}}</string>
	<key>ProgramArguments</key>
	<array>
{{- range .Args}}
		<string>{{x .}}</string>
{{- end}}
	</array>
	<key>RunAtLoad</key>
	<true/>
	<key>KeepAlive</key>
	<true/>
	<key>ThrottleInterval</key>
	<integer>10</integer>
	<key>Umask</key>
	<integer>63</integer>
{{- if .Log}}
	<key>StandardOutPath</key>
	<string>{{x .Log}}</string>
	<key>StandardErrorPath</key>
	<string>{{x .Log}}</string>
{{- end}}
</dict>
</plist>
`))

func xmlEscape(s string) string {
	var b bytes.Buffer
	_ = xml.EscapeText(&b, []byte(s)) // writing to a bytes.Buffer does not fail
	return b.String()
}
