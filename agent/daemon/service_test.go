package daemon

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/farmwatch/farmwatch/agent/wiring"
	"github.com/rs/zerolog"
)

const exitError = wiring.ExitError

func TestServiceConfig(t *testing.T) {
	sc := ServiceConfig("/etc/farmwatch/agent.yaml")
	if sc.Name != "farmwatch-agent" || strings.Join(sc.Arguments, " ") != "run --config /etc/farmwatch/agent.yaml" || sc.Executable != "" {
		t.Fatalf("service config %+v", sc)
	}
}

func TestProgramStartStop(t *testing.T) {
	stopped := make(chan struct{})
	p := &program{run: func(ctx context.Context) error {
		<-ctx.Done()
		close(stopped)
		return nil
	}}
	if err := p.Start(nil); err != nil {
		t.Fatal(err)
	}
	if err := p.Stop(nil); err != nil {
		t.Fatal(err)
	}
	select {
	case <-stopped:
	default:
		t.Fatal("the run loop did not see the stop")
	}
	p = &program{run: func(ctx context.Context) error { <-ctx.Done(); return errors.New("boom") }}
	p.Start(nil)
	if err := p.Stop(nil); err == nil || err.Error() != "boom" {
		t.Fatalf("stop error %v", err)
	}
}

func TestServiceOptions(t *testing.T) {
	o := ServiceConfig("/etc/farmwatch/agent.yaml").Option
	// kardianos/service sets Windows recovery actions only when OnFailure
	// is set; launchd's and systemd's restarts come from these too.
	if o["OnFailure"] != "restart" || o["OnFailureDelayDuration"] != "5s" || o["OnFailureResetPeriod"] != 86400 ||
		o["KeepAlive"] != true || o["RunAtLoad"] != true || o["Restart"] != "always" {
		t.Fatalf("options %v", o)
	}
}

func TestProgramFatalExits(t *testing.T) {
	code := make(chan int, 1)
	p := &program{run: func(context.Context) error { return errors.New("spool: disk full") }, exit: func(c int) { code <- c }}
	if err := p.Start(nil); err != nil {
		t.Fatal(err)
	}
	select {
	case c := <-code:
		if c != exitError {
			t.Fatalf("exit %d", c)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a fatal run error did not exit")
	}
	// A run loop that ends by itself, with no error, is a failure too.
	p = &program{run: func(context.Context) error { return nil }, exit: func(c int) { code <- c }}
	p.Start(nil)
	if c := <-code; c != exitError {
		t.Fatalf("exit %d", c)
	}
}

// TestServiceFatalExitNonZero runs the agent's service mode in a child
// process whose run loop fails, and checks that the process exits 2, so
// that systemd, launchd or the Windows service manager restarts it.
func TestServiceFatalExitNonZero(t *testing.T) {
	if os.Getenv("FARMWATCH_SERVICE_CHILD") == "1" {
		log := zerolog.New(os.Stderr)
		err := runService(func(ctx context.Context) error {
			time.Sleep(50 * time.Millisecond)
			return errors.New("spool: disk full")
		}, filepath.Join(t.TempDir(), "agent.yaml"), log, os.Exit)
		fmt.Fprintf(os.Stderr, "runService returned: %v\n", err)
		os.Exit(0) // not reached when the fatal error exits
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestServiceFatalExitNonZero$")
	cmd.Env = append(os.Environ(), "FARMWATCH_SERVICE_CHILD=1")
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != exitError {
		t.Fatalf("child: %v, want exit %d:\n%s", err, exitError, out)
	}
	if !strings.Contains(string(out), "agent failed") || !strings.Contains(string(out), "disk full") {
		t.Fatalf("child's log:\n%s", out)
	}
}
