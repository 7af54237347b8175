package web

import (
	"strings"
	"testing"
	"time"

	"github.com/farmwatch/farmwatch/collector/store"
	fwv1 "github.com/farmwatch/farmwatch/proto/farmwatch/v1"
	"google.golang.org/protobuf/types/known/timestamppb"
)

func TestOpenOverTime(t *testing.T) {
	now := t0
	f := &fwv1.Finding{Rule: "r"}
	rows := []store.FindingRow{
		{Finding: f, State: store.Open, FirstSeen: now.Add(-10 * time.Hour)},                                        // open the last 10 h
		{Finding: f, State: store.Resolved, FirstSeen: now.Add(-20 * time.Hour), LastSeen: now.Add(-5 * time.Hour)}, // 20 h to 5 h ago
		{Finding: &fwv1.Finding{SuppressedBy: "it"}, State: store.Open, FirstSeen: now.Add(-20 * time.Hour)},        // sanctioned: not counted
	}
	p := openOverTime(rows, now, 24*time.Hour, 24) // one point an hour
	pts := strings.Fields(p.Points)
	if len(pts) != 25 || p.Max != 2 || p.Last != 1 {
		t.Fatalf("plot %+v", p)
	}
	// At 24 h ago none, at 8 h ago both, now one: the heights say so.
	y := func(i int) string { return strings.Split(pts[i], ",")[1] }
	if y(0) != "138" || y(16) != "8" || y(24) != "73" {
		t.Fatalf("points %v", pts)
	}
	if e := openOverTime(nil, now, time.Hour, 4); !e.Empty || e.Max != 0 {
		t.Fatalf("empty plot %+v", e)
	}
}

func TestActivityPlot(t *testing.T) {
	hours := make([]uint32, 24)
	hours[3] = 10 // 03:00 UTC
	hours[14] = 4 // 14:00 UTC
	a := &fwv1.Activity{HoursUtc: hours, Samples: 14, Since: timestamppb.New(t0)}
	utc := activityPlot(a, "")
	if utc.Zone != "UTC" || utc.Bars[3].N != 10 || !utc.Bars[3].Off || utc.Night != 10 || utc.Total != 14 {
		t.Fatalf("UTC plot %+v", utc)
	}
	// Asia/Kolkata is UTC+5:30 with no daylight time: 03:00 UTC is 08:30,
	// counted in hour 8, inside working hours.
	in := activityPlot(a, "Asia/Kolkata")
	if in.Zone != "Asia/Kolkata" || in.Bars[8].N != 10 || in.Bars[8].Off || in.Bars[19].N != 4 || in.Night != 0 {
		t.Fatalf("Kolkata plot %+v", in.Bars)
	}
	// America/St_Johns is UTC-3:30 in winter, -2:30 in summer: 03:00 UTC
	// is 23:30 or 00:30 the day before, at night either way.
	nf := activityPlot(a, "America/St_Johns")
	if nf.Bars[23].N+nf.Bars[0].N != 10 || nf.Night != 10 {
		t.Fatalf("St John's plot %+v", nf.Bars)
	}
	bad := activityPlot(a, "Mars/Olympus")
	if bad.Zone != "UTC" || !strings.Contains(bad.ZoneNote, "not an IANA zone") {
		t.Fatalf("a bad zone: %+v", bad)
	}
	// More than 24 counters from an agent are ignored, not a panic.
	activityPlot(&fwv1.Activity{HoursUtc: make([]uint32, 100)}, "UTC")
}
