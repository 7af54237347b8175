package activity

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestCounts(t *testing.T) {
	dir := t.TempDir()
	c := NewCounts(dir)
	start := time.Date(2026, 11, 28, 9, 0, 0, 0, time.UTC)
	// A minute apart: in use from 09:00 to 09:59, then idle for an hour.
	for i := range 120 {
		now := start.Add(time.Duration(i) * time.Minute)
		idle := 10 * time.Second
		if i >= 60 {
			idle = time.Duration(i-59) * time.Minute
		}
		a, err := c.Add(now, Sample{Source: "logind", Idle: idle, Console: true})
		if err != nil {
			t.Fatal(err)
		}
		if i == 119 {
			// The first sample's input was at 08:59:50; the one at 10:00
			// saw the input of 09:59, within the minute since the last.
			if a.HoursUtc[8] != 1 || a.HoursUtc[9] != 60 || a.HoursUtc[10] != 0 || a.Samples != 120 || !a.Since.AsTime().Equal(start) {
				t.Fatalf("after two hours: 08h %d, 09h %d, 10h %d, samples %d, since %s", a.HoursUtc[8], a.HoursUtc[9], a.HoursUtc[10], a.Samples, a.Since.AsTime())
			}
		}
	}
	// The counts survive a restart (a new Counts on the same directory);
	// samples without input are written every 15 minutes, so a restart
	// loses at most those.
	c2 := NewCounts(dir)
	a, err := c2.Add(start.Add(120*time.Minute), Sample{Source: "logind", Idle: time.Second, Console: true})
	if err != nil || a.Samples < 121-15 || a.HoursUtc[9] != 60 || a.HoursUtc[10] != 1 {
		t.Fatalf("after a restart: %v %v", a, err)
	}
	// Four weeks later the old days are gone: since is the start of the
	// oldest day kept.
	later := start.AddDate(0, 0, MaxDays+3)
	a, _ = c2.Add(later, Sample{Source: "logind", Idle: time.Second, Console: true})
	if a.Samples != 1 || !a.Since.AsTime().Equal(time.Date(2026, 12, 29, 0, 0, 0, 0, time.UTC)) {
		t.Fatalf("four weeks later: samples %d since %s", a.Samples, a.Since.AsTime())
	}
	// Another source starts afresh.
	a, _ = c2.Add(later.Add(time.Minute), Sample{Source: "x11", Idle: time.Hour, Console: true})
	if a.Source != "x11" || a.Samples != 1 {
		t.Fatalf("another source: %v", a)
	}
}

func TestCountsBounded(t *testing.T) {
	c := NewCounts(t.TempDir())
	start := time.Date(2026, 1, 1, 0, 30, 0, 0, time.UTC)
	for d := range 60 { // a sample every three hours for 60 days
		for h := 0; h < 24; h += 3 {
			c.Add(start.Add(time.Duration(d*24+h)*time.Hour), Sample{Source: "logind", Idle: 0, Console: true})
		}
	}
	b, err := os.ReadFile(c.path)
	if err != nil {
		t.Fatal(err)
	}
	st, err := decodeCounts(b)
	if err != nil || len(st.Days) != MaxDays || len(b) > 8<<10 {
		t.Fatalf("%d days, %d bytes, %v", len(st.Days), len(b), err)
	}
}

// TestCountsMidnight: the input of the day before, sampled after midnight,
// counts in that day with its sample, so no day holds more inputs than
// samples.
func TestCountsMidnight(t *testing.T) {
	c := NewCounts(t.TempDir())
	eve := time.Date(2026, 11, 28, 23, 59, 40, 0, time.UTC)
	c.Add(eve, Sample{Source: "logind", Idle: time.Second, Console: true})
	a, err := c.Add(eve.Add(time.Minute), Sample{Source: "logind", Idle: 50 * time.Second, Console: true})
	if err != nil || a.HoursUtc[23] != 2 || a.Samples != 2 {
		t.Fatalf("%v %v", a, err)
	}
	b, _ := os.ReadFile(c.path)
	if _, err := decodeCounts(b); err != nil {
		t.Fatal(err)
	}
}

func TestCountsDamaged(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, countsFile)
	for _, bad := range []string{"{", `{"v":2}`, `{"v":1,"days":[{"date":"2026-11-28","samples":1,"hours":[5]}]}`,
		`{"v":1,"days":[{"date":"2026-11-29","samples":1},{"date":"2026-11-28","samples":1}]}`} {
		if err := os.WriteFile(p, []byte(bad), 0o600); err != nil {
			t.Fatal(err)
		}
		c := NewCounts(dir)
		a, err := c.Add(time.Date(2026, 11, 28, 9, 0, 0, 0, time.UTC), Sample{Source: "logind", Console: true})
		if err == nil || a.Samples != 1 {
			t.Errorf("%s: %v %v", bad, a, err)
		}
		if _, err := os.Stat(p + ".bad"); err != nil {
			t.Errorf("%s: not set aside: %v", bad, err)
		}
	}
}

// FuzzDecodeCounts: what decodes is within the bounds and encodes back to
// what decodes the same.
func FuzzDecodeCounts(f *testing.F) {
	f.Add([]byte(`{"v":1,"source":"logind","first":1764316800,"last":1764320400,"days":[{"date":"2026-11-28","samples":60,"hours":[0,0,0,0,0,0,0,0,0,12]}]}`))
	f.Add([]byte(`{"v":1}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		st, err := decodeCounts(b)
		if err != nil {
			return
		}
		if len(st.Days) > MaxDays {
			t.Fatalf("%d days", len(st.Days))
		}
		a := st.activity()
		var inputs uint64
		for _, n := range a.HoursUtc {
			inputs += uint64(n)
		}
		if len(a.HoursUtc) != 24 || inputs > uint64(a.Samples) {
			t.Fatalf("activity %v", a)
		}
		again, _ := json.Marshal(st)
		st2, err := decodeCounts(again)
		if err != nil || len(st2.Days) != len(st.Days) || st2.First != st.First {
			t.Fatalf("round trip: %v", err)
		}
	})
}

// FuzzSessionSample: any loginctl output gives a logind sample, never a
// negative idle time, and a console only for a local user's session.
func FuzzSessionSample(f *testing.F) {
	f.Add([]byte(uosSession))
	f.Add([]byte(gnomeIdle))
	f.Fuzz(func(t *testing.T, b []byte) {
		p := parseProps(b)
		s := sessionSample(p, time.Unix(1764316800, 0))
		if s.Source != "logind" || s.Idle < 0 {
			t.Fatalf("%+v", s)
		}
		if s.Console && (p["Remote"] == "yes" || len(p["Class"]) < 4 || p["Class"][:4] != "user") {
			t.Fatalf("a console from %q", b)
		}
	})
}

// FuzzParseHIDIdleTime: a parsed idle time is written in the input.
func FuzzParseHIDIdleTime(f *testing.F) {
	f.Add([]byte("\"HIDIdleTime\" = 4500000000\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		d, err := parseHIDIdleTime(b)
		if err == nil && (d < 0 || !strings.Contains(string(b), strconv.FormatInt(int64(d), 10))) {
			t.Fatalf("%v from %q", d, b)
		}
	})
}
