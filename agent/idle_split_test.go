package main

import (
	"testing"
	"time"
)

// The idle benchmark's split of a sampling window into scans, idle time
// and whole intervals, on made-up ticks: 50 ms apart, idle ticks use
// 0.1 ms, a scan is 4 busy ticks of 10 ms.
func TestSplitScans(t *testing.T) {
	for _, tc := range []struct {
		name       string
		scansAt    []int // the tick each scan starts at
		ticks      int
		wantScans  int
		wantCycles time.Duration // cycleWall
		wantCycle  time.Duration // cycleCPU
	}{
		// Three whole scans 100 ticks apart: two whole intervals, each a
		// scan (40 ms) and 96 idle ticks (9.6 ms).
		{name: "three scans", scansAt: []int{10, 110, 210}, ticks: 300, wantScans: 3,
			wantCycles: 200 * idleTick, wantCycle: 2 * (40*time.Millisecond + 96*100*time.Microsecond)},
		// A scan cut by the window's end is no scan, and ends no interval.
		{name: "a partial scan at the end", scansAt: []int{10, 110, 298}, ticks: 300, wantScans: 2,
			wantCycles: 100 * idleTick, wantCycle: 40*time.Millisecond + 96*100*time.Microsecond},
		{name: "one whole scan: no interval", scansAt: []int{0, 100}, ticks: 150, wantScans: 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t0 := time.Unix(1e9, 0)
			var cpu time.Duration
			var ss []tickSample
			busy := map[int]bool{}
			for _, at := range tc.scansAt {
				for i := range 4 {
					busy[at+i] = true
				}
			}
			for i := 0; i <= tc.ticks; i++ {
				ss = append(ss, tickSample{at: t0.Add(time.Duration(i) * idleTick), ag: procSample{cpu: cpu}})
				if busy[i] {
					cpu += 10 * time.Millisecond
				} else {
					cpu += 100 * time.Microsecond
				}
			}
			tr := splitScans(ss)
			if tr.scans != tc.wantScans || tr.cycleWall != tc.wantCycles || tr.cycleCPU != tc.wantCycle {
				t.Fatalf("%d scans, intervals of %v using %v; want %d, %v, %v",
					tr.scans, tr.cycleWall, tr.cycleCPU, tc.wantScans, tc.wantCycles, tc.wantCycle)
			}
			if len(tr.idle) == 0 || tr.allWall != time.Duration(tc.ticks)*idleTick {
				t.Fatalf("%d idle samples over %v", len(tr.idle), tr.allWall)
			}
		})
	}
}
