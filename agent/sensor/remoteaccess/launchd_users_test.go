package remoteaccess

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/farmwatch/farmwatch/agent/host"
	fwv1 "github.com/farmwatch/farmwatch/proto/farmwatch/v1"
	"github.com/google/go-cmp/cmp"
)

// `launchctl print gui/501`, its services block in the layout public
// parsers of it read (pid or "-"/"0" when not running, last exit status,
// label); not a capture.
const launchctlPrintGUI = `gui/501 = {
	type = login
	handle = 501
	active count = 3
	services = {
		     637      -	com.apple.Finder
		    1234      0	com.google.chromeremotedesktop.me2me
		       0      -	com.teamviewer.teamviewer
		       -     78	com.example.crashed
	}
	endpoints = {
		"com.apple.ignored" = { active = 1 }
	}
}
`

func TestParseLaunchctlPrint(t *testing.T) {
	want := map[string]int{"com.apple.Finder": 637, "com.google.chromeremotedesktop.me2me": 1234, "com.teamviewer.teamviewer": 0, "com.example.crashed": 0}
	if d := cmp.Diff(want, parseLaunchctlPrint([]byte(launchctlPrintGUI))); d != "" {
		t.Errorf("(-want +got):\n%s", d)
	}
	if got := parseLaunchctlPrint([]byte("gui/501 = {\n\tstate = running\n}\n")); len(got) != 0 {
		t.Errorf("no services block: %v", got)
	}
}

func plistXML(body string) string {
	return `<?xml version="1.0" encoding="UTF-8"?><plist version="1.0"><dict>` + body + `</dict></plist>`
}

// TestReadDarwinUserDomainsAndBundles: a user's LaunchAgents get their
// state from `launchctl print gui/UID` and their overrides from
// disabled.UID.plist; jobs an app registered with SMAppService are read
// from inside its bundle, their program from BundleProgram, and are
// enabled only when launchd lists them.
func TestReadDarwinUserDomainsAndBundles(t *testing.T) {
	src := t.TempDir()
	files := map[string]string{
		"snapshot.json":    `{"os":"darwin","hostname":"mac"}`,
		"cmd/list.txt":     "$ /bin/launchctl list\nPID\tStatus\tLabel\n4242\t0\tcom.example.remote.daemon\n",
		"cmd/print.txt":    "$ /bin/launchctl print gui/501\n" + launchctlPrintGUI,
		"cmd/disabled.txt": "$ /bin/launchctl print-disabled system\ndisabled services = {\n}\n",
		"root/var/db/dslocal/nodes/Default/users/alice.plist": plistXML(`<key>name</key><array><string>alice</string></array>
<key>uid</key><array><string>501</string></array><key>home</key><array><string>/Users/alice</string></array>`),
		"root/var/db/dslocal/nodes/Default/users/_spotlight.plist": plistXML(`<key>name</key><array><string>_spotlight</string></array><key>uid</key><array><string>89</string></array>`),
		"root/var/db/com.apple.xpc.launchd/disabled.501.plist":     plistXML(`<key>com.teamviewer.teamviewer</key><true/><key>com.oray.sunlogin.desktopagent</key><true/>`),
		"root/Users/alice/Library/LaunchAgents/com.google.chromeremotedesktop.me2me.plist": plistXML(`<key>Label</key><string>com.google.chromeremotedesktop.me2me</string>
<key>ProgramArguments</key><array><string>/Users/alice/Library/CRD/me2me</string></array><key>RunAtLoad</key><true/>`),
		"root/Library/LaunchAgents/com.teamviewer.teamviewer.plist": plistXML(`<key>Label</key><string>com.teamviewer.teamviewer</string>
<key>Program</key><string>/Applications/TeamViewer.app/Contents/MacOS/TeamViewer</string><key>RunAtLoad</key><true/>`),
		"root/Applications/Remote.app/Contents/Library/LaunchDaemons/com.example.remote.daemon.plist": plistXML(`<key>Label</key><string>com.example.remote.daemon</string>
<key>BundleProgram</key><string>Contents/Resources/remoted</string><key>KeepAlive</key><true/>`),
		"root/Applications/Remote.app/Contents/Library/LaunchAgents/com.example.remote.agent.plist": plistXML(`<key>Label</key><string>com.example.remote.agent</string>
<key>BundleProgram</key><string>Contents/MacOS/agent</string><key>RunAtLoad</key><true/>`),
	}
	for p, c := range files {
		full := filepath.Join(src, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(c), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	s, err := host.Pack(src)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := s.Format()
	f := filepath.Join(t.TempDir(), "s.txtar")
	os.WriteFile(f, b, 0o644)
	h, err := host.Open(f)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	svcs, err := readDarwin(context.Background(), h)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]*fwv1.Service{}
	for _, s := range svcs {
		got[s.Name] = s
	}
	if s := got["com.google.chromeremotedesktop.me2me"]; s == nil || s.State != "running" || !s.Enabled || s.Username != "alice" {
		t.Errorf("alice's agent: %v", s)
	}
	if s := got["com.teamviewer.teamviewer"]; s == nil || s.State != "stopped" || s.Enabled || s.StartMode != "disabled" {
		t.Errorf("an agent alice disabled: %v", s)
	}
	if s := got["com.example.remote.daemon"]; s == nil || s.Exe != "/Applications/Remote.app/Contents/Resources/remoted" || !s.Enabled || s.State != "running" || s.Username != "root" {
		t.Errorf("registered bundle daemon: %v", s)
	}
	if s := got["com.example.remote.agent"]; s == nil || s.Enabled || s.StartMode != "not registered" || s.Exe != "/Applications/Remote.app/Contents/MacOS/agent" {
		t.Errorf("unregistered bundle agent: %v", s)
	}
}

func FuzzParseLaunchdState(f *testing.F) {
	f.Add([]byte(launchctlPrintGUI), []byte(plistXML(`<key>a</key><true/>`)), []byte(plistXML(`<key>uid</key><array><string>501</string></array>`)))
	f.Add(readPublic(f, "pufferfish-launchctl-print-gui-501.txt"), []byte{}, []byte{})
	f.Add(readPublic(f, "pufferfish-launchctl-print-system.txt"), []byte("bplist00"), []byte("<plist>"))
	f.Fuzz(func(t *testing.T, print, overrides, user []byte) {
		for label, pid := range parseLaunchctlPrint(print) {
			if label == "" || pid < 0 {
				t.Fatalf("job %q pid %d", label, pid)
			}
		}
		if m, err := parseOverrides(overrides); err == nil {
			if _, ok := m[""]; ok {
				t.Fatal("an empty label")
			}
		}
		if u, ok := parseDslocalUser(user); ok && (u.UID < 500 || u.UID >= 1<<31) {
			t.Fatalf("user %+v", u)
		}
	})
}
