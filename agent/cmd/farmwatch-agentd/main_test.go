package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func runCmd(args ...string) (int, string, string) {
	var out, errb bytes.Buffer
	code := run(context.Background(), args, &out, &errb)
	return code, out.String(), errb.String()
}

func TestCommands(t *testing.T) {
	for _, c := range []struct {
		args   []string
		code   int
		stdout string
		stderr []string
	}{
		{[]string{"version"}, 0, "farmwatch-agentd dev\n", nil},
		{nil, 2, "", []string{"usage:", "farmwatch-agentd run"}},
		{[]string{"help"}, 0, "usage:", nil},
		// The helpdesk's commands are farmwatch-agent's, and say so.
		{[]string{"scan"}, 2, "", []string{`unknown command "scan"`, "farmwatch-agent's", "usage:"}},
		{[]string{"install"}, 2, "", []string{`unknown command "install"`}},
		{[]string{"run", "--ca", "x"}, 2, "", []string{"--ca, --enroll-secret-file and --state are required"}},
		{[]string{"run", "--bogus"}, 2, "", []string{"run: flag provided but not defined: -bogus", "usage:"}},
		{[]string{"run", "--ca", "/nonexistent/ca.crt", "--enroll-secret-file", "/nonexistent/s", "--state", "/nonexistent/state"}, 2, "", []string{"/nonexistent/ca.crt"}},
		{[]string{"run", "--config", "/nonexistent/agent.yaml"}, 2, "", []string{"config /nonexistent/agent.yaml"}},
	} {
		code, stdout, stderr := runCmd(c.args...)
		if code != c.code || !strings.HasPrefix(stdout, c.stdout) {
			t.Errorf("%q: exit %d, stdout %q; want %d, %q", c.args, code, stdout, c.code, c.stdout)
		}
		for _, w := range c.stderr {
			if !strings.Contains(stderr, w) {
				t.Errorf("%q: stderr lacks %q:\n%s", c.args, w, stderr)
			}
		}
	}
}

// TestNoTemplateExecution builds the service as make build does, with its
// symbols, and checks that it cannot execute a text/template. Template
// execution calls methods by name, so the linker keeps every exported
// method of every type in the binary: 3.7 MB more executable, and an idle
// agent 2 to 2.5 MB larger in memory (the reason farmwatch-agentd is its own
// executable: installing a service renders units with templates). Only
// farmwatch-agent may install.
func TestNoTemplateExecution(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := filepath.Join(t.TempDir(), "farmwatch-agentd")
	build := exec.Command("go", "build", "-trimpath", "-tags", "grpcnotrace", "-o", bin, ".")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	out, err := exec.Command("go", "tool", "nm", bin).Output()
	if err != nil {
		t.Fatalf("go tool nm: %v", err)
	}
	var found []string
	for _, l := range strings.Split(string(out), "\n") {
		if f := strings.Fields(l); len(f) >= 3 && strings.HasPrefix(f[2], "text/template.(*state).") {
			found = append(found, f[2])
		}
	}
	if len(found) > 0 {
		t.Fatalf("farmwatch-agentd links template execution (%d functions, e.g. %s): something it runs reaches a Template.Execute, "+
			"such as kardianos/service's Install; that belongs in farmwatch-agent", len(found), found[0])
	}
	// The check can fail: farmwatch-agent, which installs, has them.
	cli := filepath.Join(t.TempDir(), "farmwatch-agent")
	build = exec.Command("go", "build", "-trimpath", "-tags", "grpcnotrace", "-o", cli, "../..")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build farmwatch-agent: %v\n%s", err, out)
	}
	if out, err := exec.Command("go", "tool", "nm", cli).Output(); err != nil || !strings.Contains(string(out), " text/template.(*state).evalCall") {
		t.Fatalf("farmwatch-agent has no text/template.(*state).evalCall (%v): the check above checks nothing", err)
	}
}
