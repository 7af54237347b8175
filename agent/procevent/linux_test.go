package procevent

import (
	"encoding/hex"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// Datagrams recorded from the process connector of a Linux 6.18 machine
// (x86_64) while /bin/true ran: the answer to the subscription, the
// fork, the exec and the exit.
const (
	recAck  = "4c0000000300000084f5000000000000010000000100000084f5000001000000280000000000000001000000c62d1d55ff080000000000000000000000000000000000000000000000000000"
	recExec = "4c0000000300000085f5000000000000010000000100000085f50000000000002800000002000000010000000450fc55ff080000182f0000182f000000000000000000000000000000000000"
	recFork = "4c0000000300000086f5000000000000010000000100000086f5000000000000280000000100000001000000a56a0157ff080000fd2e0000fd2e0000292f00001e2f00000000000000000000"
	recExit = "4c0000000300000089f5000000000000010000000100000089f500000000000028000000000000800100000099d5f257ff0800001e2f00001e2f00000000000011000000fd2e0000fd2e0000"
)

func unhex(t testing.TB, s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestParseCNProc(t *testing.T) {
	threadExit := unhex(t, recExit)
	threadExit[52] = 0x1f // a thread (pid 12063) of the thread group 12062
	refused := unhex(t, recAck)
	refused[52] = 1 // EPERM
	tests := []struct {
		name string
		in   []byte
		want []cnEvent
		evs  []Event
	}{
		{"ack", unhex(t, recAck), []cnEvent{{what: procEventNone, tsNanos: 0x8ff551d2dc6}}, nil},
		{"refused", refused, []cnEvent{{what: procEventNone, tsNanos: 0x8ff551d2dc6, ackErr: 1}}, nil},
		{"exec", unhex(t, recExec), []cnEvent{{what: procEventExec, tsNanos: 0x8ff55fc5004, pid: 12056, tgid: 12056}},
			[]Event{{Kind: Exec, Pid: 12056, Time: time.Unix(0, 0x8ff55fc5004)}}},
		{"fork is skipped", unhex(t, recFork), nil, nil},
		{"exit", unhex(t, recExit), []cnEvent{{what: procEventExit, tsNanos: 0x8ff57f2d599, pid: 12062, tgid: 12062}},
			[]Event{{Kind: Exit, Pid: 12062, Time: time.Unix(0, 0x8ff57f2d599)}}},
		{"a thread's exit is no process's", threadExit, []cnEvent{{what: procEventExit, tsNanos: 0x8ff57f2d599, pid: 12063, tgid: 12062}}, nil},
		{"two in one datagram", append(unhex(t, recExec), unhex(t, recExit)...), []cnEvent{
			{what: procEventExec, tsNanos: 0x8ff55fc5004, pid: 12056, tgid: 12056},
			{what: procEventExit, tsNanos: 0x8ff57f2d599, pid: 12062, tgid: 12062}},
			[]Event{{Kind: Exec, Pid: 12056, Time: time.Unix(0, 0x8ff55fc5004)}, {Kind: Exit, Pid: 12062, Time: time.Unix(0, 0x8ff57f2d599)}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseCNProc(tc.in)
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(tc.want, got, cmp.AllowUnexported(cnEvent{})); d != "" {
				t.Errorf("parse (-want +got):\n%s", d)
			}
			evs := procEvents(got, func(ts uint64) int64 { return int64(ts) }, nil)
			if d := cmp.Diff(tc.evs, evs); d != "" {
				t.Errorf("events (-want +got):\n%s", d)
			}
		})
	}
	for _, bad := range [][]byte{unhex(t, recExec)[:20], unhex(t, recExec)[:60], {0xff, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}} {
		if _, err := parseCNProc(bad); err == nil {
			t.Errorf("parseCNProc(%x) took a cut message", bad)
		}
	}
}

func TestListenRequest(t *testing.T) {
	// The request a subscriber sends, as the recorded one's layout:
	// netlink header, cn_msg {1, 1}, the op.
	want := "280000000300000000000000d2040000010000000100000000000000000000000400000001000000"
	if got := hex.EncodeToString(listenRequest(procCnMcastListen, 1234)); got != want {
		t.Errorf("listenRequest = %s, want %s", got, want)
	}
}

func TestAppendDirentPids(t *testing.T) {
	// linux_dirent64 records: ino (8), off (8), reclen (2), type (1), name.
	rec := func(name string) []byte {
		n := 19 + len(name) + 1
		n = (n + 7) &^ 7
		b := make([]byte, n)
		b[16], b[17] = byte(n), byte(n>>8)
		copy(b[19:], name)
		return b
	}
	var buf []byte
	for _, n := range []string{".", "..", "1", "self", "4242", "99999999999", "12x", "2147483647"} {
		buf = append(buf, rec(n)...)
	}
	got := appendDirentPids(buf, nil)
	want := []procID{{pid: 1}, {pid: 4242}, {pid: 2147483647}}
	if d := cmp.Diff(want, got, cmp.AllowUnexported(procID{})); d != "" {
		t.Errorf("(-want +got):\n%s", d)
	}
}
