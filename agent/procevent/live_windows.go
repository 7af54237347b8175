//go:build windows

package procevent

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/windows"
)

// liveSources are ETW, then polling the process list.
func liveSources() []source {
	return []source{etwSource{}, poller{label: "poll EnumProcesses every " + PollInterval.String(), every: PollInterval, list: enumPids}}
}

var (
	advapi32           = windows.NewLazySystemDLL("advapi32.dll")
	procStartTraceW    = advapi32.NewProc("StartTraceW")
	procControlTraceW  = advapi32.NewProc("ControlTraceW")
	procEnableTraceEx2 = advapi32.NewProc("EnableTraceEx2")
	procOpenTraceW     = advapi32.NewProc("OpenTraceW")
	procProcessTrace   = advapi32.NewProc("ProcessTrace")
	procCloseTrace     = advapi32.NewProc("CloseTrace")
)

// kernelProcess is Microsoft-Windows-Kernel-Process,
// {22fb2cd6-0e7b-422b-a0c7-2fad1fd0e716}.
var kernelProcess = windows.GUID{Data1: 0x22fb2cd6, Data2: 0x0e7b, Data3: 0x422b, Data4: [8]byte{0xa0, 0xc7, 0x2f, 0xad, 0x1f, 0xd0, 0xe7, 0x16}}

const (
	etwSessionName = "farmwatch-process-events"

	wnodeFlagTracedGUID          = 0x00020000
	eventTraceRealTimeMode       = 0x00000100
	eventTraceControlStop        = 1
	eventControlCodeEnable       = 1
	traceLevelInformation        = 4
	keywordProcess               = 0x10 // WINEVENT_KEYWORD_PROCESS
	processTraceModeRealTime     = 0x00000100
	processTraceModeEventRecord  = 0x10000000
	invalidProcessTraceHandle    = ^uint64(0)
	errorAlreadyExists           = 183
	errorCtxClosePending         = 7007 // ProcessTrace's answer to CloseTrace
	etwQueue                     = 4096
	etwClientContextQPC          = 1
	etwBufferKB, etwMinBuffers   = 64, 4
	etwMaxBuffers, etwFlushTimer = 16, 1
)

// wnodeHeader and eventTraceProperties are WNODE_HEADER and
// EVENT_TRACE_PROPERTIES (evntrace.h), 120 bytes on 64-bit Windows.
type wnodeHeader struct {
	BufferSize        uint32
	ProviderID        uint32
	HistoricalContext uint64
	TimeStamp         int64
	GUID              windows.GUID
	ClientContext     uint32
	Flags             uint32
}

type eventTraceProperties struct {
	Wnode               wnodeHeader
	BufferSize          uint32
	MinimumBuffers      uint32
	MaximumBuffers      uint32
	MaximumFileSize     uint32
	LogFileMode         uint32
	FlushTimer          uint32
	EnableFlags         uint32
	AgeLimit            int32
	NumberOfBuffers     uint32
	FreeBuffers         uint32
	EventsLost          uint32
	BuffersWritten      uint32
	LogBuffersLost      uint32
	RealTimeBuffersLost uint32
	LoggerThreadID      windows.Handle
	LogFileNameOffset   uint32
	LoggerNameOffset    uint32
}

// traceProperties is the properties with room for the session name after
// them, as StartTrace and ControlTrace want.
type traceProperties struct {
	p    eventTraceProperties
	name [64]uint16
}

func newTraceProperties() *traceProperties {
	t := &traceProperties{}
	t.p.Wnode.BufferSize = uint32(unsafe.Sizeof(*t))
	t.p.Wnode.Flags = wnodeFlagTracedGUID
	t.p.Wnode.ClientContext = etwClientContextQPC
	t.p.BufferSize, t.p.MinimumBuffers, t.p.MaximumBuffers = etwBufferKB, etwMinBuffers, etwMaxBuffers
	t.p.LogFileMode = eventTraceRealTimeMode
	t.p.FlushTimer = etwFlushTimer
	t.p.LoggerNameOffset = uint32(unsafe.Offsetof(t.name))
	return t
}

// eventTraceLogfile is EVENT_TRACE_LOGFILEW, 448 bytes on 64-bit Windows;
// the parts the agent does not use are kept as opaque words.
type eventTraceLogfile struct {
	LogFileName         *uint16
	LoggerName          *uint16
	CurrentTime         int64
	BuffersRead         uint32
	ProcessTraceMode    uint32
	CurrentEvent        [11]uint64 // EVENT_TRACE
	LogfileHeader       [35]uint64 // TRACE_LOGFILE_HEADER
	BufferCallback      uintptr
	BufferSize          uint32
	Filled              uint32
	EventsLost          uint32
	EventRecordCallback uintptr
	IsKernelTrace       uint32
	Context             uintptr
}

// eventRecord is EVENT_RECORD (evntcons.h), 112 bytes on 64-bit Windows.
type eventRecord struct {
	Size, HeaderType, Flags, EventProperty uint16
	ThreadID, ProcessID                    uint32
	TimeStamp                              int64
	ProviderID                             windows.GUID
	ID                                     uint16
	Version, Channel, Level, Opcode        uint8
	Task                                   uint16
	Keyword                                uint64
	ProcessorTime                          uint64
	ActivityID                             windows.GUID
	BufferContext                          uint32
	ExtendedDataCount                      uint16
	UserDataLength                         uint16
	ExtendedData                           unsafe.Pointer
	UserData                               unsafe.Pointer
	UserContext                            unsafe.Pointer
}

// The callback is made once per process (Windows callbacks cannot be
// freed) and hands records to the session that runs, through etwSink.
var (
	etwCallback = sync.OnceValue(func() uintptr { return windows.NewCallback(onETWRecord) })
	etwSink     atomic.Pointer[etwSession]
)

type etwSession struct {
	events chan Event
	lost   atomic.Uint64
}

func onETWRecord(r *eventRecord) uintptr {
	s := etwSink.Load()
	if s == nil || r == nil || r.ProviderID != kernelProcess || r.UserData == nil {
		return 0
	}
	data := unsafe.Slice((*byte)(r.UserData), r.UserDataLength)
	ev, _, ok, err := parseETW(etwRecord{ID: r.ID, Version: r.Version, UserData: data})
	if err != nil || !ok {
		return 0
	}
	select {
	case s.events <- ev:
	default:
		s.lost.Add(1)
	}
	return 0
}

// etwSource is a real-time ETW session with Microsoft-Windows-Kernel-Process
// enabled for its process keyword. It needs the rights of an
// administrator or of SYSTEM (the service's account).
type etwSource struct{}

func (etwSource) name() string { return "etw (Microsoft-Windows-Kernel-Process)" }

func (etwSource) run(ctx context.Context, emit func([]Event), lost func(uint64)) error {
	name, _ := windows.UTF16PtrFromString(etwSessionName)
	props := newTraceProperties()
	var session uint64
	r, _, _ := procStartTraceW.Call(uintptr(unsafe.Pointer(&session)), uintptr(unsafe.Pointer(name)), uintptr(unsafe.Pointer(&props.p)))
	if r == errorAlreadyExists { // left by an agent that did not stop cleanly
		stop := newTraceProperties()
		procControlTraceW.Call(0, uintptr(unsafe.Pointer(name)), uintptr(unsafe.Pointer(&stop.p)), eventTraceControlStop)
		props = newTraceProperties()
		r, _, _ = procStartTraceW.Call(uintptr(unsafe.Pointer(&session)), uintptr(unsafe.Pointer(name)), uintptr(unsafe.Pointer(&props.p)))
	}
	if r != 0 {
		return fmt.Errorf("%w: StartTrace: %v", errUnavailable, windows.Errno(r))
	}
	defer func() {
		stop := newTraceProperties()
		procControlTraceW.Call(uintptr(session), 0, uintptr(unsafe.Pointer(&stop.p)), eventTraceControlStop)
	}()
	r, _, _ = procEnableTraceEx2.Call(uintptr(session), uintptr(unsafe.Pointer(&kernelProcess)), eventControlCodeEnable,
		traceLevelInformation, keywordProcess, 0, 0, 0)
	if r != 0 {
		return fmt.Errorf("%w: EnableTraceEx2: %v", errUnavailable, windows.Errno(r))
	}
	s := &etwSession{events: make(chan Event, etwQueue)}
	if !etwSink.CompareAndSwap(nil, s) {
		return fmt.Errorf("%w: another ETW session of this agent runs", errUnavailable)
	}
	defer etwSink.Store(nil)
	lf := eventTraceLogfile{LoggerName: name, ProcessTraceMode: processTraceModeRealTime | processTraceModeEventRecord,
		EventRecordCallback: etwCallback()}
	th, _, _ := procOpenTraceW.Call(uintptr(unsafe.Pointer(&lf)))
	if uint64(th) == invalidProcessTraceHandle {
		return fmt.Errorf("%w: OpenTrace failed", errUnavailable)
	}
	done := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // the callback runs on this thread
		defer runtime.UnlockOSThread()
		handle := uint64(th)
		r, _, _ := procProcessTrace.Call(uintptr(unsafe.Pointer(&handle)), 1, 0, 0)
		if r != 0 && r != errorCtxClosePending {
			done <- fmt.Errorf("ProcessTrace: %v", windows.Errno(r))
			return
		}
		done <- nil
	}()
	var batch []Event
	for {
		select {
		case <-ctx.Done():
			procCloseTrace.Call(th)
			<-done
			return nil
		case err := <-done:
			procCloseTrace.Call(th)
			if err == nil {
				err = errors.New("the ETW session ended")
			}
			return err
		case ev := <-s.events:
			batch = append(batch[:0], ev)
			for more := true; more && len(batch) < 256; {
				select {
				case ev := <-s.events:
					batch = append(batch, ev)
				default:
					more = false
				}
			}
			emit(batch)
			if n := s.lost.Swap(0); n > 0 {
				lost(n)
			}
		}
	}
}

// enumPids lists the process ids (EnumProcesses), sorted.
func enumPids(dst []procID) ([]procID, error) {
	ids := make([]uint32, 4096)
	for {
		var got uint32
		if err := windows.EnumProcesses(ids, &got); err != nil {
			return dst, err
		}
		n := int(got) / 4
		if n < len(ids) {
			ids = ids[:n]
			break
		}
		ids = make([]uint32, 2*len(ids))
	}
	for _, id := range ids {
		if id > 4 { // 0 idle, 4 System
			dst = append(dst, procID{pid: int32(id)})
		}
	}
	slices.SortFunc(dst, func(a, b procID) int { return int(a.pid - b.pid) })
	return dst, nil
}
