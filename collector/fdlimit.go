package main

import (
	"net"
	"sync"
	"time"

	"github.com/rs/zerolog"
)

// Every agent holds one connection, so one file descriptor of the
// collector: the limit on open files bounds the agents it can hold.
// fdReserve is what the collector keeps for itself: the store (SQLite's
// database, WAL and shared memory, or PostgreSQL's pool), the metrics
// port, people's commands, the rule files it reloads.
const (
	fdReserve = 256
	// fdWarnBelow: a limit that holds fewer agents than this is logged as
	// a warning at start.
	fdWarnBelow = 4096
)

// logFileLimit says, at start, how many agents the open file limit lets
// this collector hold.
func logFileLimit(log zerolog.Logger) {
	soft, hard, err := openFileLimit()
	if err != nil {
		return
	}
	agents := max(int64(soft)-fdReserve, 0)
	ev := log.Info()
	msg := "open file limit: about this many agents can connect"
	if soft < fdWarnBelow {
		ev = log.Warn()
		msg = "open file limit is low: each agent holds a file descriptor, and past about this many agents new ones are not accepted until some leave; raise LimitNOFILE (systemd) or ulimit -n"
	}
	ev.Uint64("open_files", soft).Uint64("hard_limit", hard).Int64("agents", agents).Msg(msg)
}

// fdListener logs, at most once a minute, the connections that could not
// be accepted because the collector had no file descriptor left (gRPC
// retries the accept after a pause; the agents retry their dial).
type fdListener struct {
	net.Listener
	log   zerolog.Logger
	every time.Duration

	mu     sync.Mutex
	missed int
	last   time.Time
}

func watchFiles(ln net.Listener, log zerolog.Logger) net.Listener {
	return &fdListener{Listener: ln, log: log, every: time.Minute}
}

func (l *fdListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil && outOfFiles(err) {
		l.mu.Lock()
		l.missed++
		if now := time.Now(); now.Sub(l.last) >= l.every {
			soft, _, _ := openFileLimit()
			l.log.Warn().Err(err).Int("refused", l.missed).Uint64("open_files", soft).
				Msg("out of file descriptors: connections not accepted (each agent holds one); raise LimitNOFILE (systemd) or ulimit -n")
			l.missed, l.last = 0, now
		}
		l.mu.Unlock()
	}
	return c, err
}
