package macpkg

import (
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"

	"github.com/farmwatch/farmwatch/installer/xar"
)

// sandbox is a throwaway root that the package's payload and scripts are
// unpacked into, with this host's sh, grep and file tools at the paths
// macOS has them, and fakes that log to /calls for what only macOS has
// (launchctl, defaults, pkgutil) and for the agent.
type sandbox struct {
	t    *testing.T
	root string
}

// newSandbox needs root: the scripts run chrooted, so that their absolute
// paths (/bin/launchctl, /Library/...) land in the sandbox.
func newSandbox(t *testing.T) *sandbox {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("not root: the pkg's scripts are not run in a chroot")
	}
	for _, tool := range []string{"ldd", "dash", "grep", "mkdir", "chmod", "chown", "rm"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s is not installed: the pkg's scripts are not run", tool)
		}
	}
	s := &sandbox{t: t, root: t.TempDir()}
	p, _ := build(t, "arm64")
	b, _ := os.ReadFile(p)
	a, err := xar.Read(b)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range gunzipCpio(t, a.Lookup("farmwatch-agent.pkg/Payload").Data) {
		s.put(e.Name, e.Mode, e.Data)
	}
	for _, e := range gunzipCpio(t, a.Lookup("farmwatch-agent.pkg/Scripts").Data) {
		s.put("scripts/"+e.Name, e.Mode, e.Data)
	}
	for host, at := range map[string]string{"dash": "/bin/sh", "grep": "/usr/bin/grep", "mkdir": "/bin/mkdir",
		"chmod": "/bin/chmod", "chown": "/usr/sbin/chown", "rm": "/bin/rm"} {
		s.copyTool(host, at)
	}
	os.MkdirAll(s.path("dev"), 0o755)
	if err := syscall.Mknod(s.path("dev/null"), syscall.S_IFCHR|0o666, 1<<8|3); err != nil {
		t.Skipf("mknod /dev/null: %v: the pkg's scripts are not run", err)
	}
	s.put("etc/passwd", 0o644, []byte("root:x:0:0:root:/var/root:/bin/sh\n"))
	s.put("etc/group", 0o644, []byte("wheel:x:0:root\nadmin:x:80:root\n"))
	fake := func(at, body string) { s.put(at, 0o755, []byte("#!/bin/sh\n"+body)) }
	fake("bin/launchctl", `echo "launchctl $*" >>/calls
[ "$1" != print ] || [ -e /loaded ]
`)
	fake("usr/bin/defaults", `[ "$1" = read ] && [ -f "/defaults/$3" ] || exit 1
read -r v <"/defaults/$3"; echo "$v"
`)
	fake("usr/sbin/pkgutil", `echo "pkgutil $*" >>/calls
`)
	// The agent's configure writes the collector it is given.
	fake("usr/local/bin/farmwatch-agent", `echo "agent $1 $5 $7 $9" >>/calls
[ "$1" = configure ] && [ "$2" = --config ] && [ "$4" = --collector ] || exit 1
echo "collector: $5" >"$3"
`)
	return s
}

func (s *sandbox) path(p string) string { return filepath.Join(s.root, filepath.FromSlash(p)) }

func (s *sandbox) put(name string, mode fs.FileMode, data []byte) {
	s.t.Helper()
	p := s.path(name)
	if mode.IsDir() {
		if err := os.MkdirAll(p, mode.Perm()); err != nil {
			s.t.Fatal(err)
		}
		return
	}
	os.MkdirAll(filepath.Dir(p), 0o755)
	if err := os.WriteFile(p, data, mode.Perm()); err != nil {
		s.t.Fatal(err)
	}
}

var lddPath = regexp.MustCompile(`(?m)(/\S+) \(0x`)

// copyTool copies this host's tool, and the libraries ldd names for it,
// into the sandbox.
func (s *sandbox) copyTool(name, at string) {
	s.t.Helper()
	host, _ := exec.LookPath(name)
	out, _ := exec.Command("ldd", host).Output() // a static binary makes ldd fail
	files := map[string]string{host: at}
	for _, m := range lddPath.FindAllStringSubmatch(string(out), -1) {
		files[m[1]] = m[1]
	}
	for from, to := range files {
		b, err := os.ReadFile(from)
		if err != nil {
			s.t.Fatal(err)
		}
		s.put(to, 0o755, b)
	}
}

// run runs a script of the package chrooted in the sandbox and returns its
// output and what it asked of the fakes.
func (s *sandbox) run(script string, args ...string) (out, calls string) {
	s.t.Helper()
	os.Remove(s.path("calls"))
	cmd := exec.Command("/bin/sh", append([]string{script}, args...)...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Chroot: s.root}
	cmd.Dir = "/"
	cmd.Env = []string{"PATH=/nonexistent"} // the scripts name every command by its path
	b, err := cmd.CombinedOutput()
	if err != nil {
		s.t.Fatalf("%s %v: %v\n%s", script, args, err, b)
	}
	c, _ := os.ReadFile(s.path("calls"))
	return string(b), strings.TrimSpace(string(c))
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
	s := newSandbox(t)
	const (
		dir   = "Library/Application Support/farmwatch"
		plist = "/Library/LaunchDaemons/farmwatch-agent.plist"
	)
	os.Chmod(s.path(plist), 0o600)

	out, calls := s.run("/scripts/postinstall", installerArgs("/")...)
	if calls != "" || !strings.Contains(out, "no collector in /"+dir+"/agent.yaml") {
		t.Errorf("install without settings: calls %q, output %q", calls, out)
	}
	if fi, err := os.Stat(s.path(dir + "/state")); err != nil {
		t.Error(err)
	} else if fi.Mode().Perm() != 0o700 {
		t.Errorf("state: %v, want drwx------", fi.Mode())
	}
	if fi, err := os.Stat(s.path(plist)); err != nil {
		t.Error(err)
	} else if fi.Mode().Perm() != 0o644 || fi.Sys().(*syscall.Stat_t).Uid != 0 {
		t.Errorf("plist: %v uid %d, want -rw-r--r-- root", fi.Mode(), fi.Sys().(*syscall.Stat_t).Uid)
	}

	if _, calls := s.run("/scripts/postinstall", installerArgs("/Volumes/Other")...); calls != "" {
		t.Errorf("another volume: calls %q", calls)
	}

	s.put("Library/Managed Preferences/com.farmwatch.agent.plist", 0o644, []byte("<plist/>"))
	for k, v := range map[string]string{"Collector": "collector.example:7443", "CAPEM": "MIIB", "EnrollSecret": "s3cret"} {
		s.put("defaults/"+k, 0o644, []byte(v+"\n"))
	}
	_, calls = s.run("/scripts/postinstall", installerArgs("/")...)
	want := "agent configure collector.example:7443 MIIB s3cret\n" +
		"launchctl bootout system/farmwatch-agent\nlaunchctl enable system/farmwatch-agent\nlaunchctl bootstrap system " + plist
	if calls != want {
		t.Errorf("install with an MDM profile: calls\n%s\nwant\n%s", calls, want)
	}

	if _, calls := s.run("/scripts/preinstall", installerArgs("/")...); calls != "launchctl print system/farmwatch-agent" {
		t.Errorf("preinstall, not loaded: calls %q", calls)
	}
	s.put("loaded", 0o644, nil)
	if _, calls := s.run("/scripts/preinstall", installerArgs("/")...); calls != "launchctl print system/farmwatch-agent\nlaunchctl bootout system/farmwatch-agent" {
		t.Errorf("upgrade: calls %q", calls)
	}

	uninstall, err := os.ReadFile(s.path(dir + "/uninstall.sh"))
	if err != nil {
		t.Fatal(err)
	}
	_, calls = s.run("/" + dir + "/uninstall.sh")
	if calls != "launchctl bootout system/farmwatch-agent\npkgutil --forget com.farmwatch.agent" {
		t.Errorf("uninstall: calls %q", calls)
	}
	for _, gone := range []string{plist, "usr/local/bin/farmwatch-agent", "private/etc/newsyslog.d/farmwatch-agent.conf", dir + "/uninstall.sh"} {
		if _, err := os.Stat(s.path(gone)); !os.IsNotExist(err) {
			t.Errorf("uninstall left %s: %v", gone, err)
		}
	}
	if _, err := os.Stat(s.path(dir + "/agent.yaml")); err != nil {
		t.Errorf("uninstall without --purge removed the settings: %v", err)
	}
	s.put("Library/Logs/farmwatch-agent.log.0", 0o644, nil)
	s.put("tmp/uninstall.sh", 0o755, uninstall)
	s.run("/tmp/uninstall.sh", "--purge")
	for _, gone := range []string{dir, "Library/Logs/farmwatch-agent.log.0"} {
		if _, err := os.Stat(s.path(gone)); !os.IsNotExist(err) {
			t.Errorf("purge left %s: %v", gone, err)
		}
	}
}
