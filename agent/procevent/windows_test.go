package procevent

import (
	"encoding/binary"
	"testing"
	"time"
)

// Kernel-Process user data assembled field by field from the provider's
// manifest (OTRF/OSSEM event-1*.md, event-2*.md): no captured record is
// public in a form we could cite, so these are built, not recorded.
type fields []any

func (f fields) bytes() []byte {
	var b []byte
	for _, v := range f {
		switch v := v.(type) {
		case uint32:
			b = binary.LittleEndian.AppendUint32(b, v)
		case uint64:
			b = binary.LittleEndian.AppendUint64(b, v)
		case string: // UnicodeString: UTF-16LE, NUL-terminated
			for _, r := range v {
				b = binary.LittleEndian.AppendUint16(b, uint16(r))
			}
			b = append(b, 0, 0)
		case []byte:
			b = append(b, v...)
		}
	}
	return b
}

func ft(t time.Time) uint64 { return uint64(t.UnixNano()/100) + fileTimeEpoch }

func TestParseETW(t *testing.T) {
	created := time.Date(2026, 11, 28, 9, 12, 3, 500_000_000, time.UTC)
	exited := created.Add(3 * time.Second)
	sid := []byte{1, 1, 0, 0, 0, 0, 0, 16, 0, 0x20, 0, 0} // S-1-16-8192, medium integrity
	img := `\Device\HarddiskVolume3\Users\bob\Downloads\AnyDesk.exe`
	tests := []struct {
		name   string
		rec    etwRecord
		want   Event
		parent int32
		ok     bool
	}{
		{"start v0", etwRecord{ID: 1, Version: 0, UserData: fields{uint32(4242), ft(created), uint32(612), uint32(1), img}.bytes()},
			Event{Kind: Exec, Pid: 4242, Time: created}, 612, true},
		{"start v2", etwRecord{ID: 1, Version: 2, UserData: fields{uint32(4242), ft(created), uint32(612), uint32(1), uint32(0), img, uint32(0xabc), uint32(0x5f000000), "", ""}.bytes()},
			Event{Kind: Exec, Pid: 4242, Time: created}, 612, true},
		{"start v3", etwRecord{ID: 1, Version: 3, UserData: fields{uint32(4242), uint64(77), ft(created), uint32(612), uint64(12), uint32(1), uint32(0), uint32(3), uint32(0), sid, img, uint32(0), uint32(0), "", ""}.bytes()},
			Event{Kind: Exec, Pid: 4242, Time: created}, 612, true},
		{"stop v0", etwRecord{ID: 2, Version: 0, UserData: fields{uint32(4242), ft(created), ft(exited), uint32(0), uint32(3), uint32(120), uint64(1 << 20), uint64(2 << 20), "AnyDesk.exe\x00"}.bytes()},
			Event{Kind: Exit, Pid: 4242, Time: exited}, 0, true},
		{"stop v2", etwRecord{ID: 2, Version: 2, UserData: fields{uint32(4242), uint64(77), ft(created), ft(exited), uint32(1)}.bytes()},
			Event{Kind: Exit, Pid: 4242, Time: exited}, 0, true},
		{"thread start is not a process's", etwRecord{ID: 3, Version: 1, UserData: fields{uint32(4242), uint32(9000)}.bytes()}, Event{}, 0, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ev, parent, ok, err := parseETW(tc.rec)
			if err != nil || ok != tc.ok || parent != tc.parent || ev.Kind != tc.want.Kind || ev.Pid != tc.want.Pid || !ev.Time.Equal(tc.want.Time) {
				t.Errorf("parseETW = %+v %d %v %v, want %+v %d %v", ev, parent, ok, err, tc.want, tc.parent, tc.ok)
			}
		})
	}
	for _, bad := range []etwRecord{
		{ID: 1, Version: 3, UserData: fields{uint32(4242), ft(created), uint32(612)}.bytes()}, // a v0 layout is too short for v3
		{ID: 2, Version: 0, UserData: fields{uint32(4242), ft(created)}.bytes()},
		{ID: 1, Version: 0, UserData: fields{uint32(0), ft(created), uint32(612), uint32(1)}.bytes()},
	} {
		if _, _, ok, err := parseETW(bad); err == nil || ok {
			t.Errorf("parseETW(%+v) took it", bad)
		}
	}
}

// FuzzParseETW: any record parses without panic; an event comes only
// from a process start or stop, with the pid of its first four bytes.
func FuzzParseETW(f *testing.F) {
	f.Add(uint16(1), uint8(0), fields{uint32(4242), ft(time.Unix(1764316800, 0)), uint32(612), uint32(1), "a.exe"}.bytes())
	f.Add(uint16(2), uint8(2), fields{uint32(4242), uint64(7), uint64(0), uint64(1)}.bytes())
	f.Fuzz(func(t *testing.T, id uint16, version uint8, data []byte) {
		ev, _, ok, err := parseETW(etwRecord{ID: id, Version: version, UserData: data})
		if !ok {
			return
		}
		if err != nil || (id != 1 && id != 2) || ev.Pid != int32(binary.LittleEndian.Uint32(data)) || ev.Pid <= 0 {
			t.Fatalf("id %d v%d: %+v %v", id, version, ev, err)
		}
	})
}
