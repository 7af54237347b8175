package main

import (
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/farmwatch/farmwatch/agent/daemon"
	"github.com/farmwatch/farmwatch/agent/resident"
	"github.com/farmwatch/farmwatch/agent/statefile"
	"github.com/farmwatch/farmwatch/agent/wiring"
	"github.com/farmwatch/farmwatch/installer/servicedef"
	"github.com/farmwatch/farmwatch/report"
	"github.com/kardianos/service"
	"go.yaml.in/yaml/v3"
)

// serviceName is the name the service manager knows the agent by
// (systemd unit, launchd label, Windows service).
const serviceName = servicedef.Name

// defaultConfigPath is where install writes the service's config.
func defaultConfigPath() string {
	switch runtime.GOOS {
	case "windows":
		return servicedef.Windows.Config
	case "darwin":
		return servicedef.Darwin.Config
	}
	return servicedef.Linux.Config
}

// defaultStateDir is where an installed agent keeps its identity and state.
func defaultStateDir() string {
	switch runtime.GOOS {
	case "windows":
		return servicedef.Windows.State
	case "darwin":
		return servicedef.Darwin.State
	}
	return servicedef.Linux.State
}

// findDaemon is the farmwatch-agentd that install has the service run: the
// one beside this executable (make build, an unpacked release), else the
// package's (servicedef: /usr/sbin beside /usr/bin on Linux). It must
// exist: a service that cannot start is worse than an install that says
// why.
func findDaemon() (string, error) {
	exe, err := os.Executable()
	if err != nil {
		return "", err
	}
	return daemonFor(exe, packagedPaths())
}

// packagedPaths are where the packages put the agent on this OS.
func packagedPaths() servicedef.Paths {
	switch runtime.GOOS {
	case "windows":
		return servicedef.Windows
	case "darwin":
		return servicedef.Darwin
	}
	return servicedef.Linux
}

// daemonFor finds the daemon for the farmwatch-agent at exe: beside it, or
// where the package put it when exe is where the package put the command.
func daemonFor(exe string, pkg servicedef.Paths) (string, error) {
	name := servicedef.Daemon
	if strings.EqualFold(filepath.Ext(exe), ".exe") {
		name += ".exe"
	}
	try := []string{filepath.Join(filepath.Dir(exe), name)}
	if exe == pkg.Binary && pkg.Daemon != try[0] {
		try = append(try, pkg.Daemon)
	}
	for _, d := range try {
		fi, err := os.Stat(d)
		if err != nil {
			continue
		}
		if fi.IsDir() || (runtime.GOOS != "windows" && fi.Mode()&0o111 == 0) {
			return "", fmt.Errorf("the service's executable %s is not an executable file", d)
		}
		return d, nil
	}
	return "", fmt.Errorf("the service's executable is missing: looked for %s; install it beside %s (make build builds both)", strings.Join(try, " and "), exe)
}

// installTemplates sets what install writes: the service's executable
// (farmwatch-agentd, for every manager) and, on Linux and macOS,
// servicedef's systemd unit and launchd plist, as the packages install.
func installTemplates(c *service.Config, daemonPath, state string) error {
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	c.Executable = daemonPath
	p := servicedef.Paths{Binary: exe, Daemon: daemonPath, Config: c.Arguments[len(c.Arguments)-1], State: state}
	switch runtime.GOOS {
	case "linux":
		u, err := servicedef.SystemdUnit(p)
		if err != nil {
			return err
		}
		c.Option["SystemdScript"] = u
	case "darwin":
		p.Log = servicedef.Darwin.Log
		pl, err := servicedef.LaunchdPlist(p)
		if err != nil {
			return err
		}
		c.Option["LaunchdConfig"] = pl
	}
	return nil
}

// control is the service as this command sees it: it installs, starts,
// stops and asks about the service, and never runs it (farmwatch-agentd
// does, agent/daemon).
type control struct{}

func (control) Start(service.Service) error {
	return errors.New("farmwatch-agent does not run as the service: farmwatch-agentd does")
}
func (control) Stop(service.Service) error { return nil }

// writeServiceConfig writes the settings of an installed agent.
func writeServiceConfig(path string, c wiring.Config) error {
	b, err := yaml.Marshal(c)
	if err != nil {
		return err
	}
	if err := mkdirConfig(filepath.Dir(path)); err != nil {
		return err
	}
	head := []byte("# farmwatch agent settings, written by `farmwatch-agent install` or `configure`.\n")
	if err := statefile.Write(path, append(head, b...)); err != nil {
		return fmt.Errorf("config %s: %w", path, err)
	}
	return nil
}

// mkdirConfig creates the config directory. On Windows it gets the state
// directory's DACL, since it holds the enroll secret and C:\ProgramData
// lets Users read; on Unix it is 0755, with the secret in a 0600 file.
func mkdirConfig(dir string) error {
	if runtime.GOOS == "windows" {
		return statefile.MkdirPrivate(dir)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("config %s: %w", dir, err)
	}
	return nil
}

// cmdService installs, removes, starts, stops, configures or reports the
// service.
//
//	farmwatch-agent install --collector ADDR --ca FILE --enroll-secret-file FILE [--state DIR] [--interval D] [--config PATH]
//	farmwatch-agent configure [--collector ADDR] [--ca FILE | --ca-pem PEM] [--enroll-secret S | --enroll-secret-file FILE] [--state DIR] [--interval D] [--config PATH]
//	farmwatch-agent uninstall|start|stop [--config PATH]
//	farmwatch-agent status [--config PATH] [--state DIR]
//	farmwatch-agent purge [--config PATH]
func cmdService(action string, args []string, stdout, stderr io.Writer) (int, error) {
	fs := wiring.NewFlags(action)
	configPath := fs.String("config", defaultConfigPath(), "the service's config file")
	collector := fs.String("collector", "", "install, configure: the collector's address")
	ca := fs.String("ca", "", "install, configure: the collector's CA certificate")
	caPEM := fs.String("ca-pem", "", "configure: the collector's CA certificate itself (PEM, its lines joined by spaces, or base64)")
	secret := fs.String("enroll-secret-file", "", "install, configure: the fleet's enroll secret")
	secretValue := fs.String("enroll-secret", "", "configure: the fleet's enroll secret itself")
	state := fs.String("state", "", "install, configure, status: the agent's state directory (default "+defaultStateDir()+")")
	interval := fs.Duration("interval", 0, "install, configure: time between scans (default 1m)")
	if err := wiring.Parse(fs, args); err != nil {
		return wiring.ExitError, err
	}
	switch action {
	case "configure":
		return configure(*configPath, configureArgs{collector: *collector, caFile: *ca, caPEM: *caPEM,
			secretFile: *secret, secret: *secretValue, state: *state, interval: *interval}, stdout)
	case "purge":
		return purge(*configPath, stdout)
	}
	sc := daemon.ServiceConfig(*configPath)
	s, err := service.New(control{}, sc)
	if err != nil {
		return wiring.ExitError, fmt.Errorf("%s: %w", action, err)
	}
	switch action {
	case "install":
		if *collector == "" || *ca == "" || *secret == "" {
			return wiring.ExitError, wiring.UsageError{Msg: "install: --collector, --ca and --enroll-secret-file are required"}
		}
		for _, f := range []string{*ca, *secret} {
			if _, err := os.Stat(f); err != nil {
				return wiring.ExitError, fmt.Errorf("install: %w", err)
			}
		}
		if *state == "" {
			*state = defaultStateDir()
		}
		if *interval == 0 {
			*interval = time.Minute
		}
		abs := func(p string) string { a, _ := filepath.Abs(p); return a }
		c := wiring.DefaultConfig()
		c.Collector, c.CA, c.EnrollSecretFile, c.State, c.Interval = wiring.AddrList(*collector), abs(*ca), abs(*secret), abs(*state), *interval
		d, err := findDaemon()
		if err != nil {
			return wiring.ExitError, fmt.Errorf("install: %w", err)
		}
		if err := installTemplates(sc, d, c.State); err != nil {
			return wiring.ExitError, fmt.Errorf("install: %w", err)
		}
		if s, err = service.New(control{}, sc); err != nil {
			return wiring.ExitError, fmt.Errorf("install: %w", err)
		}
		if err := writeServiceConfig(*configPath, c); err != nil {
			return wiring.ExitError, err
		}
		if err := s.Install(); err != nil {
			return wiring.ExitError, fmt.Errorf("install on %s: %w", service.Platform(), err)
		}
		if err := installRecovery(); err != nil {
			return wiring.ExitError, fmt.Errorf("install on %s: recovery actions: %w", service.Platform(), err)
		}
		fmt.Fprintf(stdout, "installed %s (%s); settings in %s; start it with: farmwatch-agent start\n", serviceName, service.Platform(), *configPath)
	case "uninstall", "start", "stop":
		if err := service.Control(s, action); err != nil {
			return wiring.ExitError, fmt.Errorf("%s on %s: %w", action, service.Platform(), err)
		}
		fmt.Fprintf(stdout, "%s: done\n", action)
	case "status":
		st, err := s.Status()
		fmt.Fprintf(stdout, "%s: %s (%s)\n", serviceName, statusWords(st, err), service.Platform())
		printStatus(stdout, *configPath, time.Now())
		// How the agent sees process starts, from its state directory (the
		// connector, ETW, or polling and why): --state, else the config's,
		// else the default; an agent run by hand writes it too.
		dir := *state
		if c, err := wiring.LoadConfig(*configPath); err == nil && dir == "" {
			dir = c.State
		}
		if dir == "" {
			dir = defaultStateDir()
		}
		if b, err := os.ReadFile(filepath.Join(dir, daemon.EventsStatusFile)); err == nil {
			fmt.Fprintf(stdout, "process events: %s\n", report.Clean(strings.TrimSpace(string(b))))
		} else {
			fmt.Fprintf(stdout, "process events: not known (no agent has run with state %s)\n", report.Clean(dir))
		}
	}
	return wiring.ExitOK, nil
}

// statusWords says what the service manager said.
func statusWords(st service.Status, err error) string {
	switch {
	case errors.Is(err, service.ErrNotInstalled):
		return "not installed"
	case err != nil:
		return "unknown: " + report.Clean(err.Error())
	case st == service.StatusRunning:
		return "running"
	case st == service.StatusStopped:
		return "stopped"
	}
	return "unknown"
}

// printStatus prints what the config and the running agent's status file
// say: the collector, the last scan and the spool's backlog.
func printStatus(w io.Writer, configPath string, now time.Time) {
	cfg, err := wiring.LoadConfig(configPath)
	if err != nil {
		fmt.Fprintf(w, "config:        %s\n", report.Clean(err.Error()))
		return
	}
	fmt.Fprintf(w, "config:        %s\n", report.Clean(configPath))
	if cfg.Collector == "" {
		fmt.Fprintf(w, "collector:     none set (farmwatch-agent configure --collector ADDR ...)\n")
	} else {
		fmt.Fprintf(w, "collector:     %s\n", report.Clean(string(cfg.Collector)))
	}
	if cfg.State == "" {
		return
	}
	st, ok, err := resident.ReadStatus(cfg.State)
	switch {
	case err != nil:
		fmt.Fprintf(w, "last scan:     %s\n", report.Clean(err.Error()))
	case !ok:
		fmt.Fprintf(w, "last scan:     none yet\n")
	default:
		fmt.Fprintf(w, "last scan:     %s (%s ago, agent %s, pid %d)\n", st.LastScan.UTC().Format(time.RFC3339),
			now.Sub(st.LastScan).Round(time.Second), report.Clean(st.Version), st.PID)
		fmt.Fprintf(w, "spool backlog: %d messages not acknowledged, %d bytes on disk, %d dropped\n", st.Backlog, st.BacklogBytes, st.Dropped)
	}
}

// configureArgs are the settings configure was given; empty is not given.
type configureArgs struct {
	collector, caFile, caPEM, secretFile, secret, state string
	interval                                            time.Duration
}

// configure writes the settings of an installed agent without touching the
// service manager: the packages run it (the MSI with its properties), and
// so can IT's scripts. What is not given is kept from the config file;
// the CA certificate and the enroll secret are copied beside it (ca.crt,
// enroll-secret, 0600 and, on Windows, SYSTEM and Administrators only).
// The result must name a collector, a CA and a secret. With nothing given
// and a complete config, it changes nothing (an upgrade).
func configure(configPath string, a configureArgs, stdout io.Writer) (int, error) {
	if a.caFile != "" && a.caPEM != "" {
		return wiring.ExitError, wiring.UsageError{Msg: "configure: give --ca or --ca-pem, not both"}
	}
	if a.secretFile != "" && a.secret != "" {
		return wiring.ExitError, wiring.UsageError{Msg: "configure: give --enroll-secret or --enroll-secret-file, not both"}
	}
	c := wiring.DefaultConfig()
	if _, err := os.Stat(configPath); err == nil {
		if c, err = wiring.LoadConfig(configPath); err != nil {
			return wiring.ExitError, fmt.Errorf("configure: %w", err)
		}
	}
	dir := filepath.Dir(configPath)
	changed := false
	if a.collector != "" {
		c.Collector, changed = wiring.AddrList(a.collector), true
	}
	if a.state != "" {
		c.State, changed = a.state, true
	}
	if a.interval != 0 {
		if a.interval < time.Second {
			return wiring.ExitError, wiring.UsageError{Msg: "configure: --interval must be at least 1s"}
		}
		c.Interval, changed = a.interval, true
	}
	if a.caFile != "" || a.caPEM != "" {
		pemText := []byte(a.caPEM)
		if a.caFile != "" {
			b, err := os.ReadFile(a.caFile)
			if err != nil {
				return wiring.ExitError, fmt.Errorf("configure: %w", err)
			}
			pemText = b
		}
		certs, err := parseCA(pemText)
		if err != nil {
			return wiring.ExitError, fmt.Errorf("configure: CA certificate: %w", err)
		}
		if err := mkdirConfig(dir); err != nil {
			return wiring.ExitError, err
		}
		c.CA = filepath.Join(dir, "ca.crt")
		if err := statefile.Write(c.CA, certs); err != nil {
			return wiring.ExitError, fmt.Errorf("configure: %w", err)
		}
		changed = true
	}
	if a.secretFile != "" || a.secret != "" {
		s := []byte(a.secret)
		if a.secretFile != "" {
			b, err := os.ReadFile(a.secretFile)
			if err != nil {
				return wiring.ExitError, fmt.Errorf("configure: %w", err)
			}
			s = b
		}
		s = []byte(strings.TrimSpace(string(s)))
		if len(s) == 0 {
			return wiring.ExitError, errors.New("configure: the enroll secret is empty")
		}
		if err := mkdirConfig(dir); err != nil {
			return wiring.ExitError, err
		}
		c.EnrollSecretFile = filepath.Join(dir, "enroll-secret")
		if err := statefile.Write(c.EnrollSecretFile, append(s, '\n')); err != nil {
			return wiring.ExitError, fmt.Errorf("configure: %w", err)
		}
		changed = true
	}
	if c.State == "" {
		c.State, changed = defaultStateDir(), true
	}
	if c.Interval == 0 {
		c.Interval, changed = time.Minute, true
	}
	var missing []string
	if c.Collector == "" {
		missing = append(missing, "--collector (MSI: COLLECTOR)")
	}
	if c.CA == "" {
		missing = append(missing, "--ca or --ca-pem (MSI: CA_FILE or CA_PEM)")
	}
	if c.EnrollSecretFile == "" {
		missing = append(missing, "--enroll-secret or --enroll-secret-file (MSI: ENROLL_SECRET)")
	}
	if len(missing) > 0 {
		return wiring.ExitError, fmt.Errorf("configure: the settings in %s are incomplete: give %s", configPath, strings.Join(missing, ", "))
	}
	if !changed {
		fmt.Fprintf(stdout, "configure: %s is complete; nothing changed\n", configPath)
		return wiring.ExitOK, nil
	}
	if err := writeServiceConfig(configPath, c); err != nil {
		return wiring.ExitError, err
	}
	if err := statefile.MkdirPrivate(c.State); err != nil {
		return wiring.ExitError, err
	}
	fmt.Fprintf(stdout, "configure: wrote %s (collector %s)\n", configPath, report.Clean(string(c.Collector)))
	return wiring.ExitOK, nil
}

// parseCA reads a CA certificate given as PEM, as PEM whose line breaks
// became spaces or a literal \n (a command line holds no line breaks), or
// as base64 of PEM or DER. It returns the certificates as PEM.
func parseCA(b []byte) ([]byte, error) {
	s := strings.TrimSpace(strings.ReplaceAll(string(b), `\n`, "\n"))
	var ders [][]byte
	if strings.Contains(s, "-----BEGIN CERTIFICATE-----") {
		for _, part := range strings.Split(s, "-----BEGIN CERTIFICATE-----")[1:] {
			body, _, ok := strings.Cut(part, "-----END CERTIFICATE-----")
			if !ok {
				return nil, errors.New("a BEGIN CERTIFICATE without its END")
			}
			der, err := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(body), ""))
			if err != nil {
				return nil, err
			}
			ders = append(ders, der)
		}
	} else {
		raw, err := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(s), ""))
		if err != nil {
			return nil, errors.New("neither PEM nor base64")
		}
		if strings.Contains(string(raw), "-----BEGIN CERTIFICATE-----") {
			return parseCA(raw)
		}
		ders = append(ders, raw)
	}
	var out []byte
	for _, der := range ders {
		if _, err := x509.ParseCertificate(der); err != nil {
			return nil, err
		}
		out = append(out, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})...)
	}
	if len(out) == 0 {
		return nil, errors.New("no certificate")
	}
	return out, nil
}

// purge deletes what configure and the running agent wrote: the state
// directory, and the config, CA and enroll secret. The packages run it on
// purge (deb) and on an uninstall with PURGE=1 (msi).
func purge(configPath string, stdout io.Writer) (int, error) {
	c := wiring.DefaultConfig()
	if _, err := os.Stat(configPath); err == nil {
		if c, err = wiring.LoadConfig(configPath); err != nil {
			return wiring.ExitError, fmt.Errorf("purge: %w", err)
		}
	}
	dir := filepath.Dir(configPath)
	if c.State == "" {
		c.State = defaultStateDir()
	}
	if err := os.RemoveAll(c.State); err != nil {
		return wiring.ExitError, fmt.Errorf("purge: %w", err)
	}
	for _, f := range []string{filepath.Join(dir, "ca.crt"), filepath.Join(dir, "enroll-secret"), configPath} {
		if err := statefile.Remove(f); err != nil {
			return wiring.ExitError, fmt.Errorf("purge: %w", err)
		}
	}
	_ = os.Remove(dir) // only when empty
	fmt.Fprintf(stdout, "purge: removed %s and the settings in %s\n", c.State, dir)
	return wiring.ExitOK, nil
}
