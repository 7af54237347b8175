package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"time"

	"github.com/kardianos/service"
	"go.yaml.in/yaml/v3"
)

// serviceName is the name the service manager knows the agent by
// (systemd unit, launchd label, Windows service).
const serviceName = "farmwatch-agent"

// defaultConfigPath is where install writes the service's config.
func defaultConfigPath() string {
	switch runtime.GOOS {
	case "windows":
		return `C:\ProgramData\farmwatch\agent.yaml`
	case "darwin":
		return "/Library/Application Support/farmwatch/agent.yaml"
	}
	return "/etc/farmwatch/agent.yaml"
}

// defaultStateDir is where an installed agent keeps its identity and state.
func defaultStateDir() string {
	switch runtime.GOOS {
	case "windows":
		return `C:\ProgramData\farmwatch\state`
	case "darwin":
		return "/Library/Application Support/farmwatch/state"
	}
	return "/var/lib/farmwatch"
}

// serviceConfig is how the service manager runs the agent: this binary,
// "run --config PATH".
func serviceConfig(configPath string) *service.Config {
	return &service.Config{
		Name:        serviceName,
		DisplayName: "farmwatch agent",
		Description: "Reports signs that this computer is controlled from elsewhere to the farmwatch collector.",
		Arguments:   []string{"run", "--config", configPath},
	}
}

// program adapts the agent's run loop to the service manager's start and
// stop signals.
type program struct {
	run    func(context.Context) error
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
		p.mu.Lock()
		p.err = err
		p.mu.Unlock()
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

// writeServiceConfig writes the settings of an installed agent.
func writeServiceConfig(path string, c Config) error {
	b, err := yaml.Marshal(c)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("config %s: %w", path, err)
	}
	head := []byte("# farmwatch agent settings, written by `farmwatch-agent install`.\n")
	if err := os.WriteFile(path, append(head, b...), 0o600); err != nil {
		return fmt.Errorf("config %s: %w", path, err)
	}
	return nil
}

// cmdService installs, removes, starts, stops or reports the service.
//
//	farmwatch-agent install --collector ADDR --ca FILE --enroll-secret-file FILE [--state DIR] [--interval D] [--config PATH]
//	farmwatch-agent uninstall|start|stop|status [--config PATH]
func cmdService(action string, args []string, stdout, stderr io.Writer) (int, error) {
	fs := newFlags(action, stderr)
	configPath := fs.String("config", defaultConfigPath(), "the service's config file")
	collector := fs.String("collector", "", "install: the collector's address")
	ca := fs.String("ca", "", "install: the collector's CA certificate")
	secret := fs.String("enroll-secret-file", "", "install: the fleet's enroll secret")
	state := fs.String("state", defaultStateDir(), "install: the agent's state directory")
	interval := fs.Duration("interval", time.Minute, "install: time between scans")
	if err := parse(fs, args); err != nil {
		return exitError, err
	}
	s, err := service.New(&program{}, serviceConfig(*configPath))
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
		abs := func(p string) string { a, _ := filepath.Abs(p); return a }
		c := defaultConfig()
		c.Collector, c.CA, c.EnrollSecretFile, c.State, c.Interval = addrList(*collector), abs(*ca), abs(*secret), *state, *interval
		if err := writeServiceConfig(*configPath, c); err != nil {
			return exitError, err
		}
		if err := s.Install(); err != nil {
			return exitError, fmt.Errorf("install on %s: %w", service.Platform(), err)
		}
		fmt.Fprintf(stdout, "installed %s (%s); settings in %s; start it with: farmwatch-agent start\n", serviceName, service.Platform(), *configPath)
	case "uninstall", "start", "stop":
		if err := service.Control(s, action); err != nil {
			return exitError, fmt.Errorf("%s on %s: %w", action, service.Platform(), err)
		}
		fmt.Fprintf(stdout, "%s: done\n", action)
	case "status":
		st, err := s.Status()
		if err != nil {
			return exitError, fmt.Errorf("status on %s: %w", service.Platform(), err)
		}
		words := map[service.Status]string{service.StatusRunning: "running", service.StatusStopped: "stopped"}[st]
		if words == "" {
			words = "unknown"
		}
		fmt.Fprintf(stdout, "%s: %s\n", serviceName, words)
	}
	return exitOK, nil
}
