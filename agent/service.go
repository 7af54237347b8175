package main

import (
	"context"
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
	"sync"
	"time"

	"github.com/farmwatch/farmwatch/agent/resident"
	"github.com/farmwatch/farmwatch/agent/statefile"
	"github.com/farmwatch/farmwatch/installer/servicedef"
	"github.com/farmwatch/farmwatch/report"
	"github.com/kardianos/service"
	"github.com/rs/zerolog"
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

// serviceConfig is how the service manager runs the agent: this binary,
// "run --config PATH".
func serviceConfig(configPath string) *service.Config {
	return &service.Config{
		Name:        serviceName,
		DisplayName: "farmwatch agent",
		Description: "Reports signs that this computer is controlled from elsewhere to the farmwatch collector.",
		Arguments:   servicedef.Args(configPath),
		Option:      serviceOptions(),
	}
}

// serviceOptions are kardianos/service's options for restarting a failed
// agent. In v1.3.0, on Windows, OnFailure "restart" makes Install call
// SetRecoveryActions with one action, restart after
// OnFailureDelayDuration, which the service control manager repeats for
// every later failure, with the count reset after OnFailureResetPeriod
// seconds; left unset (its default, despite the doc comment) Install sets
// no action and a crashed agent stays stopped. installRecovery then
// replaces that with servicedef's delays and the failure actions flag
// (service_windows.go). KeepAlive and RunAtLoad are launchd's, Restart
// systemd's; on those two the unit and plist come from servicedef
// (installTemplates).
func serviceOptions() service.KeyValue {
	return service.KeyValue{
		"OnFailure":              "restart",
		"OnFailureDelayDuration": servicedef.WindowsRestartDelays[0].String(),
		"OnFailureResetPeriod":   int(servicedef.WindowsResetPeriod / time.Second),
		"KeepAlive":              true,
		"RunAtLoad":              true,
		"Restart":                "always",
	}
}

// installTemplates sets the systemd unit and launchd plist that install
// writes: servicedef's, as the packages install, with this binary.
func installTemplates(c *service.Config, state string) error {
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	p := servicedef.Paths{Binary: exe, Config: c.Arguments[len(c.Arguments)-1], State: state}
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

// program adapts the agent's run loop to the service manager's start and
// stop signals. When the run loop ends by itself (a fatal error: the
// spool can no longer keep what it is given), the process exits non-zero,
// so that the service manager restarts it: a process that stays up doing
// nothing would never be restarted.
type program struct {
	run    func(context.Context) error
	log    zerolog.Logger
	exit   func(code int) // os.Exit; tests replace it
	cancel context.CancelFunc
	done   chan struct{}
	mu     sync.Mutex
	err    error
}

func (p *program) Start(service.Service) error {
	ctx, cancel := context.WithCancel(context.Background())
	p.cancel, p.done = cancel, make(chan struct{})
	go func() {
		defer close(p.done)
		err := p.run(ctx)
		if ctx.Err() != nil { // Stop asked for it
			p.mu.Lock()
			p.err = err
			p.mu.Unlock()
			return
		}
		if err == nil {
			err = errors.New("the run loop ended by itself")
		}
		p.log.Error().Err(err).Msg("agent failed: exiting for the service manager to restart it")
		p.exit(exitError)
	}()
	return nil
}

func (p *program) Stop(service.Service) error {
	p.cancel()
	select {
	case <-p.done:
	case <-time.After(15 * time.Second):
		return errors.New("the agent did not stop within 15s")
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.err
}

// runService runs the agent under the service manager, which sends start
// and stop. A fatal error of run exits the process with exitError through
// exit (os.Exit), for the manager to restart it.
func runService(run func(context.Context) error, configPath string, log zerolog.Logger, exit func(int)) error {
	s, err := service.New(&program{run: run, log: log, exit: exit}, serviceConfig(configPath))
	if err != nil {
		return err
	}
	return s.Run()
}

// writeServiceConfig writes the settings of an installed agent.
func writeServiceConfig(path string, c Config) error {
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
	fs := newFlags(action, stderr)
	configPath := fs.String("config", defaultConfigPath(), "the service's config file")
	collector := fs.String("collector", "", "install, configure: the collector's address")
	ca := fs.String("ca", "", "install, configure: the collector's CA certificate")
	caPEM := fs.String("ca-pem", "", "configure: the collector's CA certificate itself (PEM, its lines joined by spaces, or base64)")
	secret := fs.String("enroll-secret-file", "", "install, configure: the fleet's enroll secret")
	secretValue := fs.String("enroll-secret", "", "configure: the fleet's enroll secret itself")
	state := fs.String("state", "", "install, configure, status: the agent's state directory (default "+defaultStateDir()+")")
	interval := fs.Duration("interval", 0, "install, configure: time between scans (default 1m)")
	if err := parse(fs, args); err != nil {
		return exitError, err
	}
	switch action {
	case "configure":
		return configure(*configPath, configureArgs{collector: *collector, caFile: *ca, caPEM: *caPEM,
			secretFile: *secret, secret: *secretValue, state: *state, interval: *interval}, stdout)
	case "purge":
		return purge(*configPath, stdout)
	}
	sc := serviceConfig(*configPath)
	s, err := service.New(&program{}, sc)
	if err != nil {
		return exitError, fmt.Errorf("%s: %w", action, err)
	}
	switch action {
	case "install":
		if *collector == "" || *ca == "" || *secret == "" {
			return exitError, usageError{"install: --collector, --ca and --enroll-secret-file are required"}
		}
		for _, f := range []string{*ca, *secret} {
			if _, err := os.Stat(f); err != nil {
				return exitError, fmt.Errorf("install: %w", err)
			}
		}
		if *state == "" {
			*state = defaultStateDir()
		}
		if *interval == 0 {
			*interval = time.Minute
		}
		abs := func(p string) string { a, _ := filepath.Abs(p); return a }
		c := defaultConfig()
		c.Collector, c.CA, c.EnrollSecretFile, c.State, c.Interval = addrList(*collector), abs(*ca), abs(*secret), abs(*state), *interval
		if err := installTemplates(sc, c.State); err != nil {
			return exitError, fmt.Errorf("install: %w", err)
		}
		if s, err = service.New(&program{}, sc); err != nil {
			return exitError, fmt.Errorf("install: %w", err)
		}
		if err := writeServiceConfig(*configPath, c); err != nil {
			return exitError, err
		}
		if err := s.Install(); err != nil {
			return exitError, fmt.Errorf("install on %s: %w", service.Platform(), err)
		}
		if err := installRecovery(); err != nil {
			return exitError, fmt.Errorf("install on %s: recovery actions: %w", service.Platform(), err)
		}
		fmt.Fprintf(stdout, "installed %s (%s); settings in %s; start it with: farmwatch-agent start\n", serviceName, service.Platform(), *configPath)
	case "uninstall", "start", "stop":
		if err := service.Control(s, action); err != nil {
			return exitError, fmt.Errorf("%s on %s: %w", action, service.Platform(), err)
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
		if c, err := loadConfig(*configPath); err == nil && dir == "" {
			dir = c.State
		}
		if dir == "" {
			dir = defaultStateDir()
		}
		if b, err := os.ReadFile(filepath.Join(dir, eventsStatusFile)); err == nil {
			fmt.Fprintf(stdout, "process events: %s\n", report.Clean(strings.TrimSpace(string(b))))
		} else {
			fmt.Fprintf(stdout, "process events: not known (no agent has run with state %s)\n", report.Clean(dir))
		}
	}
	return exitOK, nil
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
	cfg, err := loadConfig(configPath)
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
		return exitError, usageError{"configure: give --ca or --ca-pem, not both"}
	}
	if a.secretFile != "" && a.secret != "" {
		return exitError, usageError{"configure: give --enroll-secret or --enroll-secret-file, not both"}
	}
	c := defaultConfig()
	if _, err := os.Stat(configPath); err == nil {
		if c, err = loadConfig(configPath); err != nil {
			return exitError, fmt.Errorf("configure: %w", err)
		}
	}
	dir := filepath.Dir(configPath)
	changed := false
	if a.collector != "" {
		c.Collector, changed = addrList(a.collector), true
	}
	if a.state != "" {
		c.State, changed = a.state, true
	}
	if a.interval != 0 {
		if a.interval < time.Second {
			return exitError, usageError{"configure: --interval must be at least 1s"}
		}
		c.Interval, changed = a.interval, true
	}
	if a.caFile != "" || a.caPEM != "" {
		pemText := []byte(a.caPEM)
		if a.caFile != "" {
			b, err := os.ReadFile(a.caFile)
			if err != nil {
				return exitError, fmt.Errorf("configure: %w", err)
			}
			pemText = b
		}
		certs, err := parseCA(pemText)
		if err != nil {
			return exitError, fmt.Errorf("configure: CA certificate: %w", err)
		}
		if err := mkdirConfig(dir); err != nil {
			return exitError, err
		}
		c.CA = filepath.Join(dir, "ca.crt")
		if err := statefile.Write(c.CA, certs); err != nil {
			return exitError, fmt.Errorf("configure: %w", err)
		}
		changed = true
	}
	if a.secretFile != "" || a.secret != "" {
		s := []byte(a.secret)
		if a.secretFile != "" {
			b, err := os.ReadFile(a.secretFile)
			if err != nil {
				return exitError, fmt.Errorf("configure: %w", err)
			}
			s = b
		}
		s = []byte(strings.TrimSpace(string(s)))
		if len(s) == 0 {
			return exitError, errors.New("configure: the enroll secret is empty")
		}
		if err := mkdirConfig(dir); err != nil {
			return exitError, err
		}
		c.EnrollSecretFile = filepath.Join(dir, "enroll-secret")
		if err := statefile.Write(c.EnrollSecretFile, append(s, '\n')); err != nil {
			return exitError, fmt.Errorf("configure: %w", err)
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
		return exitError, fmt.Errorf("configure: the settings in %s are incomplete: give %s", configPath, strings.Join(missing, ", "))
	}
	if !changed {
		fmt.Fprintf(stdout, "configure: %s is complete; nothing changed\n", configPath)
		return exitOK, nil
	}
	if err := writeServiceConfig(configPath, c); err != nil {
		return exitError, err
	}
	if err := statefile.MkdirPrivate(c.State); err != nil {
		return exitError, err
	}
	fmt.Fprintf(stdout, "configure: wrote %s (collector %s)\n", configPath, report.Clean(string(c.Collector)))
	return exitOK, nil
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
	c := defaultConfig()
	if _, err := os.Stat(configPath); err == nil {
		if c, err = loadConfig(configPath); err != nil {
			return exitError, fmt.Errorf("purge: %w", err)
		}
	}
	dir := filepath.Dir(configPath)
	if c.State == "" {
		c.State = defaultStateDir()
	}
	if err := os.RemoveAll(c.State); err != nil {
		return exitError, fmt.Errorf("purge: %w", err)
	}
	for _, f := range []string{filepath.Join(dir, "ca.crt"), filepath.Join(dir, "enroll-secret"), configPath} {
		if err := statefile.Remove(f); err != nil {
			return exitError, fmt.Errorf("purge: %w", err)
		}
	}
	_ = os.Remove(dir) // only when empty
	fmt.Fprintf(stdout, "purge: removed %s and the settings in %s\n", c.State, dir)
	return exitOK, nil
}
