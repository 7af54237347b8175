package servicedef

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"howett.net/plist"
)

func TestSystemdUnit(t *testing.T) {
	u, err := SystemdUnit(Linux)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"ExecStart=/usr/sbin/farmwatch-agentd run --config /etc/farmwatch/agent.yaml\n",
		"Restart=always\n", "RestartSec=5s\n", "RestartSteps=10\n", "RestartMaxDelaySec=5min\n", "StartLimitIntervalSec=0\n",
		"ProtectSystem=strict\n", "ReadWritePaths=/var/lib/farmwatch\n", "StateDirectory=farmwatch\n", "StateDirectoryMode=0700\n",
		"NoNewPrivileges=yes\n", "PrivateTmp=yes\n", "ProtectHome=read-only\n",
		"CapabilityBoundingSet=CAP_DAC_READ_SEARCH CAP_SYS_PTRACE\n", "WantedBy=multi-user.target\n",
	} {
		if !strings.Contains(u, want) {
			t.Errorf("unit lacks %q:\n%s", want, u)
		}
	}
	// A full scan must see every process and /dev/bus/usb.
	for _, never := range []string{"ProtectProc=", "PrivateDevices=", "DevicePolicy=", "DynamicUser="} {
		if strings.Contains(u, never) {
			t.Errorf("unit has %q, which hides what the sensors read", never)
		}
	}
	other, err := SystemdUnit(Paths{Daemon: "/opt/fw/farmwatch-agentd", Config: "/opt/fw/agent.yaml", State: "/srv/fw"})
	if err != nil || strings.Contains(other, "StateDirectory") || !strings.Contains(other, "ReadWritePaths=/srv/fw\n") {
		t.Errorf("state outside /var/lib: %v\n%s", err, other)
	}
	for _, bad := range []Paths{{Daemon: "relative", Config: "/c", State: "/s"}, {Daemon: "/a b", Config: "/c", State: "/s"}, {Daemon: "/b", Config: "/c;x", State: "/s"}, {Binary: "/usr/bin/farmwatch-agent", Config: "/c", State: "/s"}} {
		if _, err := SystemdUnit(bad); err == nil {
			t.Errorf("%+v: no error", bad)
		}
	}
}

// TestSystemdVerify has systemd check the unit where systemd-analyze is
// installed.
func TestSystemdVerify(t *testing.T) {
	sa, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("systemd-analyze is not installed: the unit is checked by TestSystemdUnit only")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, Daemon)
	if err := os.WriteFile(bin, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	u, err := SystemdUnit(Paths{Daemon: bin, Config: filepath.Join(dir, "agent.yaml"), State: "/var/lib/farmwatch"})
	if err != nil {
		t.Fatal(err)
	}
	unit := filepath.Join(dir, Name+".service")
	if err := os.WriteFile(unit, []byte(u), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(sa, "verify", "--man=no", unit).CombinedOutput()
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		// Older systemd does not know the backoff keys; that is expected.
		if line == "" || strings.Contains(line, "RestartSteps") || strings.Contains(line, "RestartMaxDelaySec") {
			continue
		}
		if strings.Contains(line, Name+".service") || strings.Contains(line, "Unknown") {
			t.Errorf("systemd-analyze verify: %s", line)
		}
	}
	t.Logf("systemd-analyze verify: %v: %s", err, out)
}

func TestLaunchdPlist(t *testing.T) {
	s, err := LaunchdPlist(Darwin)
	if err != nil {
		t.Fatal(err)
	}
	var p struct {
		Label             string
		ProgramArguments  []string
		RunAtLoad         bool
		KeepAlive         bool
		ThrottleInterval  int
		Umask             int
		StandardErrorPath string
	}
	if _, err := plist.Unmarshal([]byte(s), &p); err != nil {
		t.Fatalf("%v\n%s", err, s)
	}
	want := []string{"/usr/local/bin/farmwatch-agentd", "run", "--config", "/Library/Application Support/farmwatch/agent.yaml"}
	if p.Label != Name || strings.Join(p.ProgramArguments, "|") != strings.Join(want, "|") || !p.RunAtLoad || !p.KeepAlive ||
		p.ThrottleInterval != 10 || p.Umask != 0o77 || p.StandardErrorPath != "/Library/Logs/farmwatch-agent.log" {
		t.Fatalf("plist %+v", p)
	}
	odd, _ := LaunchdPlist(Paths{Daemon: "/a&b/<agent>", Config: "/c"})
	p.ProgramArguments = nil
	if _, err := plist.Unmarshal([]byte(odd), &p); err != nil || p.ProgramArguments[0] != "/a&b/<agent>" {
		t.Fatalf("escaping: %v %q", err, p.ProgramArguments)
	}
	if _, err := LaunchdPlist(Paths{Binary: "/usr/local/bin/farmwatch-agent", Config: "/c"}); err == nil {
		t.Fatal("a plist without the daemon: no error")
	}
}

func TestWindowsRecovery(t *testing.T) {
	if len(WindowsRestartDelays) == 0 || WindowsRestartDelays[0] <= 0 || WindowsResetPeriod < WindowsRestartDelays[len(WindowsRestartDelays)-1] {
		t.Fatalf("delays %v reset %v", WindowsRestartDelays, WindowsResetPeriod)
	}
}
