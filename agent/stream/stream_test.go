package stream

import (
	"sort"
	"strings"
	"testing"
	"time"

	fwv1 "github.com/farmwatch/farmwatch/proto/farmwatch/v1"
)

func obs(key, name string) *fwv1.Observation {
	return &fwv1.Observation{Key: key, Kind: &fwv1.Observation_Process{Process: &fwv1.Process{Name: name}}}
}

func TestDelta(t *testing.T) {
	cl := &Client{}
	cl.rememberLocked([]*fwv1.Observation{obs("a", "1"), obs("b", "2"), obs("c", "3")})
	d := cl.deltaLocked(&fwv1.Report{Observations: []*fwv1.Observation{obs("a", "1"), obs("b", "changed"), obs("d", "4")}})
	var up []string
	for _, o := range d.Upserted {
		up = append(up, o.Key)
	}
	sort.Strings(d.Removed)
	if strings.Join(up, ",") != "b,d" || strings.Join(d.Removed, ",") != "c" {
		t.Fatalf("upserted %v removed %v", up, d.Removed)
	}
	// The next delta is against what was just sent.
	d = cl.deltaLocked(&fwv1.Report{Observations: []*fwv1.Observation{obs("a", "1"), obs("b", "changed"), obs("d", "4")}})
	if len(d.Upserted)+len(d.Removed) != 0 {
		t.Fatalf("no change, yet delta %v", d)
	}
}

func TestSeqPersists(t *testing.T) {
	dir := t.TempDir()
	c := Config{Collector: "x", StateDir: dir}
	cl := &Client{c: c}
	for i := 1; i <= 3; i++ {
		if s, err := cl.nextSeq(); err != nil || s != uint64(i) {
			t.Fatalf("seq %d, %v", s, err)
		}
	}
	// A restarted agent continues after the last number it used.
	last, err := readSeq(dir)
	if err != nil || last != 3 {
		t.Fatalf("persisted seq %d, %v", last, err)
	}
	cl2 := &Client{c: c, seq: last}
	if s, _ := cl2.nextSeq(); s != 4 {
		t.Fatalf("after restart seq %d, want 4", s)
	}
	if _, err := New(Config{Collector: "x", StateDir: dir}); err == nil {
		t.Fatal("New accepted a config without TLS, scanner or host")
	}
}

func TestOverLimit(t *testing.T) {
	cpu := time.Duration(0)
	cl := &Client{c: Config{MaxCPUPercent: 10, CPUTime: func() time.Duration { return cpu }}}
	if why := cl.overLimit(); why != "" {
		t.Fatalf("first check: %q", why)
	}
	cl.lastWall = cl.lastWall.Add(-time.Second) // one second ago
	cpu = 500 * time.Millisecond                // half a core
	if why := cl.overLimit(); !strings.Contains(why, "over the limit of 10.0%") {
		t.Fatalf("busy agent: %q", why)
	}
	cl = &Client{c: Config{MaxHeapBytes: 1}}
	if why := cl.overLimit(); !strings.Contains(why, "heap") {
		t.Fatalf("heap over 1 byte: %q", why)
	}
	cl = &Client{c: Config{MaxHeapBytes: 1 << 40}}
	if why := cl.overLimit(); why != "" {
		t.Fatalf("under the limits: %q", why)
	}
}
