package linuxpkg

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/farmwatch/farmwatch/installer/pgptest"
	"github.com/farmwatch/farmwatch/installer/version"
)

// fakeCLI and fakeDaemon stand in for farmwatch-agent and farmwatch-agentd:
// the packages' layout and scripts do not depend on what they are
// (installer/cmd/package tests the real ones). The daemon echoes its
// arguments, so that a test that runs the installed file sees which it is.
const (
	fakeCLI    = "#!/bin/sh\necho farmwatch-agent fake\n"
	fakeDaemon = "#!/bin/sh\necho \"farmwatch-agentd fake $*\"\n"
)

// fakeBinaries writes fakeCLI and fakeDaemon and returns their paths.
func fakeBinaries(t *testing.T) (cli, daemon string) {
	t.Helper()
	dir := t.TempDir()
	cli, daemon = filepath.Join(dir, "farmwatch-agent"), filepath.Join(dir, "farmwatch-agentd")
	for p, body := range map[string]string{cli: fakeCLI, daemon: fakeDaemon} {
		if err := os.WriteFile(p, []byte(body), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return cli, daemon
}

func build(t *testing.T, format, describe string, key pgptest.Key) string {
	t.Helper()
	v, err := version.Parse(describe)
	if err != nil {
		t.Fatal(err)
	}
	cli, daemon := fakeBinaries(t)
	p, err := Build(format, Options{Version: v, Arch: "amd64", Binary: cli, Daemon: daemon, Out: t.TempDir(),
		MTime: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), GPGKey: key.SecretFile, GPGPassphrase: key.Passphrase})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func need(t *testing.T, tool string) string {
	t.Helper()
	p, err := exec.LookPath(tool)
	if err != nil {
		t.Skipf("%s is not installed (.ci/run installs it): skipped", tool)
	}
	return p
}

func run(t *testing.T, env []string, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

func TestDebContents(t *testing.T) {
	need(t, "dpkg-deb")
	deb := build(t, "deb", "v1.2.3-4-gabc1234", pgptest.Key{})
	if filepath.Base(deb) != "farmwatch-agent_1.2.3+4.gabc1234_amd64.deb" {
		t.Errorf("name %s", filepath.Base(deb))
	}
	info := run(t, nil, "dpkg-deb", "--field", deb, "Package", "Version", "Architecture")
	if info != "Package: farmwatch-agent\nVersion: 1.2.3+4.gabc1234\nArchitecture: amd64\n" {
		t.Errorf("control:\n%s", info)
	}
	list := run(t, nil, "dpkg-deb", "--contents", deb)
	for _, want := range []string{
		"-rwxr-xr-x root/root", "./usr/bin/farmwatch-agent\n", "./usr/sbin/farmwatch-agentd\n",
		"-rw-r--r-- root/root", "./etc/farmwatch/agent.yaml",
		"./usr/lib/systemd/system/farmwatch-agent.service",
		"drwx------ root/root", "./var/lib/farmwatch/",
	} {
		if !strings.Contains(list, want) {
			t.Errorf("contents lack %q:\n%s", want, list)
		}
	}
	for _, l := range strings.Split(list, "\n") {
		if (strings.HasSuffix(l, "./usr/bin/farmwatch-agent") || strings.HasSuffix(l, "./usr/sbin/farmwatch-agentd")) && !strings.HasPrefix(l, "-rwxr-xr-x root/root") ||
			strings.HasSuffix(l, "./var/lib/farmwatch/") && !strings.HasPrefix(l, "drwx------ root/root") {
			t.Errorf("mode: %s", l)
		}
	}
	ctl := t.TempDir()
	run(t, nil, "dpkg-deb", "--control", deb, ctl)
	if b, _ := os.ReadFile(filepath.Join(ctl, "conffiles")); string(b) != "/etc/farmwatch/agent.yaml\n" {
		t.Errorf("conffiles %q", b)
	}
	for _, s := range []string{"postinst", "prerm", "postrm"} {
		fi, err := os.Stat(filepath.Join(ctl, s))
		if err != nil || fi.Mode().Perm() != 0o755 {
			t.Errorf("%s: %v %v", s, fi, err)
		}
	}
	x := t.TempDir()
	run(t, nil, "dpkg-deb", "--extract", deb, x)
	// Each file is the one it was given, not the other twice.
	for path, want := range map[string]string{"usr/bin/farmwatch-agent": fakeCLI, "usr/sbin/farmwatch-agentd": fakeDaemon} {
		if b, err := os.ReadFile(filepath.Join(x, path)); err != nil || string(b) != want {
			t.Errorf("%s: %v %q, want %q", path, err, b, want)
		}
	}
	unit, _ := os.ReadFile(filepath.Join(x, "usr/lib/systemd/system/farmwatch-agent.service"))
	for _, want := range []string{"\nExecStart=/usr/sbin/farmwatch-agentd run --config /etc/farmwatch/agent.yaml\n", "ProtectSystem=strict", "Restart=always"} {
		if !strings.Contains(string(unit), want) {
			t.Errorf("unit lacks %q:\n%s", want, unit)
		}
	}
}

// TestBuildNeedsBoth: a package without either executable is refused, and
// the error says which is missing.
func TestBuildNeedsBoth(t *testing.T) {
	v, _ := version.Parse("v1.2.3")
	cli, daemon := fakeBinaries(t)
	gone := filepath.Join(t.TempDir(), "farmwatch-agentd")
	for _, c := range []struct {
		o    Options
		want string
	}{
		{Options{Binary: cli}, "no Daemon (farmwatch-agentd) given"},
		{Options{Daemon: daemon}, "no Binary (farmwatch-agent) given"},
		{Options{Binary: cli, Daemon: gone}, gone},
	} {
		c.o.Version, c.o.Arch, c.o.Out = v, "amd64", t.TempDir()
		if _, err := Build("deb", c.o); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: error %v, want one with %q", c.o, err, c.want)
		}
	}
}

// TestDebLifecycle installs, removes, reinstalls, upgrades and purges the
// deb with dpkg into a throwaway root, with a fake systemctl that records
// what the maintainer scripts ask of it.
func TestDebLifecycle(t *testing.T) {
	need(t, "dpkg")
	deb := build(t, "deb", "v1.2.3", pgptest.Key{})
	deb2 := build(t, "deb", "v1.2.4", pgptest.Key{})
	root := t.TempDir()
	for _, d := range []string{"var/lib/dpkg/info", "var/lib/dpkg/updates", "run/systemd/system"} {
		os.MkdirAll(filepath.Join(root, d), 0o755)
	}
	for _, f := range []string{"var/lib/dpkg/status", "var/lib/dpkg/available"} {
		os.WriteFile(filepath.Join(root, f), nil, 0o644)
	}
	bin := t.TempDir()
	calls := filepath.Join(t.TempDir(), "systemctl.log")
	os.WriteFile(filepath.Join(bin, "systemctl"), []byte(`#!/bin/sh
echo "$*" >>"$SYSTEMCTL_LOG"
if [ "$1" = is-enabled ]; then [ -e "$SYSTEMCTL_ENABLED" ]; exit; fi
exit 0
`), 0o755)
	enabled := filepath.Join(t.TempDir(), "enabled")
	env := []string{"PATH=" + bin + ":" + os.Getenv("PATH"), "SYSTEMCTL_LOG=" + calls, "SYSTEMCTL_ENABLED=" + enabled}
	dpkg := func(args ...string) string {
		t.Helper()
		return run(t, env, "dpkg", append([]string{"--root=" + root, "--force-script-chrootless", "--force-not-root", "--log=/dev/null", "--force-confold"}, args...)...)
	}
	took := func() string {
		t.Helper()
		b, _ := os.ReadFile(calls)
		os.Remove(calls)
		return strings.TrimSpace(string(b))
	}
	conf := filepath.Join(root, "etc/farmwatch/agent.yaml")
	state := filepath.Join(root, "var/lib/farmwatch")

	// A first install without a collector enables nothing.
	out := dpkg("--install", deb)
	if got := took(); got != "daemon-reload" {
		t.Errorf("first install without a collector: systemctl %q", got)
	}
	if !strings.Contains(out, "no collector") {
		t.Errorf("first install did not say what to do:\n%s", out)
	}
	if fi, err := os.Stat(state); err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("state: %v %v", fi, err)
	}
	// The daemon the unit names is installed and runs.
	if out := run(t, nil, filepath.Join(root, "usr/sbin/farmwatch-agentd"), "version"); out != "farmwatch-agentd fake version\n" {
		t.Errorf("installed daemon: %q", out)
	}
	// Remove stops and disables; the conffile stays.
	dpkg("--remove", "farmwatch-agent")
	if got := took(); got != "disable --now farmwatch-agent.service\ndaemon-reload" {
		t.Errorf("remove: systemctl %q", got)
	}
	if _, err := os.Stat(conf); err != nil {
		t.Fatalf("remove deleted the conffile: %v", err)
	}
	// With a collector set, installing again enables and starts it.
	b, _ := os.ReadFile(conf)
	os.WriteFile(conf, append(b, []byte("collector: collector.example:7443\n")...), 0o644)
	os.WriteFile(filepath.Join(state, "node.key"), []byte("key"), 0o600)
	dpkg("--install", deb)
	if got := took(); got != "daemon-reload\nenable --now farmwatch-agent.service" {
		t.Errorf("install with a collector: systemctl %q", got)
	}
	// An upgrade restarts the enabled service and keeps config and state.
	os.WriteFile(enabled, nil, 0o644)
	dpkg("--install", deb2)
	if got := took(); got != "daemon-reload\nis-enabled --quiet farmwatch-agent.service\nrestart farmwatch-agent.service" {
		t.Errorf("upgrade: systemctl %q", got)
	}
	if b, _ := os.ReadFile(conf); !strings.Contains(string(b), "collector: collector.example:7443") {
		t.Errorf("upgrade lost the config:\n%s", b)
	}
	if _, err := os.Stat(filepath.Join(state, "node.key")); err != nil {
		t.Errorf("upgrade lost the state: %v", err)
	}
	if st := run(t, nil, "dpkg-query", "--admindir="+filepath.Join(root, "var/lib/dpkg"), "-W", "-f", "${Version}", "farmwatch-agent"); st != "1.2.4" {
		t.Errorf("installed version %q", st)
	}
	// Purge deletes state and settings.
	os.WriteFile(filepath.Join(root, "etc/farmwatch/enroll-secret"), []byte("s"), 0o600)
	dpkg("--purge", "farmwatch-agent")
	for _, p := range []string{state, filepath.Join(root, "etc/farmwatch")} {
		if _, err := os.Stat(p); !os.IsNotExist(err) {
			t.Errorf("%s after purge: %v", p, err)
		}
	}
}

func TestRPM(t *testing.T) {
	rpm := need(t, "rpm")
	p := build(t, "rpm", "v1.2.3-4-gabc1234", pgptest.Key{})
	if filepath.Base(p) != "farmwatch-agent-1.2.3-1.4.gabc1234.x86_64.rpm" {
		t.Errorf("name %s", filepath.Base(p))
	}
	q := func(args ...string) string {
		return run(t, nil, rpm, append([]string{"-qp", "--nosignature", "--nodigest"}, append(args, p)...)...)
	}
	if got := q("--qf", "%{NAME} %{VERSION} %{RELEASE} %{ARCH}"); got != "farmwatch-agent 1.2.3 1.4.gabc1234 x86_64" {
		t.Errorf("header %q", got)
	}
	if got := q("-l"); got != "/etc/farmwatch\n/etc/farmwatch/agent.yaml\n/usr/bin/farmwatch-agent\n/usr/lib/systemd/system/farmwatch-agent.service\n/usr/sbin/farmwatch-agentd\n/var/lib/farmwatch\n" {
		t.Errorf("files:\n%s", got)
	}
	if got := q("-c"); got != "/etc/farmwatch/agent.yaml\n" {
		t.Errorf("config files %q", got)
	}
	// --dump: path size mtime digest mode owner group isconfig isdoc ...
	modes := map[string]string{}
	for _, l := range strings.Split(strings.TrimSpace(q("--dump")), "\n") {
		f := strings.Fields(l)
		modes[f[0]] = f[4] + " " + f[5] + ":" + f[6]
	}
	for path, want := range map[string]string{"/usr/bin/farmwatch-agent": "0100755 root:root", "/usr/sbin/farmwatch-agentd": "0100755 root:root",
		"/var/lib/farmwatch": "040700 root:root", "/etc/farmwatch/agent.yaml": "0100644 root:root"} {
		if modes[path] != want {
			t.Errorf("%s: %q, want %q", path, modes[path], want)
		}
	}
	scripts := q("--scripts")
	for _, want := range []string{"postinstall scriptlet", "systemctl enable --now farmwatch-agent.service", "preuninstall scriptlet", "systemctl disable --now", "postuninstall scriptlet", "try-restart"} {
		if !strings.Contains(scripts, want) {
			t.Errorf("scripts lack %q:\n%s", want, scripts)
		}
	}
	if q("--qf", "%{SIGPGP:pgpsig}") != "(none)" {
		t.Error("an unsigned rpm has a signature")
	}
}

// TestSigned builds signed packages with a throwaway key and verifies
// them: the deb's _gpgorigin with gpg, the rpm with rpm -K.
func TestSigned(t *testing.T) {
	need(t, "gpg")
	key := pgptest.New(t)
	deb := build(t, "deb", "v1.2.3", key)
	members := arMembers(t, deb)
	sig, ok := members["_gpgorigin"]
	if !ok {
		t.Fatalf("no _gpgorigin in the deb: %v", keys(members))
	}
	var signed bytes.Buffer
	for _, m := range []string{"debian-binary", "control.tar.gz", "data.tar.gz"} {
		signed.Write(members[m])
	}
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "sig"), sig, 0o644)
	os.WriteFile(filepath.Join(dir, "data"), signed.Bytes(), 0o644)
	out := run(t, key.Env, "gpg", "--verify", filepath.Join(dir, "sig"), filepath.Join(dir, "data"))
	if !strings.Contains(out, "Good signature") {
		t.Errorf("deb signature:\n%s", out)
	}
	signed.WriteString("x")
	os.WriteFile(filepath.Join(dir, "data"), signed.Bytes(), 0o644)
	if err := exec.Command("gpg", "--homedir", key.Home, "--verify", filepath.Join(dir, "sig"), filepath.Join(dir, "data")).Run(); err == nil {
		t.Error("a changed deb verified")
	}

	if _, err := exec.LookPath("rpmkeys"); err != nil {
		t.Skip("rpmkeys is not installed: the rpm signature is not checked")
	}
	rpm := build(t, "rpm", "v1.2.3", key)
	db := t.TempDir()
	run(t, nil, "rpmkeys", "--dbpath", db, "--import", key.PublicFile)
	out = run(t, nil, "rpmkeys", "--dbpath", db, "--checksig", rpm)
	if !strings.Contains(out, "signatures OK") {
		t.Errorf("rpm -K: %s", out)
	}
	other := t.TempDir()
	if out, err := exec.Command("rpmkeys", "--dbpath", other, "--checksig", rpm).CombinedOutput(); err == nil {
		t.Errorf("rpm verified without the key: %s", out)
	}
}

func keys(m map[string][]byte) []string {
	var k []string
	for n := range m {
		k = append(k, n)
	}
	return k
}

// arMembers reads an ar archive (a deb): "!<arch>\n", then per member a
// 60-byte header (name 16, mtime 12, owner 6, group 6, mode 8, size 10,
// "`\n") and the data, padded to an even length.
func arMembers(t *testing.T, path string) map[string][]byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(b, []byte("!<arch>\n")) {
		t.Fatal("not an ar archive")
	}
	m := map[string][]byte{}
	for off := 8; off+60 <= len(b); {
		h := b[off : off+60]
		name := strings.TrimRight(strings.TrimSpace(string(h[:16])), "/")
		var size int
		for _, c := range strings.TrimSpace(string(h[48:58])) {
			size = size*10 + int(c-'0')
		}
		off += 60
		m[name] = b[off : off+size]
		off += size + size%2
	}
	return m
}
