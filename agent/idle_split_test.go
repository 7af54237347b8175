package main

import (
	"testing"
	"time"
)

// The idle benchmark's split of a sampling window into scans, idle time
// and whole intervals, on made-up ticks: 50 ms apart, idle ticks use
// 0.1 ms, a scan is 4 busy ticks of 10 ms, and the agent's status shows it
// at the scan's end; a collection of garbage is 1 busy tick of 5 ms.
func TestSplitScans(t *testing.T) {
	for _, tc := range []struct {
		name       string
		scansAt    []int // the tick each scan starts at
		gcAt       []int // the tick each collection of garbage starts at
		ticks      int
		wantScans  int // the agent's
		wantBursts int
		wantCycles time.Duration // cycleWall
		wantCycle  time.Duration // cycleCPU
	}{
		// Three whole scans 100 ticks apart: two whole intervals, each a
		// scan (40 ms) and 96 idle ticks (9.6 ms).
		{name: "three scans", scansAt: []int{10, 110, 210}, ticks: 300, wantScans: 3, wantBursts: 3,
			wantCycles: 200 * idleTick, wantCycle: 2 * (40*time.Millisecond + 96*100*time.Microsecond)},
		// A scan cut by the window's end is no whole burst, and ends no
		// interval.
		{name: "a partial scan at the end", scansAt: []int{10, 110, 298}, ticks: 300, wantScans: 2, wantBursts: 2,
			wantCycles: 100 * idleTick, wantCycle: 40*time.Millisecond + 96*100*time.Microsecond},
		// A collection of garbage is a burst, not a scan: the interval
		// still runs from scan to scan, and holds its CPU.
		{name: "a collection between scans", scansAt: []int{10, 110}, gcAt: []int{60, 140}, ticks: 200, wantScans: 2, wantBursts: 4,
			wantCycles: 100 * idleTick, wantCycle: 40*time.Millisecond + 5*time.Millisecond + 95*100*time.Microsecond},
		{name: "one scan: no interval", scansAt: []int{100}, ticks: 150, wantScans: 1, wantBursts: 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t0 := time.Unix(1e9, 0)
			var cpu time.Duration
			var ss []tickSample
			use := map[int]time.Duration{} // CPU of the busy intervals
			ends := map[int]bool{}         // samples after a scan's last interval
			for _, at := range tc.scansAt {
				for i := range 4 {
					use[at+i] = 10 * time.Millisecond
				}
				ends[at+4] = true
			}
			for _, at := range tc.gcAt {
				use[at] = 5 * time.Millisecond
			}
			var last time.Time
			for i := 0; i <= tc.ticks; i++ {
				at := t0.Add(time.Duration(i) * idleTick)
				if ends[i] {
					last = at
				}
				ss = append(ss, tickSample{at: at, ag: procSample{cpu: cpu}, lastScan: last})
				if u, ok := use[i]; ok {
					cpu += u
				} else {
					cpu += 100 * time.Microsecond
				}
			}
			tr := splitScans(ss)
			if tr.agentScans != tc.wantScans || tr.scans != tc.wantBursts || tr.cycleWall != tc.wantCycles || tr.cycleCPU != tc.wantCycle {
				t.Fatalf("%d scans in %d bursts, intervals of %v using %v; want %d in %d, %v, %v",
					tr.agentScans, tr.scans, tr.cycleWall, tr.cycleCPU, tc.wantScans, tc.wantBursts, tc.wantCycles, tc.wantCycle)
			}
			if len(tr.idle) == 0 || tr.allWall != time.Duration(tc.ticks)*idleTick {
				t.Fatalf("%d idle samples over %v", len(tr.idle), tr.allWall)
			}
		})
	}
}
