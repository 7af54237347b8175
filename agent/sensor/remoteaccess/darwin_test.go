package remoteaccess

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/farmwatch/farmwatch/agent/host"
	fwv1 "github.com/farmwatch/farmwatch/proto/farmwatch/v1"
	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/testing/protocmp"
	"howett.net/plist"
)

// `launchctl print-disabled system` on macOS 13 and later.
const printDisabledVentura = `disabled services = {
	"com.apple.ftpd" => disabled
	"com.apple.screensharing" => enabled
	"com.openssh.sshd" => disabled
	"com.carriez.RustDesk_service" => enabled
	"com.apple.mdmclient.daemon.runatboot" => disabled
}
`

// The same on macOS 12 and earlier: true is disabled.
const printDisabledMonterey = `disabled services = {
	"com.apple.screensharing" => false
	"com.openssh.sshd" => true
	"com.apple.smbd" => true
}
`

// `launchctl print-disabled gui/501` has a second block, of other values.
const printDisabledUser = `disabled services = {
	"com.docker.helper" => enabled
	"com.apple.ManagedClientAgent.enrollagent" => disabled
	"com.oray.sunlogin.desktopagent" => disabled
}
login item associations = {
	"version.com.docker.helper" => "64133"
	"com.docker.helper" => "com.docker.docker"
}
`

var printDisabledTests = []struct {
	name string
	in   string
	want map[string]bool
}{
	{"ventura", printDisabledVentura, map[string]bool{
		"com.apple.ftpd": true, "com.apple.screensharing": false, "com.openssh.sshd": true,
		"com.carriez.RustDesk_service": false, "com.apple.mdmclient.daemon.runatboot": true,
	}},
	{"monterey", printDisabledMonterey, map[string]bool{
		"com.apple.screensharing": false, "com.openssh.sshd": true, "com.apple.smbd": true,
	}},
	{"user domain", printDisabledUser, map[string]bool{
		"com.docker.helper": false, "com.apple.ManagedClientAgent.enrollagent": true, "com.oray.sunlogin.desktopagent": true,
	}},
	{"empty", "disabled services = {\n}\n", map[string]bool{}},
	{"nothing", "", map[string]bool{}},
	{"not quoted, unknown value", "disabled services = {\n\tcom.x => disabled\n\t\"com.y\" => maybe\n\t\"\" => true\n}\n", map[string]bool{}},
}

func TestParsePrintDisabled(t *testing.T) {
	for _, tt := range printDisabledTests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, parsePrintDisabled([]byte(tt.in))); diff != "" {
				t.Errorf("parsePrintDisabled (-want +got):\n%s", diff)
			}
		})
	}
}

// `launchctl list` run as root: the system domain's jobs.
const launchctlList = "PID\tStatus\tLabel\n" +
	"-\t0\tcom.apple.screensharing\n" +
	"412\t0\tcom.carriez.RustDesk_service\n" +
	"-\t78\tcom.example.broken\n" +
	"0\t0\tcom.apple.launchd.zero\n" +
	"387\t-9\tcom.philandro.anydesk.service\n"

var launchctlListTests = []struct {
	name string
	in   string
	want map[string]int
}{
	{"root", launchctlList, map[string]int{
		"com.apple.screensharing": 0, "com.carriez.RustDesk_service": 412, "com.example.broken": 0,
		"com.apple.launchd.zero": 0, "com.philandro.anydesk.service": 387,
	}},
	{"header only", "PID\tStatus\tLabel\n", map[string]int{}},
	{"garbage", "x y\n-1 0 neg\n12\n", map[string]int{}},
}

func TestParseLaunchctlList(t *testing.T) {
	for _, tt := range launchctlListTests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, parseLaunchctlList([]byte(tt.in))); diff != "" {
				t.Errorf("parseLaunchctlList (-want +got):\n%s", diff)
			}
		})
	}
}

// Job plists shaped on the ones the products install.
const (
	rustdeskDaemonPlist = `<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
<plist version="1.0">
<dict>
	<key>Label</key>
	<string>com.carriez.RustDesk_service</string>
	<key>AssociatedBundleIdentifiers</key>
	<string>com.carriez.rustdesk</string>
	<key>KeepAlive</key>
	<true/>
	<key>ThrottleInterval</key>
	<integer>1</integer>
	<key>ProgramArguments</key>
	<array>
		<string>/bin/sh</string>
		<string>-c</string>
		<string>/Applications/RustDesk.app/Contents/MacOS/service</string>
	</array>
	<key>RunAtLoad</key>
	<true/>
	<key>WorkingDirectory</key>
	<string>/Applications/RustDesk.app/Contents/MacOS/</string>
</dict>
</plist>
`
	anydeskAgentPlist = `<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
<plist version="1.0">
<dict>
	<key>Label</key>
	<string>com.philandro.anydesk.Frontend</string>
	<key>LimitLoadToSessionType</key>
	<array>
		<string>Aqua</string>
		<string>LoginWindow</string>
	</array>
	<key>Program</key>
	<string>/Applications/AnyDesk.app/Contents/MacOS/AnyDesk</string>
	<key>ProgramArguments</key>
	<array>
		<string>AnyDesk</string>
		<string>--frontend</string>
	</array>
	<key>KeepAlive</key>
	<dict>
		<key>SuccessfulExit</key>
		<false/>
	</dict>
</dict>
</plist>
`
	// Apple's Screen Sharing daemon ships disabled; sharing it is an override.
	screenSharingDaemonPlist = `<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
<plist version="1.0">
<dict>
	<key>Disabled</key>
	<true/>
	<key>Label</key>
	<string>com.apple.screensharing</string>
	<key>Program</key>
	<string>/System/Library/CoreServices/RemoteManagement/screensharingd.bundle/Contents/MacOS/screensharingd</string>
	<key>Sockets</key>
	<dict>
		<key>Listener</key>
		<dict>
			<key>SockServiceName</key>
			<string>vnc-server</string>
		</dict>
	</dict>
	<key>UserName</key>
	<string>root</string>
</dict>
</plist>
`
	userAgentPlist = `<?xml version="1.0" encoding="UTF-8"?>
<plist version="1.0">
<dict>
	<key>Label</key><string>com.example.updater</string>
	<key>ProgramArguments</key><array><string>/Users/bob/bin/updater</string><string>--quiet</string></array>
	<key>StartInterval</key><integer>3600</integer>
</dict>
</plist>
`
	openStepPlist = `{ Label = "com.example.openstep"; Program = "/usr/local/bin/x"; RunAtLoad = <*BY>; Disabled = <*BN>; }`
)

func binaryPlist(t testing.TB, v any) []byte {
	t.Helper()
	b, err := plist.Marshal(v, plist.BinaryFormat)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestParseLaunchdPlist(t *testing.T) {
	tests := []struct {
		name string
		in   []byte
		want launchdJob
		err  bool
	}{
		{"rustdesk daemon", []byte(rustdeskDaemonPlist), launchdJob{
			Label:            "com.carriez.RustDesk_service",
			ProgramArguments: []string{"/bin/sh", "-c", "/Applications/RustDesk.app/Contents/MacOS/service"},
			RunAtLoad:        true, KeepAlive: true,
		}, false},
		{"anydesk agent", []byte(anydeskAgentPlist), launchdJob{
			Label:            "com.philandro.anydesk.Frontend",
			Program:          "/Applications/AnyDesk.app/Contents/MacOS/AnyDesk",
			ProgramArguments: []string{"AnyDesk", "--frontend"},
			KeepAlive:        true,
		}, false},
		{"screen sharing", []byte(screenSharingDaemonPlist), launchdJob{
			Label:    "com.apple.screensharing",
			Program:  "/System/Library/CoreServices/RemoteManagement/screensharingd.bundle/Contents/MacOS/screensharingd",
			UserName: "root", Disabled: true, OnDemand: true,
		}, false},
		{"timer", []byte(userAgentPlist), launchdJob{
			Label: "com.example.updater", ProgramArguments: []string{"/Users/bob/bin/updater", "--quiet"}, OnDemand: true,
		}, false},
		{"openstep", []byte(openStepPlist), launchdJob{
			Label: "com.example.openstep", Program: "/usr/local/bin/x", RunAtLoad: true,
		}, false},
		{"binary", binaryPlist(t, map[string]any{
			"Label": "com.teamviewer.teamviewer_service", "Program": "/Applications/TeamViewer.app/Contents/MacOS/TeamViewer_Service",
			"RunAtLoad": true, "KeepAlive": false, "MachServices": map[string]any{"com.teamviewer.desktop": true},
		}), launchdJob{
			Label: "com.teamviewer.teamviewer_service", Program: "/Applications/TeamViewer.app/Contents/MacOS/TeamViewer_Service",
			RunAtLoad: true, OnDemand: true,
		}, false},
		{"wrong types are ignored", []byte(`<plist><dict><key>Label</key><integer>3</integer><key>ProgramArguments</key><string>/bin/x</string>` +
			`<key>RunAtLoad</key><string>YES</string><key>KeepAlive</key><dict/><key>WatchPaths</key><array/></dict></plist>`), launchdJob{}, false},
		{"an array", []byte(`<plist><array><string>x</string></array></plist>`), launchdJob{}, true},
		{"not a plist", []byte("\x00\x01garbage"), launchdJob{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseLaunchdPlist(tt.in)
			if (err != nil) != tt.err {
				t.Fatalf("error %v, want error: %v", err, tt.err)
			}
			if diff := cmp.Diff(tt.want, got, cmp.AllowUnexported(launchdJob{})); diff != "" {
				t.Errorf("parseLaunchdPlist (-want +got):\n%s", diff)
			}
		})
	}
}

// darwinSnapshot is a Mac with RustDesk and AnyDesk installed, one user
// agent, Screen Sharing turned on, and Remote Management on.
func darwinSnapshot(t *testing.T, cmds map[string][]byte) *host.Host {
	t.Helper()
	s := &host.Snapshot{
		Meta: host.Meta{OS: "darwin", Hostname: "mac", Captured: time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC)},
		Files: map[string][]byte{
			"/Library/LaunchDaemons/com.carriez.RustDesk_service.plist":  []byte(rustdeskDaemonPlist),
			"/Library/LaunchAgents/com.philandro.anydesk.Frontend.plist": []byte(anydeskAgentPlist),
			"/Library/LaunchDaemons/com.teamviewer.teamviewer_service.plist": binaryPlist(t, map[string]any{
				"Label": "com.teamviewer.teamviewer_service", "Program": "/Applications/TeamViewer.app/Contents/MacOS/TeamViewer_Service",
				"RunAtLoad": true, "Disabled": false,
			}),
			"/Users/bob/Library/LaunchAgents/com.example.updater.plist": []byte(userAgentPlist),
			screenSharingPlist: []byte(screenSharingDaemonPlist),
			"/Library/Application Support/Apple/Remote Desktop/RemoteManagement.launchd": []byte("enabled\n"),
		},
		Cmds: cmds,
	}
	h, err := s.Host()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	return h
}

func TestListServicesDarwin(t *testing.T) {
	const ld, la = "/Library/LaunchDaemons/", "/Library/LaunchAgents/"
	h := darwinSnapshot(t, map[string][]byte{
		"/bin/launchctl print-disabled system": []byte(printDisabledVentura),
		"/bin/launchctl list":                  []byte(launchctlList),
	})
	want := []*fwv1.Service{
		{Name: "com.apple.screensharing", Manager: "launchd", State: "stopped", Enabled: true, StartMode: "on-demand",
			Exe:      "/System/Library/CoreServices/RemoteManagement/screensharingd.bundle/Contents/MacOS/screensharingd",
			Command:  "/System/Library/CoreServices/RemoteManagement/screensharingd.bundle/Contents/MacOS/screensharingd",
			Username: "root", Path: screenSharingPlist},
		{Name: "com.carriez.RustDesk_service", Manager: "launchd", State: "running", Enabled: true, StartMode: "keep-alive",
			Exe: "/bin/sh", Command: "/bin/sh -c /Applications/RustDesk.app/Contents/MacOS/service",
			Username: "root", Path: ld + "com.carriez.RustDesk_service.plist"},
		{Name: "com.example.updater", Manager: "launchd", Enabled: true, StartMode: "on-demand",
			Exe: "/Users/bob/bin/updater", Command: "/Users/bob/bin/updater --quiet", Username: "bob",
			Path: "/Users/bob/Library/LaunchAgents/com.example.updater.plist"},
		{Name: "com.philandro.anydesk.Frontend", Manager: "launchd", Enabled: true, StartMode: "keep-alive",
			Exe: "/Applications/AnyDesk.app/Contents/MacOS/AnyDesk", Command: "AnyDesk --frontend",
			Path: la + "com.philandro.anydesk.Frontend.plist"},
		{Name: "com.teamviewer.teamviewer_service", Manager: "launchd", Enabled: true, StartMode: "run-at-load",
			Exe: "/Applications/TeamViewer.app/Contents/MacOS/TeamViewer_Service", Command: "/Applications/TeamViewer.app/Contents/MacOS/TeamViewer_Service",
			Username: "root", Path: ld + "com.teamviewer.teamviewer_service.plist"},
		{Name: "remote-management", DisplayName: "Remote Management", Manager: "setting", Enabled: true,
			Path: "/Library/Application Support/Apple/Remote Desktop/RemoteManagement.launchd"},
		{Name: "screensharing", DisplayName: "Screen Sharing", Manager: "setting", State: "stopped", Enabled: true, Path: screenSharingPlist},
	}
	got, err := listServices(context.Background(), h)
	if err != nil {
		t.Fatalf("listServices: %v", err)
	}
	if diff := cmp.Diff(want, got, protocmp.Transform()); diff != "" {
		t.Errorf("listServices (-want +got):\n%s", diff)
	}
}

// A snapshot without the launchctl output still gives the plists; what
// only the commands could say is unknown, and that is not an error.
func TestListServicesDarwinWithoutCommands(t *testing.T) {
	h := darwinSnapshot(t, nil)
	got, err := listServices(context.Background(), h)
	if err != nil {
		t.Fatalf("listServices: %v", err)
	}
	byName := map[string]*fwv1.Service{}
	for _, s := range got {
		byName[s.Name] = s
	}
	if _, ok := byName["screensharing"]; ok {
		t.Errorf("screensharing setting reported without the overrides: %v", byName["screensharing"])
	}
	if s := byName["com.apple.screensharing"]; s == nil || s.Enabled || s.StartMode != "disabled" {
		t.Errorf("com.apple.screensharing = %v, want disabled by its plist", s)
	}
	if s := byName["com.carriez.RustDesk_service"]; s == nil || s.State != "" || !s.Enabled {
		t.Errorf("com.carriez.RustDesk_service = %v, want enabled, state unknown", s)
	}
	if s := byName["remote-management"]; s == nil || !s.Enabled {
		t.Errorf("remote-management = %v, want enabled", s)
	}
}

// The legacy override format says the same; a job disabled by override is
// not enabled, and a malformed plist fails only itself.
func TestListServicesDarwinLegacyOverrides(t *testing.T) {
	h := darwinSnapshot(t, map[string][]byte{
		"/bin/launchctl print-disabled system": []byte(printDisabledMonterey + "\t\"com.carriez.RustDesk_service\" => true\n"),
	})
	got, err := listServices(context.Background(), h)
	if err != nil {
		t.Fatalf("listServices: %v", err)
	}
	for _, s := range got {
		switch s.Name {
		case "screensharing":
			if !s.Enabled {
				t.Errorf("screensharing not enabled by => false")
			}
		case "com.carriez.RustDesk_service":
			if s.Enabled || s.StartMode != "disabled" {
				t.Errorf("RustDesk = %v, want disabled by => true", s)
			}
		}
	}
}

func TestListServicesDarwinBadPlist(t *testing.T) {
	s := &host.Snapshot{
		Meta: host.Meta{OS: "darwin", Hostname: "mac"},
		Files: map[string][]byte{
			"/Library/LaunchDaemons/bad.plist":  []byte("<plist><dict><key>Label</key>"),
			"/Library/LaunchDaemons/good.plist": []byte(rustdeskDaemonPlist),
		},
	}
	h, err := s.Host()
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	got, err := listServices(context.Background(), h)
	if err == nil {
		t.Error("no error for a malformed plist")
	}
	if len(got) != 2 || got[0].Name != "com.carriez.RustDesk_service" || got[1].Name != "remote-management" || got[1].Enabled {
		t.Errorf("listServices = %v; want the good job and remote management off", got)
	}
}

// On a --root tree commands cannot run: that is not an error either.
func TestListServicesDarwinRoot(t *testing.T) {
	root := tree(t, map[string]string{
		"/snapshot.json": `{"os":"darwin","hostname":"mac"}`,
		"/Library/LaunchDaemons/com.carriez.RustDesk_service.plist": rustdeskDaemonPlist,
		"/etc/RemoteManagement.launchd":                             "enabled\n",
	})
	h, err := host.FromRoot(root)
	if err != nil {
		t.Fatal(err)
	}
	got, err := listServices(context.Background(), h)
	if err != nil {
		t.Fatalf("listServices: %v", err)
	}
	if len(got) != 2 || got[1].Name != "remote-management" || !got[1].Enabled || got[1].Path != "/etc/RemoteManagement.launchd" {
		t.Errorf("listServices = %v", got)
	}
	if _, err := h.Run(context.Background(), printDisabledCmd); !errors.Is(err, host.ErrNotLive) {
		t.Errorf("launchctl on a root tree: %v, want ErrNotLive", err)
	}
}

func FuzzParsePrintDisabled(f *testing.F) {
	for _, tt := range printDisabledTests {
		f.Add([]byte(tt.in))
	}
	for _, tt := range launchctlListTests {
		f.Add([]byte(tt.in))
	}
	f.Add(readPublic(f, "pufferfish-launchctl-print-gui-501.txt"))
	f.Add(readPublic(f, "pufferfish-launchctl-print-system.txt"))
	f.Fuzz(func(t *testing.T, b []byte) {
		for label := range parsePrintDisabled(b) {
			if label == "" || !bytes.Contains(b, []byte(`"`+label+`"`)) {
				t.Fatalf("label %q not quoted in the input", label)
			}
		}
		for label, pid := range parseLaunchctlList(b) {
			if label == "" || pid < 0 || label != strings.Join(strings.Fields(label), " ") {
				t.Fatalf("label %q pid %d", label, pid)
			}
		}
		// Any label, as launchctl prints it, is read back.
		label := strings.Join(strings.Fields(strings.NewReplacer(`"`, "", "=>", "", "{", "", "}", "").Replace(string(b))), " ")
		if label == "" {
			return
		}
		pd := "disabled services = {\n\t\"" + label + "\" => disabled\n\t\"x.y\" => enabled\n}\nlogin item associations = {\n\t\"" + label + "\" => \"z\"\n\t\"q.q\" => disabled\n}\n"
		if got := parsePrintDisabled([]byte(pd)); !got[label] || got["x.y"] && label != "x.y" || len(got) != 2 && label != "x.y" {
			t.Fatalf("parsePrintDisabled(%q) = %v", pd, got)
		}
		ll := "PID\tStatus\tLabel\n4242\t0\t" + label + "\n-\t0\tz.z\n"
		if got := parseLaunchctlList([]byte(ll)); got[label] != 4242 && label != "z.z" {
			t.Fatalf("parseLaunchctlList(%q) = %v", ll, got)
		}
	})
}

func FuzzParseLaunchdPlist(f *testing.F) {
	for _, s := range []string{rustdeskDaemonPlist, anydeskAgentPlist, screenSharingDaemonPlist, userAgentPlist, openStepPlist, "<plist><array/></plist>"} {
		f.Add([]byte(s))
	}
	f.Add(binaryPlist(f, map[string]any{"Label": "x", "ProgramArguments": []string{"/bin/x", "-y"}, "KeepAlive": map[string]any{"NetworkState": true}}))
	f.Fuzz(func(t *testing.T, b []byte) {
		if j, err := parseLaunchdPlist(b); err == nil {
			s := launchdService(j, "/Library/LaunchDaemons/x.plist", true, "", map[string]bool{j.Label: false}, map[string]int{j.Label: 1})
			checkLaunchdService(t, j, s, j.Disabled && s.Name != j.Label) // the override enables it
			if s.Name == j.Label && s.State != "running" {
				t.Fatalf("service %v: pid 1 is running", s)
			}
		}
		// Any job, written as a binary plist, is read back.
		word := strings.ToValidUTF8(string(b), "?")
		job := map[string]any{"Label": word, "ProgramArguments": []string{word, "-y"}, "UserName": word, "Disabled": len(b)%2 == 0, "RunAtLoad": true}
		j, err := parseLaunchdPlist(binaryPlist(t, job))
		if err != nil || j.Label != word || !slices.Equal(j.ProgramArguments, []string{word, "-y"}) || j.UserName != word || j.Disabled != (len(b)%2 == 0) || !j.RunAtLoad {
			t.Fatalf("job %v read back as %+v, %v", job, j, err)
		}
		checkLaunchdService(t, j, launchdService(j, "/Library/LaunchDaemons/x.plist", true, "", nil, nil), j.Disabled)
	})
}

// checkLaunchdService fails unless a daemon's service is named, runs its
// program as root or its user, is disabled when it should be, and is
// enabled exactly when its start mode says it starts.
func checkLaunchdService(t *testing.T, j launchdJob, s *fwv1.Service, disabled bool) {
	t.Helper()
	exe := j.Program
	if exe == "" && len(j.ProgramArguments) > 0 {
		exe = j.ProgramArguments[0]
	}
	starts := map[string]bool{"keep-alive": true, "run-at-load": true, "on-demand": true}
	switch {
	case s.Name == "" || s.Manager != "launchd":
		t.Fatalf("service %v", s)
	case s.Exe != exe || s.Username != j.UserName && !(j.UserName == "" && s.Username == "root"):
		t.Fatalf("service %v of %+v: executable or user", s, j)
	case s.Enabled != starts[s.StartMode] || !starts[s.StartMode] && s.StartMode != "disabled" && s.StartMode != "manual":
		t.Fatalf("service %v: enabled %v in start mode %q", s, s.Enabled, s.StartMode)
	case disabled != (s.StartMode == "disabled"):
		t.Fatalf("service %v: start mode %q, disabled %v", s, s.StartMode, disabled)
	}
}
