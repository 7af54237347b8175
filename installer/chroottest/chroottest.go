// Package chroottest makes a throwaway root for the packages' tests to run
// maintainer scripts in, chrooted, so that the absolute paths a script uses
// (/bin/launchctl, /etc/farmwatch, /usr/bin/systemctl) land in the tree:
// this host's tools are copied in with the libraries ldd names, and fakes
// (shell scripts) log what they are asked to /calls. It needs root and the
// chroot and mknod commands; without them the test is skipped.
package chroottest

import (
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// Root is a throwaway root directory.
type Root struct {
	t   testing.TB
	Dir string // the root on this host
}

// New makes a root with /bin/sh (this host's dash), /dev/null, an
// /etc/passwd and /etc/group that know root, wheel and admin, and empty
// /tmp and /run; the test is skipped where that cannot be done.
func New(t testing.TB) *Root {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("not root: the scripts are not run in a chroot")
	}
	for _, tool := range []string{"chroot", "mknod", "ldd", "dash"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s is not installed: the scripts are not run in a chroot", tool)
		}
	}
	r := &Root{t: t, Dir: t.TempDir()}
	os.MkdirAll(r.Path("dev"), 0o755)
	if out, err := exec.Command("mknod", "-m", "0666", r.Path("dev/null"), "c", "1", "3").CombinedOutput(); err != nil {
		t.Skipf("mknod /dev/null: %v %s: the scripts are not run in a chroot", err, out)
	}
	for _, d := range []string{"tmp", "run"} {
		os.MkdirAll(r.Path(d), 0o755)
	}
	r.Tool("dash", "/bin/sh")
	r.Put("etc/passwd", 0o644, []byte("root:x:0:0:root:/root:/bin/sh\n"))
	r.Put("etc/group", 0o644, []byte("root:x:0:\nwheel:x:0:root\nadmin:x:80:root\n"))
	return r
}

// Path is name (slash-separated, relative to the root) on this host.
func (r *Root) Path(name string) string {
	return filepath.Join(r.Dir, filepath.FromSlash(strings.TrimPrefix(name, "/")))
}

// Put writes a file (or makes a directory, for a directory mode) at name,
// with its parents.
func (r *Root) Put(name string, mode fs.FileMode, data []byte) {
	r.t.Helper()
	p := r.Path(name)
	if mode.IsDir() {
		if err := os.MkdirAll(p, mode.Perm()); err != nil {
			r.t.Fatal(err)
		}
		return
	}
	os.MkdirAll(filepath.Dir(p), 0o755)
	if err := os.WriteFile(p, data, mode.Perm()); err != nil {
		r.t.Fatal(err)
	}
}

// Fake writes a shell script at name; it may log to /calls.
func (r *Root) Fake(name, body string) {
	r.Put(name, 0o755, []byte("#!/bin/sh\n"+body))
}

var lddPath = regexp.MustCompile(`(?m)(/\S+) \(0x`)

// Tool copies this host's tool to at, with the libraries ldd names for it;
// the test is skipped when the host lacks it.
func (r *Root) Tool(name, at string) {
	r.t.Helper()
	host, err := exec.LookPath(name)
	if err != nil {
		r.t.Skipf("%s is not installed: the scripts are not run in a chroot", name)
	}
	out, _ := exec.Command("ldd", host).Output() // a static binary makes ldd fail
	files := map[string]string{host: at}
	for _, m := range lddPath.FindAllStringSubmatch(string(out), -1) {
		files[m[1]] = m[1]
	}
	for from, to := range files {
		b, err := os.ReadFile(from)
		if err != nil {
			r.t.Fatal(err)
		}
		r.Put(to, 0o755, b)
	}
}

// Run runs a command chrooted in the root, from /, with only env in its
// environment, and returns its output and what the fakes logged to /calls
// meanwhile; a failing command fails the test.
func (r *Root) Run(env []string, name string, args ...string) (out, calls string) {
	r.t.Helper()
	os.Remove(r.Path("calls"))
	cmd := exec.Command("chroot", append([]string{r.Dir, name}, args...)...)
	cmd.Env = env
	b, err := cmd.CombinedOutput()
	if err != nil {
		r.t.Fatalf("%s %v in a chroot: %v\n%s", name, args, err, b)
	}
	return string(b), r.Calls()
}

// Calls is what the fakes logged to /calls, trimmed, and forgets it.
func (r *Root) Calls() string {
	c, _ := os.ReadFile(r.Path("calls"))
	os.Remove(r.Path("calls"))
	return strings.TrimSpace(string(c))
}
