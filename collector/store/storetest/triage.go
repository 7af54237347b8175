package storetest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/farmwatch/farmwatch/collector/store"
	fwv1 "github.com/farmwatch/farmwatch/proto/farmwatch/v1"
)

// testTriage: a judgement is kept with who and when; an acknowledgement
// holds for the occurrence it was made on, expected until reopened; every
// judgement stays in the history.
func testTriage(t *testing.T, s store.Store) {
	ctx := context.Background()
	must(t, s.PutHost(ctx, host("h1", "alpha")))
	f := finding("remote-access-tool", "process/1@0", fwv1.Severity_SEVERITY_HIGH)
	g := finding("ipkvm-usb-and-display", "usb/1-1", fwv1.Severity_SEVERITY_CRITICAL)
	id, gid := store.FindingID(f), store.FindingID(g)
	seq := uint64(0)
	apply := func(at time.Time, fs ...*fwv1.Finding) {
		t.Helper()
		seq++
		_, err := s.ApplyMessage(ctx, "h1", seq, store.Apply{Findings: fs, FindingsSet: true, Seen: at})
		must(t, err)
	}
	row := func(id string) store.FindingRow {
		t.Helper()
		rows, err := s.Findings(ctx, store.FindingFilter{HostID: "h1", All: true})
		must(t, err)
		for _, r := range rows {
			if r.ID == id {
				return r
			}
		}
		t.Fatalf("no finding %s in %+v", id, rows)
		return store.FindingRow{}
	}
	apply(t0, f, g)
	if r := row(id); r.Triage != (store.Triage{}) || r.TriageState() != store.Untriaged || !r.Counts() {
		t.Fatalf("untriaged row = %+v", r)
	}
	if err := s.TriageFinding(ctx, store.Triage{HostID: "h1", FindingID: "nope", State: store.Acknowledged, By: "x", At: t0}); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("triage of no finding: %v", err)
	}
	if err := s.TriageFinding(ctx, store.Triage{HostID: "h1", FindingID: id, State: "dismissed", By: "x", At: t0}); err == nil {
		t.Fatal("a state that is none was stored")
	}
	ack := store.Triage{HostID: "h1", FindingID: id, State: store.Acknowledged, Comment: "ticket 42: user's own AnyDesk", By: "alice (0123456789ab)", At: t0.Add(time.Minute)}
	must(t, s.TriageFinding(ctx, ack))
	must(t, s.TriageFinding(ctx, store.Triage{HostID: "h1", FindingID: gid, State: store.Expected, Comment: "lab KVM", By: "bob", At: t0.Add(time.Minute)}))
	r := row(id)
	want := ack
	want.Occurrence = t0
	if r.Triage != want || r.TriageState() != store.Acknowledged || r.Counts() || r.State != store.Open {
		t.Fatalf("acknowledged row = %+v\nwant triage %+v", r, want)
	}
	// Open findings still list it: it leaves the counts, not the list.
	open, err := s.Findings(ctx, store.FindingFilter{HostID: "h1"})
	must(t, err)
	if len(open) != 2 {
		t.Fatalf("open findings = %+v", open)
	}
	// Resolved, then back: the acknowledgement was of the first
	// occurrence; expected still holds.
	apply(t0.Add(2 * time.Minute))
	apply(t0.Add(3*time.Minute), f, g)
	if r := row(id); r.TriageState() != store.Untriaged || !r.Counts() || r.Triage.State != store.Acknowledged {
		t.Fatalf("reopened row = %+v", r)
	}
	if r := row(gid); r.TriageState() != store.Expected || r.Counts() {
		t.Fatalf("expected row = %+v", r)
	}
	// Reopened by a person: counted again; the history has all three.
	must(t, s.TriageFinding(ctx, store.Triage{HostID: "h1", FindingID: gid, State: store.Untriaged, Comment: "not our lab's", By: "carol", At: t0.Add(4 * time.Minute)}))
	if r := row(gid); r.TriageState() != store.Untriaged || !r.Counts() || r.Triage.By != "carol" {
		t.Fatalf("reopened by a person = %+v", r)
	}
	hist, err := s.TriageHistory(ctx, "h1", gid)
	must(t, err)
	if len(hist) != 2 || hist[0].State != store.Expected || hist[1].State != store.Untriaged || !hist[1].Occurrence.Equal(t0.Add(3*time.Minute)) {
		t.Fatalf("history = %+v", hist)
	}
	long := make([]byte, store.MaxTriageComment+1)
	if err := s.TriageFinding(ctx, store.Triage{HostID: "h1", FindingID: id, State: store.Acknowledged, Comment: string(long), By: "x", At: t0}); err == nil {
		t.Fatal("an overlong comment was stored")
	}
}
