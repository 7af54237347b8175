// Command farmwatch-agentd is the resident farmwatch agent, the program the
// service manager runs (systemd, launchd, the Windows service control
// manager). It scans this computer at an interval, sees processes start as
// they do, and streams what it finds to the collector (agent/daemon).
//
//	farmwatch-agentd run --config FILE
//	farmwatch-agentd run --collector ADDR --ca FILE --enroll-secret-file FILE --state DIR [--interval DURATION]
//	farmwatch-agentd version
//
// farmwatch-agent installs it (farmwatch-agent install), scans for the
// helpdesk and records snapshots; this executable does none of that, so
// that the service links, and keeps resident, only what it runs.
//
// Exit status: 0 stopped, 2 an error (the message is on stderr); under a
// service manager a fatal error exits 2, for the manager to restart it.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"

	"github.com/farmwatch/farmwatch/agent/daemon"
	"github.com/farmwatch/farmwatch/agent/sensor/activity"
	"github.com/farmwatch/farmwatch/agent/wiring"
	"github.com/farmwatch/farmwatch/report"
	"github.com/rs/zerolog"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

const usage = `usage:
  farmwatch-agentd ` + daemon.Usage + `
  farmwatch-agentd version

The service manager runs "farmwatch-agentd run --config FILE"; install it
with farmwatch-agent install, or a package.
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return wiring.ExitError
	}
	var (
		code int
		err  error
	)
	switch args[0] {
	case "run":
		log := zerolog.New(report.LogWriter(stderr, wiring.IsTerminal(stderr))).
			Level(zerolog.WarnLevel).With().Timestamp().Logger()
		code, err = daemon.Run(ctx, args[1:], log, version)
	case activity.ProbeCommand: // started by the service in the console user's session (windows)
		out, perr := activity.Probe()
		if perr == nil {
			fmt.Fprint(stdout, out)
			return wiring.ExitOK
		}
		err = perr
	case "version", "--version", "-version":
		fmt.Fprintf(stdout, "farmwatch-agentd %s\n", version)
		return wiring.ExitOK
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return wiring.ExitOK
	default:
		err = wiring.UsageError{Msg: fmt.Sprintf("unknown command %q (scans, snapshots and install are farmwatch-agent's)", args[0])}
	}
	return wiring.Exit(stderr, "farmwatch-agentd", usage, code, err)
}
