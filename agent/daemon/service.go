package daemon

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/farmwatch/farmwatch/agent/wiring"
	"github.com/farmwatch/farmwatch/installer/servicedef"
	"github.com/kardianos/service"
	"github.com/rs/zerolog"
)

// ServiceConfig is how the service manager runs the agent: farmwatch-agentd
// "run --config PATH". farmwatch-agent install sets the executable and the
// unit or property list on it (servicedef); the running service needs only
// the name and the arguments.
func ServiceConfig(configPath string) *service.Config {
	return &service.Config{
		Name:        servicedef.Name,
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
// no action and a crashed agent stays stopped. farmwatch-agent install then
// replaces that with servicedef's delays and the failure actions flag.
// KeepAlive and RunAtLoad are launchd's, Restart systemd's; on those two
// the unit and plist come from servicedef.
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
		p.exit(wiring.ExitError)
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
// and stop. A fatal error of run exits the process with ExitError through
// exit (os.Exit), for the manager to restart it.
func runService(run func(context.Context) error, configPath string, log zerolog.Logger, exit func(int)) error {
	s, err := service.New(&program{run: run, log: log, exit: exit}, ServiceConfig(configPath))
	if err != nil {
		return err
	}
	return s.Run()
}
