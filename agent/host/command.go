package host

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strings"
)

// MaxCommandOutput bounds what one command may print.
const MaxCommandOutput = 32 << 20

// allowed is the whole list of programs the agent may run, by absolute path
// per OS. A Windows path under C:\Windows\System32 is the recorded name;
// the live agent runs the program from the system directory that
// GetSystemDirectory names (systemPath), wherever Windows is installed. There is no PATH lookup: a program not named here cannot be run,
// and a PATH set by an attacker cannot substitute one.
func allowed(goos, name string) (string, bool) {
	table := map[string]map[string]string{
		"launchctl":       {"darwin": "/bin/launchctl"},
		"loginctl":        {"linux": "/usr/bin/loginctl"},
		"system_profiler": {"darwin": "/usr/sbin/system_profiler"},
		"ioreg":           {"darwin": "/usr/sbin/ioreg"},
		"scutil":          {"darwin": "/usr/sbin/scutil"},
		"defaults":        {"darwin": "/usr/bin/defaults"},
		"sw_vers":         {"darwin": "/usr/bin/sw_vers"},
		"netsh":           {"windows": `C:\Windows\System32\netsh.exe`},
		"netstat":         {"darwin": "/usr/sbin/netstat"},
		"ipconfig":        {"darwin": "/usr/sbin/ipconfig"},
		"wdutil":          {"darwin": "/usr/bin/wdutil"},
		"arp":             {"darwin": "/usr/sbin/arp", "windows": `C:\Windows\System32\ARP.EXE`},
		"ip":              {"linux": "/sbin/ip"},
	}
	p, ok := table[name][goos]
	return p, ok
}

// Command is one allow-listed program with its arguments.
type Command struct {
	Name string // key in the allow-list: "launchctl"
	Args []string
}

// Line is the command line as recorded in a snapshot: the absolute path
// followed by the arguments, separated by single spaces.
func (c Command) line(goos string) (string, error) {
	p, ok := allowed(goos, c.Name)
	if !ok {
		return "", fmt.Errorf("command %q is not allowed on %s", c.Name, goos)
	}
	return strings.Join(append([]string{p}, c.Args...), " "), nil
}

type runFunc func(ctx context.Context, path string, args []string) ([]byte, error)

// Run runs an allow-listed command and returns its standard output. On a
// replayed host it returns the recorded output, or ErrNotRecorded.
func (h *Host) Run(ctx context.Context, c Command) ([]byte, error) {
	line, err := c.line(h.os)
	if err != nil {
		return nil, err
	}
	if h.cmds != nil {
		out, ok := h.cmds[line]
		if !ok {
			return nil, fmt.Errorf("run %s: %w", line, ErrNotRecorded)
		}
		return out, nil
	}
	if !h.live || h.run == nil {
		return nil, fmt.Errorf("run %s: %w", line, ErrNotLive)
	}
	p, _ := allowed(h.os, c.Name)
	out, err := h.run(ctx, systemPath(p), c.Args)
	if err != nil {
		return nil, fmt.Errorf("run %s: %w", line, err)
	}
	h.rec.cmd(line, out)
	return out, nil
}

// limitedBuffer keeps at most max bytes and remembers that it overflowed.
type limitedBuffer struct {
	bytes.Buffer
	max  int
	over bool
}

func (b *limitedBuffer) Write(p []byte) (int, error) {
	if room := b.max - b.Len(); room < len(p) {
		b.over = true
		if room > 0 {
			b.Buffer.Write(p[:room])
		}
		return len(p), nil
	}
	return b.Buffer.Write(p)
}

func execRun(ctx context.Context, path string, args []string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, path, args...)
	cmd.Env = []string{"LC_ALL=C", "LANG=C"}
	stdout := &limitedBuffer{max: MaxCommandOutput}
	stderr := &limitedBuffer{max: 4096}
	cmd.Stdout, cmd.Stderr = stdout, stderr
	if err := cmd.Run(); err != nil {
		if msg := strings.TrimSpace(stderr.String()); msg != "" {
			return nil, fmt.Errorf("%w: %s", err, msg)
		}
		return nil, err
	}
	if stdout.over {
		return nil, errors.New("output larger than the limit")
	}
	return stdout.Bytes(), nil
}
