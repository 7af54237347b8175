package web

import (
	"fmt"
	"strings"
	"time"
	_ "time/tzdata" // a person's IANA zone on any OS, whatever the host has installed

	"github.com/farmwatch/farmwatch/collector/store"
	fwv1 "github.com/farmwatch/farmwatch/proto/farmwatch/v1"
)

// Plots are drawn on the server as SVG, by the templates, from numbers
// computed here: no script draws them and nothing agent-supplied goes
// into them but counts.

// The plot area, in SVG units.
const (
	plotW, plotH = 600, 160
	padL, padB   = 36, 22
)

// linePlot is a series over time.
type linePlot struct {
	Points       string // the polyline's "x,y x,y …"
	Max          int
	Last         int
	From, To     time.Time
	W, H, L, B   int
	YTicks       []tick
	XTicks       []tick
	Empty        bool
	Title, Units string
}

type tick struct {
	Pos    int
	Label  string
	Anchor string // the label's text-anchor
}

// openOverTime counts, at n+1 times from now-span to now, the findings
// that were open then: first seen at or before it, and still open or last
// seen after it. A finding that resolved and came back counts from its
// latest opening only (the store keeps a finding's current occurrence).
func openOverTime(rows []store.FindingRow, now time.Time, span time.Duration, n int) *linePlot {
	p := &linePlot{From: now.Add(-span), To: now, W: plotW, H: plotH, L: padL, B: padB, Title: "open findings", Units: "findings"}
	counts := make([]int, n+1)
	for i := range counts {
		at := p.From.Add(span * time.Duration(i) / time.Duration(n))
		for _, r := range rows {
			if r.Finding.GetSuppressedBy() != "" || r.FirstSeen.After(at) {
				continue
			}
			if r.State == store.Open || r.LastSeen.After(at) {
				counts[i]++
			}
		}
		p.Max = max(p.Max, counts[i])
	}
	p.Last = counts[n]
	top := max(p.Max, 1)
	var b strings.Builder
	for i, c := range counts {
		x := padL + (plotW-padL)*i/n
		y := (plotH - padB) - (plotH-padB-8)*c/top
		fmt.Fprintf(&b, "%d,%d ", x, y)
	}
	p.Points = strings.TrimSpace(b.String())
	p.Empty = p.Max == 0
	p.YTicks = []tick{{plotH - padB, "0", "end"}, {8, fmt.Sprint(top), "end"}}
	for i := 0; i <= 7; i++ {
		at := p.From.Add(span * time.Duration(i) / 7)
		anchor := "middle"
		if i == 7 {
			anchor = "end"
		}
		p.XTicks = append(p.XTicks, tick{padL + (plotW-padL)*i/7, at.UTC().Format("Jan 2"), anchor})
	}
	return p
}

// barPlot is a histogram of 24 hours.
type barPlot struct {
	Bars       []bar
	Zone       string // the hours are this zone's
	ZoneNote   string // why it is this zone
	W, H, L, B int
	Max        uint32
	Samples    uint32
	Since      time.Time
	Night      uint32 // input counted between 22:00 and 06:00 in Zone
	Total      uint32
}

type bar struct {
	X, Y, W, H int
	Hour       int
	N          uint32
	Off        bool // outside 08:00-19:00 in the zone: off hours
}

// activityPlot turns an agent's input counts by UTC hour into a histogram
// of the hours in the person's claimed zone (UTC when there is none or it
// is not a zone), off hours marked.
func activityPlot(a *fwv1.Activity, zone string) *barPlot {
	p := &barPlot{W: plotW, H: plotH, L: padL, B: padB, Samples: a.GetSamples(), Zone: "UTC",
		ZoneNote: "no person's time zone is known: hours are UTC"}
	if a.GetSince() != nil {
		p.Since = a.GetSince().AsTime()
	}
	loc := time.UTC
	if zone != "" {
		if l, err := time.LoadLocation(zone); err == nil {
			loc, p.Zone, p.ZoneNote = l, zone, "hours in the person's claimed time zone"
		} else {
			p.ZoneNote = "the person's time zone " + zone + " is not an IANA zone: hours are UTC"
		}
	}
	// The zone's offset today; a zone's daylight saving time moves an
	// hour of the counts, which were kept by UTC hour, by one.
	_, off := time.Now().In(loc).Zone()
	var local [24]uint32
	for h, n := range a.GetHoursUtc() {
		if h >= 24 {
			break
		}
		l := ((h*3600+off)%86400 + 86400) % 86400 / 3600
		local[l] += n
	}
	for _, n := range local {
		p.Max = max(p.Max, n)
	}
	top := max(p.Max, 1)
	bw := (plotW - padL) / 24
	for h, n := range local {
		bh := int(uint64(plotH-padB-8) * uint64(n) / uint64(top))
		b := bar{X: padL + h*bw + 1, W: bw - 2, H: bh, Y: plotH - padB - bh, Hour: h, N: n, Off: h < 8 || h >= 19}
		p.Bars = append(p.Bars, b)
		p.Total += n
		if h >= 22 || h < 6 {
			p.Night += n
		}
	}
	return p
}
