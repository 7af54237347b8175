package macpkg

import (
	"os"
	"strings"
	"testing"

	"github.com/farmwatch/farmwatch/installer/chroottest"
	"github.com/farmwatch/farmwatch/installer/xar"
)

// sandbox unpacks the package's payload and scripts into a throwaway root,
// with this host's grep and file tools at the paths macOS has them, and
// fakes that log to /calls for what only macOS has (launchctl, defaults,
// pkgutil) and for the agent.
func sandbox(t *testing.T) *chroottest.Root {
	t.Helper()
	r := chroottest.New(t)
	p, _ := build(t, "arm64")
	b, _ := os.ReadFile(p)
	a, err := xar.Read(b)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range gunzipCpio(t, a.Lookup("farmwatch-agent.pkg/Payload").Data) {
		r.Put(e.Name, e.Mode, e.Data)
	}
	for _, e := range gunzipCpio(t, a.Lookup("farmwatch-agent.pkg/Scripts").Data) {
		r.Put("scripts/"+e.Name, e.Mode, e.Data)
	}
	for host, at := range map[string]string{"grep": "/usr/bin/grep", "mkdir": "/bin/mkdir", "chmod": "/bin/chmod",
		"chown": "/usr/sbin/chown", "rm": "/bin/rm"} {
		r.Tool(host, at)
	}
	r.Fake("bin/launchctl", `echo "launchctl $*" >>/calls
[ "$1" != print ] || [ -e /loaded ]
`)
	r.Fake("usr/bin/defaults", `[ "$1" = read ] && [ -f "/defaults/$3" ] || exit 1
read -r v <"/defaults/$3"; echo "$v"
`)
	r.Fake("usr/sbin/pkgutil", `echo "pkgutil $*" >>/calls
`)
	// The agent's configure writes the collector it is given.
	r.Fake("usr/local/bin/farmwatch-agent", `echo "agent $1 $5 $7 $9" >>/calls
[ "$1" = configure ] && [ "$2" = --config ] && [ "$4" = --collector ] || exit 1
echo "collector: $5" >"$3"
`)
	return r
}

// run runs a script of the package in the sandbox, with no PATH: the
// scripts name every command by its path.
func run(r *chroottest.Root, script string, args ...string) (out, calls string) {
	return r.Run([]string{"PATH=/nonexistent"}, "/bin/sh", append([]string{script}, args...)...)
}

// installer runs pre- and postinstall with the arguments of macOS's
// installer: the package, the destination, the target volume and its root.
func installerArgs(volume string) []string {
	return []string{"/tmp/farmwatch-agent.pkg", "/", volume, volume}
}

// TestScriptsInSandbox runs the pkg's postinstall, preinstall and
// uninstall.sh, as the package carries them, in a chroot: a first install
// without settings loads nothing and says what to do; the settings of an
// MDM profile configure the agent and load the daemon; another volume is
// left alone; an upgrade stops the running agent; uninstall removes the
// files, keeps or purges the settings and forgets the receipt.
func TestScriptsInSandbox(t *testing.T) {
	s := sandbox(t)
	const (
		dir   = "Library/Application Support/farmwatch"
		plist = "/Library/LaunchDaemons/farmwatch-agent.plist"
	)
	os.Chmod(s.Path(plist), 0o600)

	out, calls := run(s, "/scripts/postinstall", installerArgs("/")...)
	if calls != "" || !strings.Contains(out, "no collector in /"+dir+"/agent.yaml") {
		t.Errorf("install without settings: calls %q, output %q", calls, out)
	}
	if fi, err := os.Stat(s.Path(dir + "/state")); err != nil {
		t.Error(err)
	} else if fi.Mode().Perm() != 0o700 {
		t.Errorf("state: %v, want drwx------", fi.Mode())
	}
	if fi, err := os.Stat(s.Path(plist)); err != nil {
		t.Error(err)
	} else if fi.Mode().Perm() != 0o644 {
		t.Errorf("plist: %v, want -rw-r--r--", fi.Mode())
	}

	if _, calls := run(s, "/scripts/postinstall", installerArgs("/Volumes/Other")...); calls != "" {
		t.Errorf("another volume: calls %q", calls)
	}

	s.Put("Library/Managed Preferences/com.farmwatch.agent.plist", 0o644, []byte("<plist/>"))
	for k, v := range map[string]string{"Collector": "collector.example:7443", "CAPEM": "MIIB", "EnrollSecret": "s3cret"} {
		s.Put("defaults/"+k, 0o644, []byte(v+"\n"))
	}
	_, calls = run(s, "/scripts/postinstall", installerArgs("/")...)
	want := "agent configure collector.example:7443 MIIB s3cret\n" +
		"launchctl bootout system/farmwatch-agent\nlaunchctl enable system/farmwatch-agent\nlaunchctl bootstrap system " + plist
	if calls != want {
		t.Errorf("install with an MDM profile: calls\n%s\nwant\n%s", calls, want)
	}

	if _, calls := run(s, "/scripts/preinstall", installerArgs("/")...); calls != "launchctl print system/farmwatch-agent" {
		t.Errorf("preinstall, not loaded: calls %q", calls)
	}
	s.Put("loaded", 0o644, nil)
	if _, calls := run(s, "/scripts/preinstall", installerArgs("/")...); calls != "launchctl print system/farmwatch-agent\nlaunchctl bootout system/farmwatch-agent" {
		t.Errorf("upgrade: calls %q", calls)
	}

	if fi, err := os.Stat(s.Path("usr/local/bin/farmwatch-agentd")); err != nil || fi.Mode().Perm() != 0o755 {
		t.Fatalf("the daemon before uninstall: %v %v", fi, err)
	}
	uninstall, err := os.ReadFile(s.Path(dir + "/uninstall.sh"))
	if err != nil {
		t.Fatal(err)
	}
	_, calls = run(s, "/"+dir+"/uninstall.sh")
	if calls != "launchctl bootout system/farmwatch-agent\npkgutil --forget com.farmwatch.agent" {
		t.Errorf("uninstall: calls %q", calls)
	}
	for _, gone := range []string{plist, "usr/local/bin/farmwatch-agent", "usr/local/bin/farmwatch-agentd", "private/etc/newsyslog.d/farmwatch-agent.conf", dir + "/uninstall.sh"} {
		if _, err := os.Stat(s.Path(gone)); !os.IsNotExist(err) {
			t.Errorf("uninstall left %s: %v", gone, err)
		}
	}
	if _, err := os.Stat(s.Path(dir + "/agent.yaml")); err != nil {
		t.Errorf("uninstall without --purge removed the settings: %v", err)
	}
	s.Put("Library/Logs/farmwatch-agent.log.0", 0o644, nil)
	s.Put("tmp/uninstall.sh", 0o755, uninstall)
	run(s, "/tmp/uninstall.sh", "--purge")
	for _, gone := range []string{dir, "Library/Logs/farmwatch-agent.log.0"} {
		if _, err := os.Stat(s.Path(gone)); !os.IsNotExist(err) {
			t.Errorf("purge left %s: %v", gone, err)
		}
	}
}
