package linuxpkg

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/farmwatch/farmwatch/installer/chroottest"
	"github.com/farmwatch/farmwatch/installer/pgptest"
)

// TestRPMLifecycle installs, reinstalls, upgrades and erases the rpm with
// rpm --root into a chroot, where rpm runs the scriptlets with this host's
// sh, grep, mkdir and chmod and a fake systemctl that records what they ask
// of it.
func TestRPMLifecycle(t *testing.T) {
	rpmBin := need(t, "rpm")
	r := chroottest.New(t)
	for _, tool := range []string{"grep", "mkdir", "chmod"} {
		r.Tool(tool, "/usr/bin/"+tool)
	}
	r.Put("run/systemd/system", fs.ModeDir|0o755, nil)
	r.Fake("usr/bin/systemctl", `echo "$*" >>/calls
if [ "$1" = is-enabled ]; then [ -e /enabled ]; exit; fi
exit 0
`)
	v1 := build(t, "rpm", "v1.2.3", pgptest.Key{})
	v2 := build(t, "rpm", "v1.2.4", pgptest.Key{})
	rpm := func(args ...string) (out, calls string) {
		t.Helper()
		out = run(t, nil, rpmBin, append([]string{"--root", r.Dir, "--dbpath", "/var/lib/rpm", "--nodeps", "--nosignature"}, args...)...)
		return out, r.Calls()
	}
	conf := r.Path("etc/farmwatch/agent.yaml")
	state := r.Path("var/lib/farmwatch")

	// A first install without a collector enables nothing and says so.
	out, calls := rpm("-i", v1)
	if calls != "daemon-reload" || !strings.Contains(out, "no collector") {
		t.Errorf("first install without a collector: systemctl %q, output:\n%s", calls, out)
	}
	if fi, err := os.Stat(state); err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("state: %v %v", fi, err)
	}
	if b, err := os.ReadFile(r.Path("usr/bin/farmwatch-agent")); err != nil || string(b) != fakeCLI {
		t.Errorf("agent: %v %q", err, b)
	}
	// The daemon the unit names is installed and runs in the root.
	if out, _ := r.Run(nil, "/usr/sbin/farmwatch-agentd", "version"); out != "farmwatch-agentd fake version\n" {
		t.Errorf("installed daemon: %q", out)
	}
	// An erase stops and disables it.
	if _, calls := rpm("-e", "farmwatch-agent"); calls != "disable --now farmwatch-agent.service\ndaemon-reload" {
		t.Errorf("erase: systemctl %q", calls)
	}
	// Settings placed before the install (the silent way) are kept, and
	// with a collector the install enables and starts the agent.
	r.Put("etc/farmwatch/agent.yaml", 0o600, []byte("collector: collector.example:7443\n"))
	if _, calls := rpm("-i", v1); calls != "daemon-reload\nenable --now farmwatch-agent.service" {
		t.Errorf("install with a collector: systemctl %q", calls)
	}
	if b, _ := os.ReadFile(conf); string(b) != "collector: collector.example:7443\n" {
		t.Errorf("install replaced the settings:\n%s", b)
	}
	// An upgrade restarts it (the old package's %postun) and keeps
	// settings and state.
	os.WriteFile(filepath.Join(state, "node.key"), []byte("key"), 0o600)
	if _, calls := rpm("-U", v2); calls != "daemon-reload\ndaemon-reload\ntry-restart farmwatch-agent.service" {
		t.Errorf("upgrade: systemctl %q", calls)
	}
	if q := run(t, nil, rpmBin, "--root", r.Dir, "--dbpath", "/var/lib/rpm", "-q", "--qf", "%{VERSION}", "farmwatch-agent"); q != "1.2.4" {
		t.Errorf("installed version %q", q)
	}
	if b, _ := os.ReadFile(conf); string(b) != "collector: collector.example:7443\n" {
		t.Errorf("upgrade replaced the settings:\n%s", b)
	}
	// rpm has no purge: an erase keeps the identity and the changed settings.
	rpm("-e", "farmwatch-agent")
	if _, err := os.Stat(filepath.Join(state, "node.key")); err != nil {
		t.Errorf("erase deleted the state: %v", err)
	}
	for _, p := range []string{"usr/bin/farmwatch-agent", "usr/sbin/farmwatch-agentd"} {
		if _, err := os.Stat(r.Path(p)); !os.IsNotExist(err) {
			t.Errorf("erase left %s: %v", p, err)
		}
	}
}
