//go:build linux

package procevent

import (
	"context"
	"errors"
	"fmt"
	"math/bits"
	"os"
	"slices"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// liveSources are the process connector, then polling /proc.
func liveSources() []source {
	return []source{netlinkSource{}, poller{label: "poll /proc every " + PollInterval.String(), every: PollInterval, list: procPids()}}
}

// netlinkSource is the kernel's process connector.
type netlinkSource struct{}

func (netlinkSource) name() string { return "netlink (CN_PROC)" }

// reportsEveryExec: the connector reports every exec and every exit.
func (netlinkSource) reportsEveryExec() bool { return true }

// ackTimeout is how long the kernel has to answer the subscription. It
// does not answer at all outside the initial PID namespace.
const ackTimeout = 2 * time.Second

func (netlinkSource) run(ctx context.Context, emit func([]Event), lost func(uint64)) error {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK, unix.NETLINK_CONNECTOR)
	if err != nil {
		return fmt.Errorf("%w: netlink socket: %v", errUnavailable, err)
	}
	f := os.NewFile(uintptr(fd), "cn_proc")
	defer f.Close()
	if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK, Groups: cnIdxProc}); err != nil {
		return fmt.Errorf("%w: bind to the process connector: %v", errUnavailable, err)
	}
	// The kernel keeps only exec events, the answer to the subscription,
	// and the exits of whole processes: forks and thread exits never wake
	// the agent.
	if err := unix.SetsockoptSockFprog(fd, unix.SOL_SOCKET, unix.SO_ATTACH_FILTER, &unix.SockFprog{Len: uint16(len(cnFilter)), Filter: &cnFilter[0]}); err != nil {
		return fmt.Errorf("%w: socket filter: %v", errUnavailable, err)
	}
	_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, 1<<20)
	sa, err := unix.Getsockname(fd)
	if err != nil {
		return fmt.Errorf("%w: %v", errUnavailable, err)
	}
	port := sa.(*unix.SockaddrNetlink).Pid
	if err := unix.Sendto(fd, listenRequest(procCnMcastListen, port), 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return fmt.Errorf("%w: subscribe: %v", errUnavailable, err)
	}
	defer unix.Sendto(fd, listenRequest(procCnMcastIgnore, port), 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK})
	var wg sync.WaitGroup
	defer wg.Wait()
	stop := make(chan struct{})
	defer close(stop)
	wg.Add(1)
	go func() { // closing the file ends a blocked read
		defer wg.Done()
		select {
		case <-ctx.Done():
		case <-stop:
		}
		f.SetReadDeadline(time.Now())
	}()
	buf := make([]byte, 64<<10)
	var evs []Event
	acked := false
	f.SetReadDeadline(time.Now().Add(ackTimeout))
	for {
		n, err := f.Read(buf)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			if errors.Is(err, os.ErrDeadlineExceeded) && !acked {
				return fmt.Errorf("%w: the kernel did not answer the subscription in %s (not in the initial PID namespace: a container?)", errUnavailable, ackTimeout)
			}
			if errors.Is(err, unix.ENOBUFS) {
				lost(1) // the socket overflowed: some events are lost
				continue
			}
			return fmt.Errorf("read the process connector: %w", err)
		}
		parsed, _ := parseCNProc(buf[:n])
		for _, e := range parsed {
			if e.what == procEventNone && !acked {
				if e.ackErr != 0 {
					return fmt.Errorf("%w: the kernel refused the subscription: %v (CAP_NET_ADMIN is needed)", errUnavailable, unix.Errno(e.ackErr))
				}
				acked = true
				f.SetReadDeadline(time.Time{})
			}
		}
		if evs = procEvents(parsed, monoToWall, evs[:0]); len(evs) > 0 {
			emit(evs)
		}
	}
}

// monoToWall turns a CLOCK_MONOTONIC time in nanoseconds into Unix
// nanoseconds.
func monoToWall(ts uint64) int64 {
	var mono unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &mono); err != nil {
		return time.Now().UnixNano()
	}
	return time.Now().UnixNano() - (mono.Nano() - int64(ts))
}

// cnFilter is a classic BPF program over the process connector's
// datagrams (the offsets are in linux.go). BPF loads words big-endian and
// the connector writes them in host order, so the constants are swapped.
var cnFilter = func() []unix.SockFilter {
	be := bits.ReverseBytes32
	const (
		ldAbsW = unix.BPF_LD | unix.BPF_W | unix.BPF_ABS
		jeqK   = unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K
		jeqX   = unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_X
		tax    = unix.BPF_MISC | unix.BPF_TAX
		retK   = unix.BPF_RET | unix.BPF_K
	)
	return []unix.SockFilter{
		{Code: ldAbsW, K: offWhat},                       // 0: what
		{Code: jeqK, K: be(procEventExec), Jt: 7},        // 1: exec -> 9
		{Code: jeqK, K: be(procEventNone), Jt: 6},        // 2: the answer -> 9
		{Code: jeqK, K: be(procEventExit), Jt: 0, Jf: 4}, // 3: exit -> 4, else -> 8
		{Code: ldAbsW, K: offData},                       // 4: pid
		{Code: tax},                                      // 5
		{Code: ldAbsW, K: offData + 4},                   // 6: tgid
		{Code: jeqX, Jt: 1},                              // 7: pid == tgid -> 9
		{Code: retK, K: 0},                               // 8: drop
		{Code: retK, K: 0xffffffff},                      // 9: keep
	}
}()

// procPids lists the pids of /proc, sorted, with one reused buffer: the
// directory only, no file of each process.
func procPids() func(dst []procID) ([]procID, error) {
	buf := make([]byte, 32<<10)
	return func(dst []procID) ([]procID, error) {
		fd, err := unix.Open("/proc", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if err != nil {
			return dst, err
		}
		defer unix.Close(fd)
		for {
			n, err := unix.Getdents(fd, buf)
			if err != nil {
				return dst, err
			}
			if n <= 0 {
				break
			}
			dst = appendDirentPids(buf[:n], dst)
		}
		slices.SortFunc(dst, func(a, b procID) int { return int(a.pid - b.pid) })
		return dst, nil
	}
}
