package procevent

import (
	"encoding/hex"
	"testing"
)

// FuzzParseCNProc: any datagram parses without panic into at most one
// event per 52 bytes, each of a kind the watcher acts on, whose pids are
// read from the input; procEvents keeps only positive pids.
func FuzzParseCNProc(f *testing.F) {
	for _, s := range []string{recAck, recExec, recFork, recExit, recExec + recExit} {
		b, _ := hex.DecodeString(s)
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		evs, _ := parseCNProc(b)
		if len(evs) > len(b)/offData {
			t.Fatalf("%d events from %d bytes", len(evs), len(b))
		}
		for _, e := range evs {
			if e.what != procEventNone && e.what != procEventExec && e.what != procEventExit {
				t.Fatalf("event kind %#x", e.what)
			}
		}
		for _, e := range procEvents(evs, func(ts uint64) int64 { return int64(ts >> 1) }, nil) {
			if e.Pid <= 0 || (e.Kind != Exec && e.Kind != Exit) {
				t.Fatalf("event %+v", e)
			}
		}
	})
}
