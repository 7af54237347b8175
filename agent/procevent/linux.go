package procevent

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// The process connector's wire format (linux/connector.h, linux/cn_proc.h):
// each datagram is a netlink header (16 bytes), a cn_msg (20 bytes) and a
// proc_event: what (u32), cpu (u32), timestamp_ns (u64, CLOCK_MONOTONIC),
// then the event's data. Exec: process_pid, process_tgid. Exit:
// process_pid, process_tgid, exit_code, exit_signal, parent_pid,
// parent_tgid. Everything is in host byte order (little-endian on every
// architecture the agent is built for).
const (
	nlmsgHdrLen  = 16
	cnMsgLen     = 20
	procEventHdr = 16 // what, cpu, timestamp_ns

	cnIdxProc = 1 // CN_IDX_PROC
	cnValProc = 1 // CN_VAL_PROC

	procCnMcastListen = 1 // PROC_CN_MCAST_LISTEN
	procCnMcastIgnore = 2 // PROC_CN_MCAST_IGNORE

	procEventNone = 0x00000000 // PROC_EVENT_NONE: the answer to LISTEN, with its error
	procEventFork = 0x00000001
	procEventExec = 0x00000002
	procEventExit = 0x80000000

	// offsets in a datagram
	offWhat = nlmsgHdrLen + cnMsgLen // 36
	offTS   = offWhat + 8            // 44
	offData = offWhat + procEventHdr // 52
)

// cnEvent is one parsed process-connector message.
type cnEvent struct {
	what      uint32
	tsNanos   uint64 // CLOCK_MONOTONIC
	pid, tgid int32
	ackErr    uint32 // PROC_EVENT_NONE: the error of the LISTEN request (0: listening)
}

var errShort = errors.New("short process connector message")

// parseCNProc parses the netlink messages of one datagram from the process
// connector. Messages of other connectors, and events other than exec,
// exit and the LISTEN answer, are skipped.
func parseCNProc(b []byte) ([]cnEvent, error) {
	var out []cnEvent
	for len(b) > 0 {
		if len(b) < nlmsgHdrLen {
			return out, errShort
		}
		n := int(binary.LittleEndian.Uint32(b))
		if n < nlmsgHdrLen || n > len(b) {
			return out, fmt.Errorf("netlink message length %d of %d bytes", n, len(b))
		}
		msg := b[:n]
		if a := (n + 3) &^ 3; a < len(b) {
			b = b[a:]
		} else {
			b = nil
		}
		if len(msg) < offData {
			continue // an error or done message without an event
		}
		idx := binary.LittleEndian.Uint32(msg[nlmsgHdrLen:])
		val := binary.LittleEndian.Uint32(msg[nlmsgHdrLen+4:])
		if idx != cnIdxProc || val != cnValProc {
			continue
		}
		e := cnEvent{what: binary.LittleEndian.Uint32(msg[offWhat:]), tsNanos: binary.LittleEndian.Uint64(msg[offTS:])}
		data := msg[offData:]
		switch e.what {
		case procEventNone:
			if len(data) < 4 {
				return out, errShort
			}
			e.ackErr = binary.LittleEndian.Uint32(data)
		case procEventExec, procEventExit:
			if len(data) < 8 {
				return out, errShort
			}
			e.pid = int32(binary.LittleEndian.Uint32(data))
			e.tgid = int32(binary.LittleEndian.Uint32(data[4:]))
		default:
			continue
		}
		out = append(out, e)
	}
	return out, nil
}

// listenRequest is the datagram that subscribes (or unsubscribes) a
// socket to the process connector.
func listenRequest(op uint32, portID uint32) []byte {
	b := make([]byte, nlmsgHdrLen+cnMsgLen+4)
	binary.LittleEndian.PutUint32(b[0:], uint32(len(b)))
	binary.LittleEndian.PutUint16(b[4:], 3) // NLMSG_DONE
	binary.LittleEndian.PutUint32(b[12:], portID)
	binary.LittleEndian.PutUint32(b[16:], cnIdxProc)
	binary.LittleEndian.PutUint32(b[20:], cnValProc)
	binary.LittleEndian.PutUint16(b[32:], 4) // len of the data
	binary.LittleEndian.PutUint32(b[36:], op)
	return b
}

// procEvents keeps the events the watcher acts on: the exec of a process
// (its thread group), and the end of a whole process (the exit of the
// thread group leader; a thread's exit is not a process's).
func procEvents(evs []cnEvent, wall func(ts uint64) int64, out []Event) []Event {
	for _, e := range evs {
		switch {
		case e.what == procEventExec && e.tgid > 0:
			out = append(out, Event{Kind: Exec, Pid: e.tgid, Time: unixNano(wall(e.tsNanos))})
		case e.what == procEventExit && e.pid == e.tgid && e.pid > 0:
			out = append(out, Event{Kind: Exit, Pid: e.pid, Time: unixNano(wall(e.tsNanos))})
		}
	}
	return out
}

// appendDirentPids appends the numeric names of linux_dirent64 records.
func appendDirentPids(b []byte, dst []procID) []procID {
	for len(b) >= 19 {
		reclen := int(b[16]) | int(b[17])<<8
		if reclen < 19 || reclen > len(b) {
			break
		}
		name := b[19:reclen]
		for i, c := range name {
			if c == 0 {
				name = name[:i]
				break
			}
		}
		if pid, ok := atoiPid(name); ok {
			dst = append(dst, procID{pid: pid})
		}
		b = b[reclen:]
	}
	return dst
}

func atoiPid(s []byte) (int32, bool) {
	if len(s) == 0 || len(s) > 10 {
		return 0, false
	}
	var n int64
	for _, c := range s {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	if n <= 0 || n > 1<<31-1 {
		return 0, false
	}
	return int32(n), true
}
