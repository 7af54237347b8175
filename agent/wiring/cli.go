package wiring

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/farmwatch/farmwatch/report"
	"github.com/mattn/go-isatty"
)

// Exit statuses of both executables.
const (
	ExitOK       = 0 // nothing at or above --fail-on
	ExitFindings = 1 // findings at or above --fail-on; a failed rule test
	ExitError    = 2 // an error; the message is on stderr
)

// UsageError is a bad command line; the executable prints its usage with
// it.
type UsageError struct{ Msg string }

func (e UsageError) Error() string { return e.Msg }

// MultiFlag collects a repeatable flag.
type MultiFlag []string

func (m *MultiFlag) String() string     { return strings.Join(*m, ",") }
func (m *MultiFlag) Set(v string) error { *m = append(*m, v); return nil }

// NewFlags is a subcommand's flag set. It prints nothing: Parse returns
// the errors, and the executable prints them once.
func NewFlags(name string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	return fs
}

// Parse parses a subcommand's arguments; every error is a UsageError, and
// so is an argument left over.
func Parse(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return UsageError{"help requested"}
		}
		return UsageError{fs.Name() + ": " + err.Error()}
	}
	if fs.NArg() > 0 {
		return UsageError{fmt.Sprintf("%s: unexpected argument %q", fs.Name(), fs.Arg(0))}
	}
	return nil
}

// IsTerminal says whether w is a terminal that takes colour: not when
// NO_COLOR is set or TERM is dumb.
func IsTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok || os.Getenv("NO_COLOR") != "" || os.Getenv("TERM") == "dumb" {
		return false
	}
	return isatty.IsTerminal(f.Fd()) || isatty.IsCygwinTerminal(f.Fd())
}

// Exit prints err for the executable prog (with usage when it is a
// UsageError) and returns ExitError; with no error it returns code.
func Exit(stderr io.Writer, prog, usage string, code int, err error) int {
	if err == nil {
		return code
	}
	fmt.Fprintf(stderr, "%s: %s\n", prog, report.CleanLines(err.Error()))
	var ue UsageError
	if errors.As(err, &ue) {
		fmt.Fprint(stderr, usage)
	}
	return ExitError
}
