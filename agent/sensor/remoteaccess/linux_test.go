package remoteaccess

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/farmwatch/farmwatch/agent/host"
	fwv1 "github.com/farmwatch/farmwatch/proto/farmwatch/v1"
	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/testing/protocmp"
)

// Unit files shaped on the ones their packages ship.
const (
	crdTemplateUnit = `[Unit]
Description=Chrome Remote Desktop instance for %i
After=network.target

[Service]
Type=simple
User=%i
Environment=XDG_SESSION_CLASS=user XDG_SESSION_TYPE=x11
PAMName=chrome-remote-desktop
TTYPath=/dev/%i-crd
ExecStart=/opt/google/chrome-remote-desktop/chrome-remote-desktop --start --new-session
ExecReload=/opt/google/chrome-remote-desktop/chrome-remote-desktop --reload
ExecStop=/opt/google/chrome-remote-desktop/chrome-remote-desktop --stop
StandardOutput=journal
StandardError=inherit
RestartForceExitStatus=41

[Install]
WantedBy=multi-user.target
`
	teamviewerdUnit = `[Unit]
Description=TeamViewer remote control daemon
Wants=NetworkManager-wait-online.service
After=network.target network-online.target dbus.service
Requires=dbus.service

[Service]
Type=forking
PIDFile=/run/teamviewerd.pid
ExecStart=/opt/teamviewer/tv_bin/teamviewerd -d
Restart=on-abort
StartLimitInterval=60
StartLimitBurst=10

[Install]
WantedBy=multi-user.target
`
	rustdeskUnit = `[Unit]
Description=RustDesk
Requires=network.target
After=systemd-user-sessions.service

[Service]
Type=simple
ExecStart=/usr/bin/rustdesk --service
ExecStop=/usr/bin/pkill -f "rustdesk --"
PIDFile=/run/rustdesk.pid
KillMode=mixed
TimeoutStopSec=30
User=root
LimitNOFILE=100000

[Install]
WantedBy=multi-user.target
`
	// A drop-in that replaces the command, as `systemctl edit` writes one.
	rustdeskDropin = `# Managed by the fleet tool
[Unit]
BindsTo=fleet.service

[Service]
ExecStart=
ExecStart=/opt/rustdesk/rustdesk --service --fleet
User=rd
`
	// Continuations, comments inside them, CRLF line ends and a line that
	// ends in an escaped backslash.
	continuedUnit = "[Unit]\r\n" +
		"Description=x11vnc \\\r\n" +
		"  on display :0\r\n" +
		"\r\n" +
		"[Service]\r\n" +
		"# the server\r\n" +
		"; also a comment\r\n" +
		"ExecStart=/usr/bin/x11vnc \\\r\n" +
		"    -display :0 \\\r\n" +
		"# a comment inside a continuation is skipped\r\n" +
		"    -forever -shared\r\n" +
		"ExecStartPost=/bin/echo done\\\\\r\n" +
		"this line is not an assignment\r\n" +
		"=no key\r\n"
	journaldUnit = `#  SPDX-License-Identifier: LGPL-2.1-or-later
[Unit]
Description=Journal Service
Documentation=man:systemd-journald.service(8) man:journald.conf(5)
DefaultDependencies=no

[Service]
DeviceAllow=char-* rw
ExecStart=/lib/systemd/systemd-journald
FileDescriptorStoreMax=4224
Restart=always
`
	journaldSocket = `[Unit]
Description=Journal Socket
DefaultDependencies=no

[Socket]
ListenStream=/run/systemd/journal/stdout
ListenDatagram=/run/systemd/journal/socket
`
	sshUnit = `[Unit]
Description=OpenBSD Secure Shell server
Documentation=man:sshd(8) man:sshd_config(5)
After=network.target auditd.service
ConditionPathExists=!/etc/ssh/sshd_not_to_be_run

[Service]
EnvironmentFile=-/etc/default/ssh
ExecStartPre=/usr/sbin/sshd -t
ExecStart=/usr/sbin/sshd -D $SSHD_OPTS
ExecReload=/usr/sbin/sshd -t
ExecReload=/bin/kill -HUP $MAINPID
KillMode=process
Restart=on-failure
RuntimeDirectory=sshd
RuntimeDirectoryMode=0755

[Install]
WantedBy=multi-user.target
Alias=sshd.service
`
	// A unit that systemd-run wrote: @, the path, then the quoted argv.
	transientUnit = `# This is a transient unit file, created programmatically via the systemd API. Do not edit.
[Unit]
Description=[systemd-run] /usr/bin/sleep 100

[Service]
ExecStart=@/usr/bin/sleep "/usr/bin/sleep" "100"
`
	x11vncUserUnit = `[Unit]
Description=x11vnc for the desktop

[Service]
ExecStart=/usr/bin/x11vnc -display :0 -forever -rfbauth %h/.vnc/passwd
Restart=on-failure

[Install]
WantedBy=default.target
`
	pipewireSocket = `[Unit]
Description=PipeWire Multimedia System Sockets

[Socket]
Priority=6
ListenStream=%t/pipewire-0
ListenStream=%t/pipewire-0-manager

[Install]
WantedBy=sockets.target
`
)

var parseUnitTests = []struct {
	name string
	in   string
	want []unitSetting
}{
	{"empty", "", nil},
	{"template", crdTemplateUnit, []unitSetting{
		{"Unit", "Description", "Chrome Remote Desktop instance for %i"},
		{"Unit", "After", "network.target"},
		{"Service", "Type", "simple"},
		{"Service", "User", "%i"},
		{"Service", "Environment", "XDG_SESSION_CLASS=user XDG_SESSION_TYPE=x11"},
		{"Service", "PAMName", "chrome-remote-desktop"},
		{"Service", "TTYPath", "/dev/%i-crd"},
		{"Service", "ExecStart", "/opt/google/chrome-remote-desktop/chrome-remote-desktop --start --new-session"},
		{"Service", "ExecReload", "/opt/google/chrome-remote-desktop/chrome-remote-desktop --reload"},
		{"Service", "ExecStop", "/opt/google/chrome-remote-desktop/chrome-remote-desktop --stop"},
		{"Service", "StandardOutput", "journal"},
		{"Service", "StandardError", "inherit"},
		{"Service", "RestartForceExitStatus", "41"},
		{"Install", "WantedBy", "multi-user.target"},
	}},
	{"drop-in", rustdeskDropin, []unitSetting{
		{"Unit", "BindsTo", "fleet.service"},
		{"Service", "ExecStart", ""},
		{"Service", "ExecStart", "/opt/rustdesk/rustdesk --service --fleet"},
		{"Service", "User", "rd"},
	}},
	{"continuations", continuedUnit, []unitSetting{
		{"Unit", "Description", "x11vnc  on display :0"},
		{"Service", "ExecStart", "/usr/bin/x11vnc  -display :0  -forever -shared"},
		{"Service", "ExecStartPost", `/bin/echo done\\`},
	}},
	{"spaces around =", "[Service]\n  ExecStart = /usr/bin/a b  \n\tUser=\tnobody\n", []unitSetting{
		{"Service", "ExecStart", "/usr/bin/a b"},
		{"Service", "User", "nobody"},
	}},
	{"continuation at the end", "[Service]\nExecStart=/usr/bin/a \\\n", []unitSetting{
		{"Service", "ExecStart", "/usr/bin/a"},
	}},
	{"assignment before any section", "Description=x\n[Unit]\n", []unitSetting{{"", "Description", "x"}}},
}

func TestParseUnitFile(t *testing.T) {
	for _, tt := range parseUnitTests {
		t.Run(tt.name, func(t *testing.T) {
			got := parseUnitFile([]byte(tt.in))
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("parseUnitFile (-want +got):\n%s", diff)
			}
		})
	}
}

func TestInterpretUnit(t *testing.T) {
	tests := []struct {
		name  string
		files []string // the unit file, then its drop-ins in order
		want  unitInfo
	}{
		{"template", []string{crdTemplateUnit}, unitInfo{
			Description: "Chrome Remote Desktop instance for %i",
			ExecStart:   []string{"/opt/google/chrome-remote-desktop/chrome-remote-desktop --start --new-session"},
			User:        "%i",
			Install:     true,
		}},
		{"drop-in replaces the command and the user", []string{rustdeskUnit, rustdeskDropin}, unitInfo{
			Description: "RustDesk",
			ExecStart:   []string{"/opt/rustdesk/rustdesk --service --fleet"},
			User:        "rd",
			Install:     true,
		}},
		{"drop-in adds a command", []string{teamviewerdUnit, "[Service]\nExecStart=/opt/x --y\n"}, unitInfo{
			Description: "TeamViewer remote control daemon",
			ExecStart:   []string{"/opt/teamviewer/tv_bin/teamviewerd -d", "/opt/x --y"},
			Install:     true,
		}},
		{"no install section", []string{journaldUnit}, unitInfo{
			Description: "Journal Service",
			ExecStart:   []string{"/lib/systemd/systemd-journald"},
		}},
		{"alias only", []string{"[Install]\nAlias=foo.service\n"}, unitInfo{Install: true}},
		{"keys are case-sensitive", []string{"[service]\nExecStart=/a\n[Service]\nexecstart=/b\n"}, unitInfo{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var all []unitSetting
			for _, f := range tt.files {
				all = append(all, parseUnitFile([]byte(f))...)
			}
			if diff := cmp.Diff(tt.want, interpretUnit(all)); diff != "" {
				t.Errorf("interpretUnit (-want +got):\n%s", diff)
			}
		})
	}
}

var parseExecTests = []struct {
	in   string
	exe  string
	args []string
}{
	{"/usr/bin/rustdesk --service", "/usr/bin/rustdesk", []string{"--service"}},
	{"/opt/teamviewer/tv_bin/teamviewerd -d", "/opt/teamviewer/tv_bin/teamviewerd", []string{"-d"}},
	{"-/usr/sbin/anydesk --service", "/usr/sbin/anydesk", []string{"--service"}},
	{"@/usr/bin/sleep \"/usr/bin/sleep\" \"100\"", "/usr/bin/sleep", []string{"100"}},
	{"@/usr/sbin/sshd sshd -D", "/usr/sbin/sshd", []string{"-D"}},
	{"@/usr/bin/foo", "/usr/bin/foo", nil},
	{"!!/usr/bin/agent", "/usr/bin/agent", nil},
	{"+:-/usr/bin/agent x", "/usr/bin/agent", []string{"x"}},
	{"|/usr/bin/agent", "/usr/bin/agent", nil},
	{`"/opt/My App/bin/app" --name "a b" 'c d'`, "/opt/My App/bin/app", []string{"--name", "a b", "c d"}},
	{`/bin/sh -c "exec /opt/anydesk/anydesk --service"`, "/bin/sh", []string{"-c", "exec /opt/anydesk/anydesk --service"}},
	{`/usr/bin/printf a\x41\sb \"q\"`, "/usr/bin/printf", []string{"aA b", `"q"`}},
	{`/usr/bin/echo \; x`, "/usr/bin/echo", []string{";", "x"}},
	{`/usr/bin/first a ; /usr/bin/second b`, "/usr/bin/first", []string{"a"}},
	{"  \t/usr/bin/x\t-y  ", "/usr/bin/x", []string{"-y"}},
	{`/usr/bin/x "unterminated`, "/usr/bin/x", []string{"unterminated"}},
	{`/usr/bin/x trailing\`, "/usr/bin/x", []string{`trailing\`}},
	{"sleep 5", "sleep", []string{"5"}},
	{"", "", nil},
	{"   ", "", nil},
	{"-@", "", nil},
}

func TestParseExec(t *testing.T) {
	for _, tt := range parseExecTests {
		exe, args := parseExec(tt.in)
		if exe != tt.exe || !cmp.Equal(args, tt.args) {
			t.Errorf("parseExec(%q) = %q, %q; want %q, %q", tt.in, exe, args, tt.exe, tt.args)
		}
	}
}

func TestExpandSpecifiers(t *testing.T) {
	tests := []struct{ in, unit, want string }{
		{"Chrome Remote Desktop instance for %i", "chrome-remote-desktop@alice.service", "Chrome Remote Desktop instance for alice"},
		{"%n %N %p %i %%", "getty@tty1.service", "getty@tty1.service getty@tty1 getty tty1 %"},
		{"/dev/%I", "serial-getty@ttyS0.service", "/dev/ttyS0"},
		{"mount %I", "systemd-fsck@dev-disk-by\\x2duuid-1234.service", "mount dev/disk/by-uuid/1234"},
		{"%P", "a-b.service", "a/b"},
		{"%h/.vnc/passwd %u %", "x11vnc.service", "%h/.vnc/passwd %u %"},
		{"no specifiers", "x.service", "no specifiers"},
		{"%i", "plain.service", ""},
	}
	for _, tt := range tests {
		if got := expandSpecifiers(tt.in, tt.unit); got != tt.want {
			t.Errorf("expandSpecifiers(%q, %q) = %q, want %q", tt.in, tt.unit, got, tt.want)
		}
	}
}

func TestTemplateAndDropinNames(t *testing.T) {
	tests := []struct {
		name     string
		template string
		dropins  []string
	}{
		{"rustdesk.service", "", []string{"rustdesk.service.d", "service.d"}},
		{"chrome-remote-desktop@alice.service", "chrome-remote-desktop@.service",
			[]string{"chrome-remote-desktop@alice.service.d", "chrome-remote-desktop@.service.d",
				"chrome-remote-.service.d", "chrome-.service.d", "service.d"}},
		{"getty@.service", "", []string{"getty@.service.d", "service.d"}},
		{"systemd-journald.socket", "", []string{"systemd-journald.socket.d", "systemd-.socket.d", "socket.d"}},
	}
	for _, tt := range tests {
		if got := templateOf(tt.name); got != tt.template {
			t.Errorf("templateOf(%q) = %q, want %q", tt.name, got, tt.template)
		}
		if diff := cmp.Diff(tt.dropins, dropinNames(tt.name)); diff != "" {
			t.Errorf("dropinNames(%q) (-want +got):\n%s", tt.name, diff)
		}
	}
}

// tree writes a --root directory: files by host path, and symbolic links
// (entries whose value starts with "->").
func tree(t *testing.T, entries map[string]string) string {
	t.Helper()
	root := t.TempDir()
	for p, v := range entries {
		fp := filepath.Join(root, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(fp), 0o755); err != nil {
			t.Fatal(err)
		}
		if target, ok := strings.CutPrefix(v, "->"); ok {
			if err := os.Symlink(target, fp); err != nil {
				t.Skipf("symbolic links: %v", err)
			}
			continue
		}
		if err := os.WriteFile(fp, []byte(v), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

func TestListServicesLinuxRoot(t *testing.T) {
	const (
		sys   = "/usr/lib/systemd/system/"
		etc   = "/etc/systemd/system/"
		wants = etc + "multi-user.target.wants/"
		units = "/run/systemd/units/invocation:"
	)
	root := tree(t, map[string]string{
		"/snapshot.json": `{"os":"linux","hostname":"box","captured":"2026-05-01T00:00:00Z"}`,
		"/lib":           "->usr/lib", // merged /usr

		// An instance enabled by the Chrome Remote Desktop host, with a
		// drop-in for its template that hides a vendor one of the same name.
		sys + "chrome-remote-desktop@.service":                                 crdTemplateUnit,
		wants + "chrome-remote-desktop@alice.service":                          "->/lib/systemd/system/chrome-remote-desktop@.service",
		etc + "chrome-remote-desktop@.service.d/10-foreground.conf":            "[Service]\nExecStart=\nExecStart=/opt/google/chrome-remote-desktop/chrome-remote-desktop --start --new-session --foreground\n",
		sys + "chrome-remote-desktop@.service.d/10-foreground.conf":            "[Service]\nExecStart=\nExecStart=/hidden\n",
		sys + "service.d/50-timeout.conf":                                      "[Service]\nTimeoutStopSec=5\n",
		units + "chrome-remote-desktop@alice.service":                          "->7c2a1d0e5b9f4a3c8e6d1f2a3b4c5d6e",
		sys + "rustdesk.service":                                               rustdeskUnit,
		wants + "rustdesk.service":                                             "->" + sys + "rustdesk.service",
		etc + "rustdesk.service.d/override.conf":                               rustdeskDropin,
		units + "rustdesk.service":                                             "->0a1b2c3d4e5f60718293a4b5c6d7e8f9",
		sys + "ssh.service":                                                    sshUnit, // active, not enabled
		units + "ssh.service":                                                  "->1f2e3d4c5b6a79881726354453627181",
		sys + "cups.service":                                                   "[Service]\nExecStart=/usr/sbin/cupsd -l\n[Install]\nWantedBy=multi-user.target\n",
		etc + "teamviewerd.service":                                            "->/dev/null", // masked
		sys + "teamviewerd.service":                                            teamviewerdUnit,
		wants + "teamviewerd.service":                                          "->" + sys + "teamviewerd.service",
		sys + "systemd-journald.service":                                       journaldUnit,
		sys + "systemd-journald.socket":                                        journaldSocket,
		sys + "sysinit.target.wants/systemd-journald.service":                  "->../systemd-journald.service",
		sys + "sockets.target.wants/systemd-journald.socket":                   "->../systemd-journald.socket",
		units + "systemd-journald.service":                                     "->aa",
		units + "systemd-journald.socket":                                      "->bb",
		units + "session-2.scope":                                              "->cc",
		units + "user@1000.service":                                            "->dd", // active, no unit file here
		wants + "gone.service":                                                 "->" + sys + "gone.service",
		"/run/systemd/transient/run-u42.service":                               transientUnit,
		units + "run-u42.service":                                              "->ee",
		"/home/alice/.config/systemd/user/x11vnc.service":                      x11vncUserUnit,
		"/home/alice/.config/systemd/user/default.target.wants/x11vnc.service": "->/home/alice/.config/systemd/user/x11vnc.service",
		"/usr/lib/systemd/user/pipewire.socket":                                pipewireSocket,
		"/usr/lib/systemd/user/sockets.target.wants/pipewire.socket":           "->/usr/lib/systemd/user/pipewire.socket",
	})
	want := []*fwv1.Service{
		{Name: "chrome-remote-desktop@alice.service", DisplayName: "Chrome Remote Desktop instance for alice", Manager: "systemd",
			State: "running", Enabled: true, StartMode: "enabled",
			Exe:      "/opt/google/chrome-remote-desktop/chrome-remote-desktop",
			Command:  "/opt/google/chrome-remote-desktop/chrome-remote-desktop --start --new-session --foreground",
			Username: "alice", Path: sys + "chrome-remote-desktop@.service"},
		{Name: "gone.service", Manager: "systemd", State: "stopped", Enabled: true, StartMode: "enabled"},
		{Name: "pipewire.socket", DisplayName: "PipeWire Multimedia System Sockets", Manager: "systemd",
			Enabled: true, StartMode: "static", Path: "/usr/lib/systemd/user/pipewire.socket"},
		{Name: "run-u42.service", DisplayName: "[systemd-run] /usr/bin/sleep 100", Manager: "systemd", State: "running",
			StartMode: "transient", Exe: "/usr/bin/sleep", Command: "/usr/bin/sleep 100", Username: "root",
			Path: "/run/systemd/transient/run-u42.service"},
		{Name: "rustdesk.service", DisplayName: "RustDesk", Manager: "systemd", State: "running", Enabled: true, StartMode: "enabled",
			Exe: "/opt/rustdesk/rustdesk", Command: "/opt/rustdesk/rustdesk --service --fleet", Username: "rd", Path: sys + "rustdesk.service"},
		{Name: "ssh.service", DisplayName: "OpenBSD Secure Shell server", Manager: "systemd", State: "running", StartMode: "disabled",
			Exe: "/usr/sbin/sshd", Command: "/usr/sbin/sshd -D $SSHD_OPTS", Username: "root", Path: sys + "ssh.service"},
		{Name: "systemd-journald.service", DisplayName: "Journal Service", Manager: "systemd", State: "running", Enabled: true,
			StartMode: "static", Exe: "/lib/systemd/systemd-journald", Command: "/lib/systemd/systemd-journald", Username: "root",
			Path: sys + "systemd-journald.service"},
		{Name: "systemd-journald.socket", DisplayName: "Journal Socket", Manager: "systemd", State: "running", Enabled: true,
			StartMode: "static", Path: sys + "systemd-journald.socket"},
		{Name: "teamviewerd.service", Manager: "systemd", State: "stopped", StartMode: "masked", Path: etc + "teamviewerd.service"},
		{Name: "user@1000.service", Manager: "systemd", State: "running"},
		{Name: "x11vnc.service", DisplayName: "x11vnc for the desktop", Manager: "systemd", Enabled: true, StartMode: "enabled",
			Exe: "/usr/bin/x11vnc", Command: "/usr/bin/x11vnc -display :0 -forever -rfbauth %h/.vnc/passwd",
			Username: "alice", Path: "/home/alice/.config/systemd/user/x11vnc.service"},
	}

	h, err := host.FromRoot(root)
	if err != nil {
		t.Fatal(err)
	}
	if h.OS() != "linux" {
		t.Fatalf("host OS %q, want linux from snapshot.json", h.OS())
	}
	h.Record()
	got, err := listServices(context.Background(), h)
	if err != nil {
		t.Fatalf("listServices: %v", err)
	}
	if diff := cmp.Diff(want, got, protocmp.Transform()); diff != "" {
		t.Errorf("listServices (-want +got):\n%s", diff)
	}

	// What was read is enough to replay the scan, and no more: units that
	// are neither enabled nor active, and hidden drop-ins, are not read.
	var snap bytes.Buffer
	if err := h.WriteSnapshot(&snap); err != nil {
		t.Fatal(err)
	}
	for _, unread := range []string{"cups.service", "/hidden", "teamviewerd -d", "session-2.scope"} {
		if bytes.Contains(snap.Bytes(), []byte(unread)) {
			t.Errorf("the snapshot holds %q, which the scan should not have read:\n%s", unread, snap.String())
		}
	}
	s, err := host.ParseSnapshot(snap.Bytes())
	if err != nil {
		t.Fatalf("parse the recorded snapshot: %v\n%s", err, snap.String())
	}
	rh, err := s.Host()
	if err != nil {
		t.Fatal(err)
	}
	defer rh.Close()
	replayed, err := listServices(context.Background(), rh)
	if err != nil {
		t.Fatalf("listServices on the replay: %v", err)
	}
	if diff := cmp.Diff(want, replayed, protocmp.Transform()); diff != "" {
		t.Errorf("listServices on the replay (-want +got):\n%s", diff)
	}
}

func TestListServicesLinuxEmptyRoot(t *testing.T) {
	root := tree(t, map[string]string{"/snapshot.json": `{"os":"linux","hostname":"bare"}`})
	h, err := host.FromRoot(root)
	if err != nil {
		t.Fatal(err)
	}
	got, err := listServices(context.Background(), h)
	if err != nil || len(got) != 0 {
		t.Errorf("listServices on an empty root = %v, %v; want nothing and no error", got, err)
	}
}

func FuzzParseUnitFile(f *testing.F) {
	for _, tt := range parseUnitTests {
		f.Add([]byte(tt.in))
	}
	for _, u := range []string{teamviewerdUnit, rustdeskUnit, journaldUnit, journaldSocket, sshUnit, transientUnit, x11vncUserUnit} {
		f.Add([]byte(u))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		settings := parseUnitFile(b)
		if n := bytes.Count(b, []byte("\n")) + 1; len(settings) > n {
			t.Fatalf("%d settings from %d lines", len(settings), n)
		}
		for _, s := range settings {
			if s.Key == "" || strings.TrimSpace(s.Key) != s.Key || strings.TrimSpace(s.Value) != s.Value ||
				strings.ContainsAny(s.Key, "=\n") || strings.Contains(s.Value, "\n") || strings.Contains(s.Section, "\n") {
				t.Fatalf("bad setting %+v", s)
			}
		}
		// Written back one a line, under their sections, the settings
		// read the same.
		var w strings.Builder
		section, ok := "", true
		for _, s := range settings {
			if s.Section != section {
				ok = ok && s.Section != ""
				section = s.Section
				w.WriteString("[" + section + "]\n")
			}
			w.WriteString(s.Key + "=" + s.Value + "\n")
		}
		if again := parseUnitFile([]byte(w.String())); ok && !reflect.DeepEqual(again, settings) {
			t.Fatalf("settings %q, written back as %q, read %q", settings, w.String(), again)
		}
		u := interpretUnit(settings)
		for _, cmd := range u.ExecStart {
			if cmd == "" {
				t.Fatalf("empty command kept: %q", u.ExecStart)
			}
			parseExec(cmd)
		}
		install := false
		for _, s := range settings {
			install = install || s.Section == "Install" && s.Value != "" && (s.Key == "WantedBy" || s.Key == "RequiredBy" || s.Key == "UpheldBy" || s.Key == "Alias")
		}
		if u.Install != install {
			t.Fatalf("install %v, settings say %v", u.Install, install)
		}
		if d := expandSpecifiers(u.Description, "a-b@c\\x2dd.service"); !strings.Contains(u.Description, "%") && d != u.Description {
			t.Fatalf("expandSpecifiers(%q) = %q: changed without a specifier", u.Description, d)
		}
	})
}

func FuzzParseExec(f *testing.F) {
	for _, tt := range parseExecTests {
		f.Add(tt.in)
	}
	f.Fuzz(func(t *testing.T, s string) {
		exe, args := parseExec(s)
		if exe == "" && len(args) > 0 {
			t.Fatalf("parseExec(%q): arguments without an executable", s)
		}
		if len(args) > len(s)/2 {
			t.Fatalf("parseExec(%q): %d arguments", s, len(args))
		}
		for _, a := range append([]string{exe}, args...) {
			expandSpecifiers(a, "x@"+a+".service")
		}
		// A line with no quote, escape, ";" or prefix is its words.
		plain := strings.TrimLeft(s, " \t")
		if !strings.ContainsAny(s, "\"'\\;") && (plain == "" || !strings.ContainsRune("@-:+!|", rune(plain[0]))) {
			words := strings.FieldsFunc(s, func(r rune) bool { return r == ' ' || r == '\t' || r == '\n' || r == '\r' })
			got := append([]string{exe}, args...)
			if len(words) == 0 {
				words = []string{""}
			}
			if !slices.Equal(got, words) {
				t.Fatalf("parseExec(%q) = %q, want its words %q", s, got, words)
			}
		}
	})
}
