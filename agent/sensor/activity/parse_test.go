package activity

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/farmwatch/farmwatch/agent/host"
)

// A deepin (UOS 20) X11 session of a user, as `loginctl show-session 1`
// printed it on a public blog post about multi-seat Xorg (2023-10, found
// by code search): a desktop that never sets the idle hint.
const uosSession = `Id=1
User=1000
Name=uos
Timestamp=Tue 2023-10-24 10:44:15 CST
TimestampMonotonic=4856519
VTNr=1
Seat=seat0
Display=:0
Remote=no
Service=lightdm-autologin
Desktop=deepin
Scope=session-1.scope
Leader=1137
Audit=1
Type=x11
Class=user
Active=yes
State=active
IdleHint=no
IdleSinceHint=0
IdleSinceHintMonotonic=0
LockedHint=no
`

// A GNOME Wayland session that went idle (gnome-session sets the hint
// after its idle delay), assembled from systemd's documented properties of
// org.freedesktop.login1.Session; the values are made up.
const gnomeIdle = `Id=2
User=1000
Name=alice
Timestamp=Fri 2026-11-27 08:58:01 CET
TimestampMonotonic=30512311
VTNr=2
Seat=seat0
TTY=tty2
Remote=no
Service=gdm-password
Desktop=GNOME
Scope=session-2.scope
Leader=1811
Audit=2
Type=wayland
Class=user
Active=yes
State=active
IdleHint=yes
IdleSinceHint=1764316200000000
IdleSinceHintMonotonic=9812345678
LockedHint=yes
`

func TestSessionSample(t *testing.T) {
	now := time.Unix(1764316800, 0) // 10 minutes after gnomeIdle went idle
	active := func(s string) string { return s }
	tests := []struct {
		name string
		in   string
		want Sample
	}{
		{"a desktop that never sets the hint says nothing", uosSession, Sample{Source: "logind"}},
		{"idle since the hint", gnomeIdle, Sample{Source: "logind", Idle: 10 * time.Minute, Console: true}},
		{"in use: the hint was cleared", active("Type=wayland\nClass=user\nActive=yes\nIdleHint=no\nIdleSinceHint=1764316790000000\n"), Sample{Source: "logind", Console: true}},
		{"a text console: the terminal's access time", "Type=tty\nClass=user\nActive=yes\nIdleHint=no\nIdleSinceHint=1764316770000000\n", Sample{Source: "logind", Idle: 30 * time.Second, Console: true}},
		{"a remote session is not the console", "Type=x11\nClass=user\nRemote=yes\nIdleHint=no\nIdleSinceHint=1764316790000000\n", Sample{Source: "logind"}},
		{"the login screen is nobody's", "Type=x11\nClass=greeter\nActive=yes\nIdleHint=no\nIdleSinceHint=1764316790000000\n", Sample{Source: "logind"}},
		{"a hint from the future is no idle time", "Type=tty\nClass=user\nIdleSinceHint=1764316900000000\n", Sample{Source: "logind", Console: true}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := sessionSample(parseProps([]byte(tc.in)), now); got != tc.want {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestParseHIDIdleTime(t *testing.T) {
	// ioreg's text output, in the shape several public projects parse it
	// ("  |   \"HIDIdleTime\" = N"); assembled, the values made up.
	const ioreg = `+-o IOHIDSystem  <class IOHIDSystem, id 0x100000394, registered, matched, active, busy 0 (0 ms), retain 27>
    {
      "IOClass" = "IOHIDSystem"
      "HIDIdleTime" = 4500000000
      "HIDPointerAcceleration" = 45056
      "IOProviderClass" = "IOResources"
    }
`
	tests := []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{ioreg, 4500 * time.Millisecond, true},
		{"  | |   \"HIDIdleTime\" = 2351216542\n", 2351216542, true},
		{"\"HIDIdleTime\" = 900\n\"HIDIdleTime\" = 70\n", 70, true}, // two objects: the last input
		{"\"HIDIdleTime\"=7", 7, true},
		{"\"HIDIdleTimeX\" = 7\n\"HIDIdleTime\" = 8", 8, true},
		{"\"IOClass\" = \"IOHIDSystem\"\n", 0, false},
		{"\"HIDIdleTime\" = -3\n", 0, false},
		{"\"HIDIdleTime\" = 99999999999999999999999\n", 0, false},
		{"", 0, false},
	}
	for _, tc := range tests {
		got, err := parseHIDIdleTime([]byte(tc.in))
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("parseHIDIdleTime(%q) = %v, %v; want %v ok=%v", tc.in, got, err, tc.want, tc.ok)
		}
	}
}

func TestRecordSample(t *testing.T) {
	tests := []struct {
		name string
		r    Record
		want Sample
		err  bool
	}{
		{"the helper read it", Record{ConsoleSession: 1, User: "bob", Method: "helper", IdleMS: 1500}, Sample{Source: "last_input_info", Idle: 1500 * time.Millisecond, Console: true}, false},
		{"nobody logged on", Record{ConsoleSession: 1, IdleMS: -1}, Sample{Source: "last_input_info"}, false},
		{"no console session", Record{ConsoleSession: -1, IdleMS: -1}, Sample{Source: "last_input_info"}, false},
		{"the helper failed", Record{ConsoleSession: 1, User: "bob", Method: "helper", IdleMS: -1, Error: "WTSQueryUserToken: Access is denied."}, Sample{Source: "last_input_info"}, true},
	}
	for _, tc := range tests {
		got, err := recordSample(tc.r)
		if got != tc.want || (err != nil) != tc.err {
			t.Errorf("%s: %+v %v", tc.name, got, err)
		}
	}
}

// snapshotHost builds a replayed host of entries.
func snapshotHost(t *testing.T, meta string, entries ...string) *host.Host {
	t.Helper()
	txt := "-- snapshot.json --\n" + meta + "\n"
	for i := 0; i+1 < len(entries); i += 2 {
		txt += "-- " + entries[i] + " --\n" + entries[i+1]
	}
	s, err := host.ParseSnapshot([]byte(txt))
	if err != nil {
		t.Fatal(err)
	}
	h, err := s.Host()
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// TestSense replays each OS: a replayed host reports its one sample, in
// the UTC hour of its last input.
func TestSense(t *testing.T) {
	tests := []struct {
		name    string
		h       *host.Host
		hour    int // of the input; -1: a sample without input
		source  string
		noObs   bool
		wantErr bool
	}{
		{"linux in use", snapshotHost(t, `{"os":"linux","hostname":"l","captured":"2026-11-28T10:00:30Z"}`,
			"cmd//usr/bin/loginctl show-seat seat0", "Id=seat0\nActiveSession=2\nCanGraphical=yes\n",
			"cmd//usr/bin/loginctl show-session 2", "Type=wayland\nClass=user\nActive=yes\nIdleHint=no\nIdleSinceHint=1764316790000000\n"), 10, "logind", false, false},
		{"linux idle for hours", snapshotHost(t, `{"os":"linux","hostname":"l","captured":"2026-11-28T10:00:30Z"}`,
			"cmd//usr/bin/loginctl show-seat seat0", "ActiveSession=2\n",
			"cmd//usr/bin/loginctl show-session 2", gnomeIdle), -1, "logind", false, false},
		{"linux, nobody at the console", snapshotHost(t, `{"os":"linux","hostname":"l","captured":"2026-11-28T10:00:30Z"}`,
			"cmd//usr/bin/loginctl show-seat seat0", "Id=seat0\nActiveSession=\n"), 0, "", true, false},
		{"linux, logind's seat file", snapshotHost(t, `{"os":"linux","hostname":"l","captured":"2026-11-28T10:00:30Z"}`,
			"root/run/systemd/seats/seat0", "# This is private data. Do not parse.\nIS_SEAT0=1\nCAN_MULTI_SESSION=1\nCAN_TTY=1\nCAN_GRAPHICAL=1\nACTIVE=2\nACTIVE_UID=1000\nSESSIONS=2 c1\nUIDS=1000 120\n",
			"cmd//usr/bin/loginctl show-session 2", "Type=wayland\nClass=user\nActive=yes\nIdleHint=no\nIdleSinceHint=1764316790000000\n"), 10, "logind", false, false},
		{"linux, the seat file says nobody is active", snapshotHost(t, `{"os":"linux","hostname":"l","captured":"2026-11-28T10:00:30Z"}`,
			"root/run/systemd/seats/seat0", "IS_SEAT0=1\nCAN_GRAPHICAL=1\n",
			"cmd//usr/bin/loginctl show-seat seat0", "Id=seat0\nActiveSession=2\n"), 0, "", true, false},
		{"linux, a snapshot with neither", snapshotHost(t, `{"os":"linux","hostname":"l"}`), 0, "", true, false},
		{"macOS", snapshotHost(t, `{"os":"darwin","hostname":"m","captured":"2026-11-28T03:10:00Z"}`,
			"cmd//usr/sbin/ioreg -r -d 1 -c IOHIDSystem", "+-o IOHIDSystem  <class IOHIDSystem>\n    {\n      \"HIDIdleTime\" = 20000000000\n    }\n"), 3, "hid_idle_time", false, false},
		{"windows", snapshotHost(t, `{"os":"windows","hostname":"w","captured":"2026-11-28T22:00:05Z"}`,
			"api/activity.json", `{"console_session":1,"user":"bob","method":"helper","idle_ms":10000}`+"\n"), 21, "last_input_info", false, false},
		{"a snapshot from before the sensor", snapshotHost(t, `{"os":"windows","hostname":"w"}`), 0, "", true, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			obs, err := Sensor{Counts: NewCounts(t.TempDir())}.Sense(context.Background(), tc.h)
			if (err != nil) != tc.wantErr {
				t.Fatal(err)
			}
			if tc.noObs {
				if len(obs) != 0 {
					t.Fatalf("observations %v", obs)
				}
				return
			}
			if len(obs) != 1 {
				t.Fatalf("observations %v", obs)
			}
			a := obs[0].GetActivity()
			if a.Source != tc.source || a.Samples != 1 || len(a.HoursUtc) != 24 || obs[0].Key != "activity/"+tc.source {
				t.Fatalf("activity %v", obs[0])
			}
			for h, n := range a.HoursUtc {
				if want := uint32(0); h == tc.hour {
					want = 1
					if n != want {
						t.Errorf("hour %d: %d", h, n)
					}
				} else if n != want {
					t.Errorf("hour %d: %d", h, n)
				}
			}
		})
	}
	// A replayed host never writes the resident agent's counts.
	dir := t.TempDir()
	Sensor{Counts: NewCounts(dir)}.Sense(context.Background(), tests[0].h)
	if _, err := os.Stat(filepath.Join(dir, countsFile)); err == nil {
		t.Error("a replay wrote the counts")
	}
}

// TestLiveNoSeatRunsNothing: on a live Linux machine without logind's
// console seat (a server, a VM, this CI machine) the sensor reports no
// sample and runs no command at all: loginctl used to run at every scan.
func TestLiveNoSeatRunsNothing(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("logind is Linux")
	}
	if _, err := os.Stat(seatFile); err == nil {
		t.Skipf("this machine has a console seat (%s)", seatFile)
	}
	h, err := host.Live()
	if err != nil {
		t.Fatal(err)
	}
	h.Record()
	s, err := readLinux(context.Background(), h)
	if err != nil || s.Console {
		t.Fatalf("sample %+v, %v: want none", s, err)
	}
	var b bytes.Buffer
	if err := h.WriteSnapshot(&b); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(b.String(), "-- cmd/") {
		t.Fatalf("a command ran:\n%s", b.String())
	}
}
