// Command farmwatch-collector receives what farmwatch agents see, keeps it
// in a store, and answers fleet-wide questions.
//
//	farmwatch-collector init --data DIR
//	farmwatch-collector serve --data DIR [--listen ADDR] [--insecure]
//	farmwatch-collector backup --data DIR OUT
//	farmwatch-collector migrate --from DIR --to postgres://...
//	farmwatch-collector token create --role viewer|helpdesk|admin [--ttl D] [--name N] | token list [--all] | token revoke ID
//	farmwatch-collector hosts | host NAME | findings [--host NAME] [--all] | scan NAME
//	farmwatch-collector farms [--all] | roster show | query [--kind K] 'CEL' | hunt [--kind K] 'CEL'
//
// The client commands take --collector ADDR, --ca FILE and --token-file FILE,
// or FARMWATCH_COLLECTOR, FARMWATCH_CA and FARMWATCH_TOKEN.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/farmwatch/farmwatch/collector/store/sqlite"
)

// version is the collector's, set by make build (-X main.version).
var version = "dev"

// Exit statuses.
const (
	exitOK    = 0
	exitError = 2
)

type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

const usage = `usage:
  farmwatch-collector init --data DIR [--name HOST]...
  farmwatch-collector serve --data DIR [--listen ADDR] [--insecure] [--metrics ADDR]
      [--rules DIR]... [--org FILE] [--roster FILE] [--agent-interval DURATION] [--reload DURATION] [--history-days N]
      [--max-conns-per-peer N] [--proxy-protocol-from CIDR[,CIDR...]] [--store postgres://...]
  farmwatch-collector backup --data DIR OUT
  farmwatch-collector migrate --from DIR --to postgres://...   move an install's store to PostgreSQL (stopped)
  farmwatch-collector token create --role viewer|helpdesk|admin [--ttl DURATION] [--name NAME] [--data DIR]
  farmwatch-collector token list [--all]
  farmwatch-collector token revoke ID
  farmwatch-collector hosts
  farmwatch-collector host NAME
  farmwatch-collector host approve NAME [--request ID]     an enrolled host's agent enrols again (admin)
  farmwatch-collector host reset NAME                      forget a host's node key (admin)
  farmwatch-collector findings [--host NAME] [--severity LEVEL] [--all]
  farmwatch-collector scan NAME [--timeout DURATION]
  farmwatch-collector history NAME [--kind KIND] [--since DURATION] [--limit N]
  farmwatch-collector farms [--all]                         hosts of different people that share a place or a device
  farmwatch-collector roster show                           the roster serve uses (--roster)
  farmwatch-collector query [--kind KIND] [--limit N] 'CEL' stored observations of every host that match
  farmwatch-collector hunt [--kind KIND] [--timeout D] 'CEL' ask every online agent now; answers stream
client flags (or FARMWATCH_COLLECTOR, FARMWATCH_CA, FARMWATCH_TOKEN):
  --collector ADDR  --ca FILE  --token-file FILE  --format table|json
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return exitError
	}
	var err error
	switch args[0] {
	case "init":
		err = cmdInit(args[1:], stdout)
	case "serve":
		err = cmdServe(ctx, args[1:], stderr)
	case "backup":
		err = cmdBackup(ctx, args[1:], stdout)
	case "migrate": // [pg]
		err = cmdMigrate(ctx, args[1:], stdout)
	case "token":
		err = cmdToken(ctx, args[1:], stdout, stderr)
	case "hosts", "host", "findings", "scan", "history", "farms", "roster", "query", "hunt":
		err = cmdClient(ctx, args[0], args[1:], stdout)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return exitOK
	default:
		err = usageError{fmt.Sprintf("unknown command %q", args[0])}
	}
	if err != nil {
		fmt.Fprintf(stderr, "farmwatch-collector: %v\n", err)
		var ue usageError
		if errors.As(err, &ue) {
			fmt.Fprint(stderr, usage)
		}
		return exitError
	}
	return exitOK
}

func newFlags(name string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	return fs
}

// parse parses flags that may come before or after the positional
// arguments, and returns the positional ones.
func parse(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, usageError{fs.Name() + ": " + err.Error()}
		}
		if fs.NArg() == 0 {
			return pos, nil
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
}

// cmdBackup copies the store of an install to OUT, while it is served or
// not (sqlite.Backup).
func cmdBackup(ctx context.Context, args []string, stdout io.Writer) error {
	fs := newFlags("backup")
	data := fs.String("data", "", "the install's data directory")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if *data == "" || len(pos) != 1 {
		return usageError{"backup: --data DIR and one OUT file are required"}
	}
	if err := sqlite.Backup(ctx, filepath.Join(*data, dbFile), pos[0]); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "backed up %s to %s (integrity_check ok)\n", filepath.Join(*data, dbFile), pos[0])
	return nil
}
