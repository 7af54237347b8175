package storetest

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/farmwatch/farmwatch/collector/store"
	fwv1 "github.com/farmwatch/farmwatch/proto/farmwatch/v1"
)

// testSequence: a message is applied only as the host's next one, or as a
// full state within the window; anything else changes nothing and says
// which number the agent's full state must carry.
func testSequence(t *testing.T, s store.Store) {
	ctx := context.Background()
	must(t, s.PutHost(ctx, host("h1", "alpha")))
	apply := func(seq uint64, full bool, name string) (bool, error) {
		return s.ApplyMessage(ctx, "h1", seq, store.Apply{Full: full, Upserted: []*fwv1.Observation{proc(int32(seq%1000), name)}, Seen: t0})
	}
	if ok, err := apply(1, true, "one"); !ok || err != nil {
		t.Fatalf("#1 = %v, %v", ok, err)
	}
	refused := func(seq uint64, full bool, wantNext uint64) {
		t.Helper()
		ok, err := apply(seq, full, "refused")
		var se *store.SequenceError
		if ok || !errors.As(err, &se) || se.Next() != wantNext || se.Seq != seq {
			t.Fatalf("#%d (full %v) = %v, %v; want a sequence error asking for #%d", seq, full, ok, err, wantNext)
		}
	}
	refused(3, false, 2)                  // a delta after a gap
	refused(1+store.SeqWindow+1, true, 2) // past the window
	refused(1<<63, true, 2)               // past the largest number
	refused(^uint64(0), false, 2)         // 2^64-1: once stored as -1
	h, _ := s.Host(ctx, "h1")
	if h.LastSeq != 1 {
		t.Fatalf("after refusals last seq %d, want 1", h.LastSeq)
	}
	if ok, err := apply(2, false, "two"); !ok || err != nil {
		t.Fatalf("#2 = %v, %v", ok, err)
	}
	// A full state after a gap (the agent's spool dropped #3..#9).
	if ok, err := apply(10, true, "ten"); !ok || err != nil {
		t.Fatalf("#10 full = %v, %v", ok, err)
	}
	if ok, err := apply(11, false, "eleven"); !ok || err != nil {
		t.Fatalf("#11 = %v, %v", ok, err)
	}
	obs, err := s.Observations(ctx, "h1")
	must(t, err)
	var names []string
	for _, o := range obs {
		names = append(names, o.GetProcess().GetName())
	}
	if fmt.Sprint(names) != "[ten eleven]" {
		t.Fatalf("observations %v, want [ten eleven]", names)
	}
	h, _ = s.Host(ctx, "h1")
	if h.LastSeq != 11 {
		t.Fatalf("last seq %d, want 11", h.LastSeq)
	}
}

// testEnroll: a new host id enrols; an enrolled one is re-keyed only with
// its current key, after a reset, or with an approved request; anything
// else waits, bounded, and changes nothing.
func testEnroll(t *testing.T, s store.Store) {
	ctx := context.Background()
	req := func(key, presented, requestID string) store.Enrollment {
		h := host("h1", "alpha")
		h.NodeKeyHash = []byte(key)
		e := store.Enrollment{Host: h, RequestID: requestID, Peer: "192.0.2.9:5000"}
		if presented != "" {
			e.PresentedKeyHash = []byte(presented)
		}
		return e
	}
	enrol := func(e store.Enrollment, want store.EnrollOutcome) {
		t.Helper()
		got, err := s.Enroll(ctx, e)
		if err != nil || got != want {
			t.Fatalf("enrol (key %s, presented %s, request %s) = %v, %v; want %v", e.Host.NodeKeyHash, e.PresentedKeyHash, e.RequestID, got, err, want)
		}
	}
	key := func() string { h, _ := s.Host(ctx, "h1"); return string(h.NodeKeyHash) }
	enrol(req("k1", "", "r1"), store.Enrolled)
	_, err := s.ApplyMessage(ctx, "h1", 1, store.Apply{Full: true, Seen: t0})
	must(t, err)
	// An impostor with the enroll secret but not the key: waits.
	enrol(req("evil", "wrong", "attacker"), store.Pending)
	enrol(req("evil", "", ""), store.Pending) // no request id: not even kept
	if key() != "k1" {
		t.Fatalf("key changed to %s by a refused enrolment", key())
	}
	ps, err := s.PendingEnrollments(ctx, "h1")
	must(t, err)
	if len(ps) != 1 || ps[0].RequestID != "attacker" || ps[0].Peer != "192.0.2.9:5000" || !ps[0].Approved.IsZero() {
		t.Fatalf("pending = %+v", ps)
	}
	// The host itself, with its key.
	enrol(req("k2", "k1", "r2"), store.Rekeyed)
	if h, _ := s.Host(ctx, "h1"); string(h.NodeKeyHash) != "k2" || h.LastSeq != 1 {
		t.Fatalf("re-keyed host = %+v", h)
	}
	if ps, _ := s.PendingEnrollments(ctx, "h1"); len(ps) != 0 {
		t.Fatalf("pending after re-key = %+v", ps)
	}
	// Lost its key: waits, then an admin approves that request.
	enrol(req("k3", "lost", "r3"), store.Pending)
	enrol(req("k3x", "", "other"), store.Pending)
	must(t, s.ApproveEnrollment(ctx, "h1", "r3", t0))
	if err := s.ApproveEnrollment(ctx, "h1", "nope", t0); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("approve unknown request: %v", err)
	}
	enrol(req("k4", "", "other"), store.Pending) // not the approved one
	enrol(req("k3", "", "r3"), store.Approved)
	if key() != "k3" {
		t.Fatalf("after approval key %s, want k3", key())
	}
	// Reset: the next enrolment is the host's.
	must(t, s.ResetHost(ctx, "h1"))
	if len(key()) != 0 {
		t.Fatalf("key after reset: %q", key())
	}
	enrol(req("k5", "", "r5"), store.ResetTaken)
	enrol(req("k6", "", "r6"), store.Pending)
	if err := s.ResetHost(ctx, "nope"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("reset unknown host: %v", err)
	}
	// Waiting requests are bounded.
	for i := 0; i < store.MaxPending+10; i++ {
		enrol(req("x", "", fmt.Sprintf("flood-%d", i)), store.Pending)
	}
	if ps, _ := s.PendingEnrollments(ctx, "h1"); len(ps) > store.MaxPending {
		t.Fatalf("%d pending requests kept, the bound is %d", len(ps), store.MaxPending)
	}
	must(t, s.AddRefused(ctx, "h1", 2))
	if h, _ := s.Host(ctx, "h1"); h.Refused != 2 || string(h.NodeKeyHash) != "k5" {
		t.Fatalf("host after all = %+v", h)
	}
}
