package remoteaccess

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/farmwatch/farmwatch/agent/host"
	"github.com/google/go-cmp/cmp"
)

// The real `launchctl print gui/501` and `launchctl print system` that
// testdata/README.md cites (a recent macOS; published as an excerpt: its
// author cut blocks to "[…]").
func readPublic(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "public", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestLaunchctlPrintPublic(t *testing.T) {
	gui, sys := readPublic(t, "pufferfish-launchctl-print-gui-501.txt"), readPublic(t, "pufferfish-launchctl-print-system.txt")
	for _, tt := range []struct {
		name         string
		in           []byte
		pids         map[string]int
		disabled     map[string]bool
		wantNotInPid string
	}{
		{"gui/501", gui,
			map[string]int{"net.jwpconsulting.postgresql": 887, "com.apple.syncdefaultsd": 866},
			map[string]bool{"com.apple.rcd": true}, "com.apple.rcd"},
		{"system", sys,
			map[string]int{"com.apple.rpmuxd": 0, "com.apple.lskdd": 0, "com.apple.kernelmanager_helper": 876, "com.apple.runningboardd": 539},
			map[string]bool{"net.jwpconsulting.nagios": false, "com.apple.ftpd": true}, "com.apple.fpsd.arcadeservice"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if d := cmp.Diff(tt.pids, parseLaunchctlPrint(tt.in)); d != "" {
				t.Errorf("services (-want +got):\n%s", d)
			}
			if d := cmp.Diff(tt.disabled, parsePrintDisabled(tt.in)); d != "" {
				t.Errorf("disabled services (-want +got):\n%s", d)
			}
		})
	}
}

// TestParsePrintDisabledNested: an entry in a block nested below another
// (here in one of "unmanaged processes") is not an override, even after an
// inner block closed.
func TestParsePrintDisabledNested(t *testing.T) {
	in := "gui/501 = {\n\tunmanaged processes = {\n\t\tcom.x.unmanaged.1 = {\n\t\t\tdynamic endpoints = {\n\t\t\t}\n\t\t\t\"com.evil\" => disabled\n\t\t}\n\t\t\"com.evil2\" => disabled\n\t}\n\tdisabled services = {\n\t\t\"com.a\" => disabled\n\t\t\"com.b\" => enabled\n\t}\n}\n\"com.top\" => true\n"
	want := map[string]bool{"com.a": true, "com.b": false, "com.top": true}
	if d := cmp.Diff(want, parsePrintDisabled([]byte(in))); d != "" {
		t.Errorf("(-want +got):\n%s", d)
	}
	// Deeper than maxLaunchctlDepth: counted, never read, and the blocks
	// around still close.
	deep := ""
	for i := 0; i < maxLaunchctlDepth+5; i++ {
		deep += "disabled services = {\n"
	}
	deep += "\"com.deep\" => disabled\n"
	for i := 0; i < maxLaunchctlDepth+5; i++ {
		deep += "}\n"
	}
	deep += "\"com.after\" => disabled\n"
	if d := cmp.Diff(map[string]bool{"com.after": true}, parsePrintDisabled([]byte(deep))); d != "" {
		t.Errorf("deep (-want +got):\n%s", d)
	}
}

// TestReadDarwinPublicGUIDomain replays the real gui/501 print for a user
// without a disabled.501.plist: the user's LaunchAgent it lists runs, and
// the agent its "disabled services" block disables is reported disabled.
// The plists are assembled (the capture names only the labels).
func TestReadDarwinPublicGUIDomain(t *testing.T) {
	src := t.TempDir()
	files := map[string]string{
		"snapshot.json": `{"os":"darwin","hostname":"mac"}`,
		"cmd/print.txt": "$ /bin/launchctl print gui/501\n" + string(readPublic(t, "pufferfish-launchctl-print-gui-501.txt")),
		"root/var/db/dslocal/nodes/Default/users/justus.plist": plistXML(`<key>name</key><array><string>justus</string></array>
<key>uid</key><array><string>501</string></array><key>home</key><array><string>/Users/justus</string></array>`),
		"root/Users/justus/Library/LaunchAgents/net.jwpconsulting.postgresql.plist": plistXML(`<key>Label</key><string>net.jwpconsulting.postgresql</string>
<key>ProgramArguments</key><array><string>/opt/homebrew/bin/postgres</string></array><key>RunAtLoad</key><true/>`),
		"root/Library/LaunchAgents/com.apple.rcd.plist": plistXML(`<key>Label</key><string>com.apple.rcd</string>
<key>Program</key><string>/System/Library/CoreServices/rcd.app/Contents/MacOS/rcd</string><key>RunAtLoad</key><true/>`),
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
	b, err := s.Format()
	if err != nil {
		t.Fatal(err)
	}
	f := filepath.Join(t.TempDir(), "s.txtar")
	if err := os.WriteFile(f, b, 0o644); err != nil {
		t.Fatal(err)
	}
	h, err := host.Open(f)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	svcs, err := readDarwin(context.Background(), h)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for _, s := range svcs {
		switch s.Name {
		case "net.jwpconsulting.postgresql":
			got[s.Name] = true
			if s.State != "running" || !s.Enabled || s.Username != "justus" {
				t.Errorf("postgresql agent: %v", s)
			}
		case "com.apple.rcd":
			got[s.Name] = true
			if s.Enabled || s.StartMode != "disabled" {
				t.Errorf("rcd, disabled in gui/501: %v", s)
			}
		}
	}
	if len(got) != 2 {
		t.Errorf("services %v: want both agents", svcs)
	}
}
