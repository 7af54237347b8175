package outbox

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/farmwatch/farmwatch/limits"
	fwv1 "github.com/farmwatch/farmwatch/proto/farmwatch/v1"
	"google.golang.org/protobuf/types/known/timestamppb"
)

func obs(key, name string) *fwv1.Observation {
	return &fwv1.Observation{Key: key, Kind: &fwv1.Observation_Process{Process: &fwv1.Process{Name: name}}}
}

func open(t *testing.T, dir string, maxBytes int64) *Outbox {
	t.Helper()
	o, _, err := Open(dir, maxBytes)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { o.Close() })
	return o
}

// last returns the newest queued message.
func last(t *testing.T, o *Outbox) *fwv1.AgentMessage {
	t.Helper()
	ms, err := o.After(0)
	if err != nil || len(ms) == 0 {
		t.Fatalf("queued: %d messages, %v", len(ms), err)
	}
	return ms[len(ms)-1]
}

func TestFullThenDeltas(t *testing.T) {
	o := open(t, t.TempDir(), 1<<20)
	if err := o.Put(&fwv1.Report{Observations: []*fwv1.Observation{obs("a", "1"), obs("b", "2"), obs("c", "3")}}); err != nil {
		t.Fatal(err)
	}
	if m := last(t, o); m.GetFull() == nil || m.Seq != 1 || len(m.GetFull().Observations) != 3 {
		t.Fatalf("first message: %v", m)
	}
	if err := o.Put(&fwv1.Report{Observations: []*fwv1.Observation{obs("a", "1"), obs("b", "changed"), obs("d", "4")}}); err != nil {
		t.Fatal(err)
	}
	d := last(t, o).GetDelta()
	var up []string
	for _, ob := range d.GetUpserted() {
		up = append(up, ob.Key)
	}
	sort.Strings(d.Removed)
	if strings.Join(up, ",") != "b,d" || strings.Join(d.Removed, ",") != "c" {
		t.Fatalf("upserted %v removed %v", up, d.Removed)
	}
	// The next delta is against what was just queued: nothing changed,
	// nothing is queued.
	seq := o.LastSeq()
	if err := o.Put(&fwv1.Report{Observations: []*fwv1.Observation{obs("a", "1"), obs("b", "changed"), obs("d", "4")}}); err != nil {
		t.Fatal(err)
	}
	if o.LastSeq() != seq {
		t.Fatalf("an unchanged host queued message #%d", o.LastSeq())
	}
	// A finding that appears is a change, even with the same observations.
	if err := o.Put(&fwv1.Report{Observations: []*fwv1.Observation{obs("a", "1"), obs("b", "changed"), obs("d", "4")},
		Findings: []*fwv1.Finding{{Rule: "r"}}}); err != nil {
		t.Fatal(err)
	}
	if m := last(t, o); m.GetDelta() == nil || len(m.GetDelta().Findings) != 1 {
		t.Fatalf("new finding: %v", m)
	}
}

func TestAckAndAfter(t *testing.T) {
	o := open(t, t.TempDir(), 1<<20)
	for i := range 3 {
		if err := o.Put(&fwv1.Report{Observations: []*fwv1.Observation{obs("a", fmt.Sprint(i))}}); err != nil {
			t.Fatal(err)
		}
	}
	if ms, _ := o.After(1); len(ms) != 2 || ms[0].Seq != 2 {
		t.Fatalf("after #1: %v", ms)
	}
	if err := o.Ack(2); err != nil {
		t.Fatal(err)
	}
	if ms, _ := o.After(0); len(ms) != 1 || ms[0].Seq != 3 {
		t.Fatalf("after ack #2: %v", ms)
	}
	select {
	case <-o.Queued():
	default:
		t.Fatal("no signal after a put")
	}
}

func TestSeqPersists(t *testing.T) {
	dir := t.TempDir()
	o := open(t, dir, 1<<20)
	for i := range 3 {
		if err := o.Put(&fwv1.Report{Observations: []*fwv1.Observation{obs("a", fmt.Sprint(i))}}); err != nil {
			t.Fatal(err)
		}
	}
	if err := o.Ack(3); err != nil {
		t.Fatal(err)
	}
	o.Close()
	// A restarted agent continues after the last number it used, and its
	// first message is a full state.
	b, _ := os.ReadFile(filepath.Join(dir, "seq"))
	if strings.TrimSpace(string(b)) != "3" {
		t.Fatalf("seq file %q", b)
	}
	o2 := open(t, dir, 1<<20)
	if err := o2.Put(&fwv1.Report{Observations: []*fwv1.Observation{obs("a", "2")}}); err != nil {
		t.Fatal(err)
	}
	if m := last(t, o2); m.Seq != 4 || m.GetFull() == nil {
		t.Fatalf("after restart: #%d %T, want #4 full", m.Seq, m.Body)
	}
}

// A full spool drops its oldest messages and the next message is a full
// state; the drops that full state itself causes do not call for another,
// so an unchanged host queues nothing more while the collector is away.
func TestFullSpoolQueuesOneFullState(t *testing.T) {
	o := open(t, t.TempDir(), 256<<10)
	report := func(v int) *fwv1.Report {
		rep := &fwv1.Report{}
		for i := range 20 {
			rep.Observations = append(rep.Observations, obs(fmt.Sprintf("p/%d/%d", v, i), strings.Repeat("x", 4000)))
		}
		return rep
	}
	for v := range 8 {
		if err := o.Put(report(v)); err != nil {
			t.Fatal(err)
		}
	}
	if o.Dropped() == 0 {
		t.Fatal("nothing dropped: the test needs a full spool")
	}
	// The host is the same at the next scan: the drops call for a full
	// state.
	if err := o.Put(report(7)); err != nil {
		t.Fatal(err)
	}
	seq := o.LastSeq()
	if m := last(t, o); m.GetFull() == nil {
		t.Fatalf("after drops the newest message is %T, want a full state", m.Body)
	}
	for range 3 { // and then nothing more
		if err := o.Put(report(7)); err != nil {
			t.Fatal(err)
		}
	}
	if o.LastSeq() != seq {
		t.Fatalf("an unchanged host queued %d more messages", o.LastSeq()-seq)
	}
}

// FuzzSeqFile: whatever the sequence file holds, the outbox opens, sets a
// damaged file aside (never stops for it), and the next message is queued
// with a number above every number the spool holds.
func FuzzSeqFile(f *testing.F) {
	for _, s := range []string{"3\n", "", "\xff\xfe", "18446744073709551615\n", "-1", "4611686018427387905\n", "00012\n"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, content string) {
		dir := t.TempDir()
		pre := open(t, dir, 1<<20)
		if err := pre.Put(&fwv1.Report{Observations: []*fwv1.Observation{obs("a", "1")}}); err != nil {
			t.Fatal(err)
		}
		pre.Close()
		if err := os.WriteFile(filepath.Join(dir, "seq"), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		o, rec, err := Open(dir, 1<<20)
		if err != nil {
			t.Fatalf("open with seq %q: %v", content, err)
		}
		defer o.Close()
		_, badErr := os.Stat(filepath.Join(dir, "seq.bad"))
		if (rec.Seq != nil) != (badErr == nil) {
			t.Fatalf("seq %q: reported %v, set aside %v", content, rec.Seq, badErr == nil)
		}
		if err := o.Put(&fwv1.Report{Observations: []*fwv1.Observation{obs("b", "2")}}); err != nil {
			t.Fatalf("put after seq %q: %v", content, err)
		}
		if o.LastSeq() < 2 || o.LastSeq() > limits.MaxSeq+1 {
			t.Fatalf("seq %q: the next message is #%d", content, o.LastSeq())
		}
	})
}

// The last state is kept as digests: a change deep inside an observation
// is still a change, and an observation that cannot be encoded is never
// taken for unchanged (its message fails to encode, each time).
func TestDeltaByDigest(t *testing.T) {
	o := open(t, t.TempDir(), 1<<20)
	proc := func(args ...string) *fwv1.Observation {
		return &fwv1.Observation{Key: "p", Kind: &fwv1.Observation_Process{Process: &fwv1.Process{Name: "x", Args: args}}}
	}
	if err := o.Put(&fwv1.Report{Observations: []*fwv1.Observation{proc("-a", "-b"), obs("q", "1")}}); err != nil {
		t.Fatal(err)
	}
	if err := o.Put(&fwv1.Report{Observations: []*fwv1.Observation{proc("-a", "-c"), obs("q", "1")}}); err != nil {
		t.Fatal(err)
	}
	d := last(t, o).GetDelta()
	if len(d.GetUpserted()) != 1 || d.GetUpserted()[0].Key != "p" || len(d.Removed) != 0 {
		t.Fatalf("one argument changed: %v", d)
	}
	bad := obs("q", "\xff")
	for i := range 2 {
		if err := o.Put(&fwv1.Report{Observations: []*fwv1.Observation{proc("-a", "-c"), bad}}); err == nil || !strings.Contains(err.Error(), "encode") {
			t.Fatalf("put %d of an observation that cannot be encoded: %v", i, err)
		}
	}
}

// BenchmarkPutUnchanged is the outbox's share of a resident agent's scan
// on a host of 1000 processes where nothing changed: the delta against
// the last state, which queues nothing.
func BenchmarkPutUnchanged(b *testing.B) {
	o, _, err := Open(b.TempDir(), 64<<20)
	if err != nil {
		b.Fatal(err)
	}
	defer o.Close()
	rep := func() *fwv1.Report {
		r := &fwv1.Report{}
		for i := range 1000 {
			r.Observations = append(r.Observations, &fwv1.Observation{Key: fmt.Sprintf("process/%d", i), Kind: &fwv1.Observation_Process{Process: &fwv1.Process{
				Pid: int32(i), Ppid: 1, Name: "sleep", Exe: "/usr/bin/sleep", ExeName: "sleep", Username: "root", Cmdline: "/usr/bin/sleep 7200",
				Args: []string{"/usr/bin/sleep", "7200"}, StartTime: timestamppb.New(time.Unix(1700000000, 0)), ParentName: "bash"}}})
		}
		return r
	}
	if err := o.Put(rep()); err != nil {
		b.Fatal(err)
	}
	seq := o.LastSeq()
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		r := rep()
		b.StartTimer()
		if err := o.Put(r); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	if o.LastSeq() != seq {
		b.Fatalf("an unchanged host queued message #%d", o.LastSeq())
	}
}
