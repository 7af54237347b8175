package procevent

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/farmwatch/farmwatch/agent/host"
	fwv1 "github.com/farmwatch/farmwatch/proto/farmwatch/v1"
	"github.com/google/go-cmp/cmp"
)

func TestDiff(t *testing.T) {
	at := time.Unix(100, 0)
	prev := []procID{{1, 0}, {5, 10}, {7, 0}, {9, 3}}
	cur := []procID{{1, 0}, {5, 11}, {8, 0}, {9, 3}, {12, 0}}
	want := []Event{
		{Kind: Exit, Pid: 5, Time: at}, {Kind: Exec, Pid: 5, Time: at}, // pid reused
		{Kind: Exit, Pid: 7, Time: at},
		{Kind: Exec, Pid: 8, Time: at},
		{Kind: Exec, Pid: 12, Time: at},
	}
	if d := cmp.Diff(want, diff(prev, cur, at, nil)); d != "" {
		t.Errorf("(-want +got):\n%s", d)
	}
	if got := diff(cur, cur, at, nil); len(got) != 0 {
		t.Errorf("no change gave %v", got)
	}
}

// rootHost is a --root tree with one process, pid 4242, started 12.34 s
// after a boot at Unix time 1764316800.
func rootHost(t *testing.T, name string) *host.Host {
	dir := t.TempDir()
	files := map[string]string{
		"proc/stat":         "cpu  1 2 3\nbtime 1764316800\n",
		"etc/passwd":        "root:x:0:0:root:/root:/bin/bash\nalice:x:1000:1000::/home/alice:/bin/bash\n",
		"proc/4242/stat":    "4242 (" + name + ") S 612 4242 4242 0 -1 4194560 1 0 0 0 0 0 0 0 20 0 1 0 1234 1000 100 18446744073709551615 0 0 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0\n",
		"proc/4242/status":  "Name:\t" + name + "\nUid:\t1000\t1000\t1000\t1000\n",
		"proc/4242/cmdline": "/home/alice/Downloads/" + name + "\x00--tray\x00",
		"proc/612/stat":     "612 (systemd) S 1 612 612 0 -1 4194560 1 0 0 0 0 0 0 0 20 0 1 0 50 1000 100 18446744073709551615 0 0 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0\n",
	}
	for p, c := range files {
		full := filepath.Join(dir, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(c), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "snapshot.json"), []byte(`{"os":"linux","hostname":"h"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	h, err := host.FromRoot(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	return h
}

func TestWatcher(t *testing.T) {
	for _, tc := range []struct {
		name  string
		cares bool
	}{{"anydesk", true}, {"firefox", false}} {
		t.Run(tc.name, func(t *testing.T) {
			notified := 0
			var judged *fwv1.Process
			w := New(Config{Host: rootHost(t, tc.name),
				Judge:  func(p *fwv1.Process) bool { judged = p; return p.Name == "anydesk" },
				Notify: func() { notified++ }})
			w.setMode("netlink (CN_PROC)")
			start := time.Unix(1764316812, 340e6)
			end := start.Add(3 * time.Second)
			w.handle([]Event{{Kind: Exec, Pid: 4242, Time: start}, {Kind: Exec, Pid: 999, Time: start}})
			if judged == nil || judged.ParentName != "systemd" || judged.Username != "alice" || judged.ExeName != "" {
				t.Fatalf("judged %v", judged)
			}
			w.handle([]Event{{Kind: Exit, Pid: 4242, Time: end}, {Kind: Exit, Pid: 1, Time: end}})
			got := w.Ended()
			st := w.Stats()
			if st.Execs != 2 || st.Exits != 2 || st.Judged != 1 || st.Gone != 1 {
				t.Errorf("stats %+v", st)
			}
			if !tc.cares {
				if len(got) != 0 || notified != 0 {
					t.Fatalf("a process the rules do not care about was kept: %v, %d notices", got, notified)
				}
				return
			}
			if notified != 2 || len(got) != 1 {
				t.Fatalf("%d notices, ended %v", notified, got)
			}
			p := got[0].Process()
			if !p.GetStartTime().AsTime().Equal(start) || !p.GetEndTime().AsTime().Equal(end) || p.Cmdline != "/home/alice/Downloads/anydesk --tray" || got[0].Source != "netlink" {
				t.Errorf("ended %+v", got[0])
			}
			if again := w.Ended(); len(again) != 0 {
				t.Errorf("reported twice: %v", again)
			}
		})
	}
}

func TestWatcherBounds(t *testing.T) {
	w := New(Config{Host: rootHost(t, "anydesk"), Judge: func(*fwv1.Process) bool { return true }})
	for i := range MaxEnded + 10 {
		w.bucket = 0 // a start a second
		at := time.Unix(1764316900+int64(i), 0)
		w.handle([]Event{{Kind: Exec, Pid: 4242, Time: at}, {Kind: Exit, Pid: 4242, Time: at.Add(time.Second)}})
	}
	if n := len(w.Ended()); n != MaxEnded {
		t.Errorf("%d ended kept, want %d", n, MaxEnded)
	}
	if st := w.Stats(); st.DroppedEnded != 10 {
		t.Errorf("stats %+v", st)
	}
	// A burst of starts: MaxJudgedPerSecond are read and judged, the rest
	// counted.
	w = New(Config{Host: rootHost(t, "anydesk"), Judge: func(*fwv1.Process) bool { return false }})
	w.now = func() time.Time { return time.Unix(1764316900, 0) } // all in one second
	for range MaxJudgedPerSecond + 50 {
		w.handle([]Event{{Kind: Exec, Pid: 4242, Time: time.Now()}})
	}
	if st := w.Stats(); st.Judged != MaxJudgedPerSecond || st.OverRate != 50 {
		t.Errorf("burst: stats %+v", st)
	}
}

// TestSensorReplay: a snapshot's api/process_events.json comes back as
// processes with their end, keyed as the process table keys them.
func TestSensorReplay(t *testing.T) {
	snap := `-- snapshot.json --
{"os":"windows","hostname":"w1"}
-- api/process_events.json --
[{"pid":4242,"ppid":612,"name":"AnyDesk.exe","exe":"C:\\Users\\bob\\Downloads\\AnyDesk.exe","cmdline":"","username":"W1\\bob","create_time":1764316800000,"end_time":1764316803000,"source":"etw"},
 {"pid":0,"name":"no pid"}]
`
	s, err := host.ParseSnapshot([]byte(snap))
	if err != nil {
		t.Fatal(err)
	}
	h, err := s.Host()
	if err != nil {
		t.Fatal(err)
	}
	obs, err := Sensor{}.Sense(context.Background(), h)
	if err != nil || len(obs) != 1 {
		t.Fatalf("%v %v", obs, err)
	}
	p := obs[0].GetProcess()
	if obs[0].Key != "process/4242@1764316800000" || p.ExeName != "AnyDesk.exe" || p.GetEndTime().AsTime().Unix() != 1764316803 {
		t.Errorf("%v", obs[0])
	}
	// An older snapshot, without the entry: no events, no failure.
	s2, _ := host.ParseSnapshot([]byte("-- snapshot.json --\n{\"os\":\"windows\",\"hostname\":\"w1\"}\n"))
	h2, _ := s2.Host()
	if obs, err := (Sensor{}).Sense(context.Background(), h2); err != nil || len(obs) != 0 {
		t.Errorf("older snapshot: %v %v", obs, err)
	}
}
