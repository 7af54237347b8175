package procevent

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"
)

// The Microsoft-Windows-Kernel-Process provider's process events, as an
// ETW consumer receives them (EVENT_RECORD: the header's event id and
// version, and the user data). The user data layouts, by the provider's
// manifest (OTRF/OSSEM data_dictionaries/windows/etw-providers/
// Microsoft-Windows-Kernel-Process/events event-1*.md, event-2*.md):
//
//	ProcessStart (1) v0-v2: ProcessID u32, CreateTime FILETIME, ParentProcessID u32, SessionID u32, ...
//	ProcessStart (1) v3:    ProcessID u32, ProcessSequenceNumber u64, CreateTime FILETIME, ParentProcessID u32, ...
//	ProcessStop (2) v0-v1:  ProcessID u32, CreateTime FILETIME, ExitTime FILETIME, ExitCode u32, ...
//	ProcessStop (2) v2:     ProcessID u32, ProcessSequenceNumber u64, CreateTime FILETIME, ExitTime FILETIME, ...
//
// The user data is packed (no alignment), little-endian.
const (
	etwProcessStart = 1
	etwProcessStop  = 2
)

// etwRecord is what the parser needs of one EVENT_RECORD, and what a test
// records of one.
type etwRecord struct {
	ID       uint16 `json:"id"`
	Version  uint8  `json:"version"`
	UserData []byte `json:"user_data"`
}

// fileTimeEpoch is 1601-01-01 in Unix 100-nanosecond units.
const fileTimeEpoch = 116444736000000000

func fileTime(ft uint64) time.Time {
	if ft < fileTimeEpoch {
		return time.Time{}
	}
	return time.Unix(0, int64(ft-fileTimeEpoch)*100)
}

// parseETW turns one Kernel-Process record into an event; ok is false for
// the provider's other events (threads, images).
func parseETW(r etwRecord) (ev Event, parent int32, ok bool, err error) {
	d := r.UserData
	u32 := func(off int) uint32 { return binary.LittleEndian.Uint32(d[off:]) }
	u64 := func(off int) uint64 { return binary.LittleEndian.Uint64(d[off:]) }
	seq := 0 // the bytes of ProcessSequenceNumber, in the versions that have it
	switch {
	case r.ID == etwProcessStart && r.Version >= 3, r.ID == etwProcessStop && r.Version >= 2:
		seq = 8
	case r.ID != etwProcessStart && r.ID != etwProcessStop:
		return Event{}, 0, false, nil
	}
	need := 4 + seq + 8 + 4 // ProcessID, [sequence], CreateTime, ParentProcessID
	if r.ID == etwProcessStop {
		need = 4 + seq + 8 + 8 // ProcessID, [sequence], CreateTime, ExitTime
	}
	if len(d) < need {
		return Event{}, 0, false, fmt.Errorf("kernel-process event %d v%d: %d bytes of user data, want at least %d", r.ID, r.Version, len(d), need)
	}
	pid := int32(u32(0))
	if pid <= 0 {
		return Event{}, 0, false, errors.New("kernel-process event without a process id")
	}
	created := fileTime(u64(4 + seq))
	if r.ID == etwProcessStart {
		return Event{Kind: Exec, Pid: pid, Time: created}, int32(u32(4 + seq + 8)), true, nil
	}
	return Event{Kind: Exit, Pid: pid, Time: fileTime(u64(4 + seq + 8))}, 0, true, nil
}
