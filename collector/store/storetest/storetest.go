// Package storetest is the suite every store backend must pass: the SQLite
// one always, PostgreSQL when its variable is set.
package storetest

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/farmwatch/farmwatch/collector/store"
	"github.com/farmwatch/farmwatch/observation"
	fwv1 "github.com/farmwatch/farmwatch/proto/farmwatch/v1"
	"google.golang.org/protobuf/proto"
)

// Run runs the suite; open returns a fresh, empty store for each test.
func Run(t *testing.T, open func(t *testing.T) store.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s store.Store)
	}{
		{"Hosts", testHosts},
		{"ApplyIsAtMostOnce", testApplyOnce},
		{"FullAndDelta", testFullAndDelta},
		{"FindingLifecycle", testFindingLifecycle},
		{"Tokens", testTokens},
		{"LastAdmin", testLastAdmin},
		{"ConcurrentApply", testConcurrentApply},
		{"History", testHistory},
		{"ManyHostsAtOnce", testManyHostsAtOnce},
		{"AgentStatus", testAgentStatus},
		{"EveryKind", testEveryKind},
		{"Sequence", testSequence},
		{"Enroll", testEnroll},
		{"Triage", testTriage},
		{"Egress", testEgress},
		{"Fleet", testFleet},
		{"ObservationsOfKinds", testObservationsOfKinds},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := open(t)
			t.Cleanup(func() { s.Close() })
			tc.fn(t, s)
		})
	}
}

var t0 = time.Date(2026, 11, 28, 10, 0, 0, 0, time.UTC)

func host(id, name string) store.Host {
	return store.Host{ID: id, Hostname: name, OS: "linux", Info: &fwv1.HostInfo{Os: "linux", Hostname: name}, NodeKeyHash: []byte("hash-" + id), EnrolledAt: t0, LastSeen: t0}
}

func proc(pid int32, name string) *fwv1.Observation {
	return &fwv1.Observation{Key: fmt.Sprintf("process/%d@0", pid), Sensor: "remoteaccess", Kind: &fwv1.Observation_Process{Process: &fwv1.Process{Pid: pid, Name: name}}}
}

func finding(rule, key string, sev fwv1.Severity) *fwv1.Finding {
	return &fwv1.Finding{Rule: rule, Severity: sev, Title: rule, Evidence: []string{key}}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func testHosts(t *testing.T, s store.Store) {
	ctx := context.Background()
	if _, err := s.Host(ctx, "nope"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("missing host: %v", err)
	}
	must(t, s.PutHost(ctx, host("h1", "alpha")))
	must(t, s.PutHost(ctx, host("h2", "beta")))
	h, err := s.Host(ctx, "h1")
	must(t, err)
	if h.Hostname != "alpha" || string(h.NodeKeyHash) != "hash-h1" || !h.EnrolledAt.Equal(t0) || h.Info.GetHostname() != "alpha" {
		t.Fatalf("host = %+v", h)
	}
	if hs, err := s.HostsByName(ctx, "beta"); err != nil || len(hs) != 1 || hs[0].ID != "h2" {
		t.Fatalf("by name = %+v, %v", hs, err)
	}
	// A second host of one name: both are found, the newest seen first.
	twin := host("h3", "beta")
	twin.LastSeen = t0.Add(time.Hour)
	must(t, s.PutHost(ctx, twin))
	if hs, err := s.HostsByName(ctx, "beta"); err != nil || len(hs) != 2 || hs[0].ID != "h3" || hs[1].ID != "h2" {
		t.Fatalf("two named beta = %+v, %v", hs, err)
	}
	if hs, err := s.HostsByName(ctx, "nobody"); err != nil || len(hs) != 0 {
		t.Fatalf("none named nobody = %+v, %v", hs, err)
	}
	// Re-enrollment replaces the key but keeps the sequence.
	_, err = s.ApplyMessage(ctx, "h1", 5, store.Apply{Full: true, Seen: t0})
	must(t, err)
	h1 := host("h1", "alpha")
	h1.NodeKeyHash = []byte("new")
	must(t, s.PutHost(ctx, h1))
	h, _ = s.Host(ctx, "h1")
	if string(h.NodeKeyHash) != "new" || h.LastSeq != 5 {
		t.Fatalf("re-enrolled host = %+v", h)
	}
	hs, err := s.Hosts(ctx)
	must(t, err)
	if len(hs) != 3 || hs[0].Hostname != "alpha" || hs[1].Hostname != "beta" {
		t.Fatalf("hosts = %+v", hs)
	}
}

func testApplyOnce(t *testing.T, s store.Store) {
	ctx := context.Background()
	must(t, s.PutHost(ctx, host("h1", "alpha")))
	a := store.Apply{Upserted: []*fwv1.Observation{proc(1, "init")}, Seen: t0, EgressIP: "198.51.100.7", SpoolDropped: 3}
	ok, err := s.ApplyMessage(ctx, "h1", 1, a)
	if err != nil || !ok {
		t.Fatalf("first apply = %v, %v", ok, err)
	}
	// The same message again: nothing changes; message 0 is never
	// applied, and says so.
	a2 := store.Apply{Upserted: []*fwv1.Observation{proc(2, "evil")}, Seen: t0.Add(time.Hour)}
	if ok, err := s.ApplyMessage(ctx, "h1", 1, a2); err != nil || ok {
		t.Fatalf("re-apply #1 = %v, %v; want not applied", ok, err)
	}
	var se *store.SequenceError
	if ok, err := s.ApplyMessage(ctx, "h1", 0, a2); ok || !errors.As(err, &se) {
		t.Fatalf("apply #0 = %v, %v; want a sequence error", ok, err)
	}
	obs, err := s.Observations(ctx, "h1")
	must(t, err)
	if len(obs) != 1 || obs[0].GetProcess().GetName() != "init" || obs[0].Sensor != "remoteaccess" {
		t.Fatalf("observations = %v", obs)
	}
	h, _ := s.Host(ctx, "h1")
	if h.LastSeq != 1 || h.EgressIP != "198.51.100.7" || h.SpoolDropped != 3 || !h.LastSeen.Equal(t0) {
		t.Fatalf("host = %+v", h)
	}
	if _, err := s.ApplyMessage(ctx, "nope", 1, a); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("unknown host: %v", err)
	}
}

func testFullAndDelta(t *testing.T, s store.Store) {
	ctx := context.Background()
	must(t, s.PutHost(ctx, host("h1", "alpha")))
	_, err := s.ApplyMessage(ctx, "h1", 1, store.Apply{Full: true, Upserted: []*fwv1.Observation{proc(1, "a"), proc(2, "b"), proc(3, "c")}, Seen: t0})
	must(t, err)
	changed := proc(2, "b2")
	_, err = s.ApplyMessage(ctx, "h1", 2, store.Apply{Upserted: []*fwv1.Observation{changed, proc(4, "d")}, Removed: []string{"process/1@0", "process/99@0"}, Seen: t0})
	must(t, err)
	obs, err := s.Observations(ctx, "h1")
	must(t, err)
	var got []string
	for _, o := range obs {
		got = append(got, o.Key+"="+o.GetProcess().GetName())
	}
	if fmt.Sprint(got) != "[process/2@0=b2 process/3@0=c process/4@0=d]" {
		t.Fatalf("after delta: %v", got)
	}
	if !proto.Equal(obs[0], changed) {
		t.Fatalf("stored %v, want %v", obs[0], changed)
	}
	_, err = s.ApplyMessage(ctx, "h1", 3, store.Apply{Full: true, Upserted: []*fwv1.Observation{proc(9, "z")}, Seen: t0})
	must(t, err)
	obs, _ = s.Observations(ctx, "h1")
	if len(obs) != 1 || obs[0].GetProcess().GetName() != "z" {
		t.Fatalf("after full: %v", obs)
	}
}

func testFindingLifecycle(t *testing.T, s store.Store) {
	ctx := context.Background()
	must(t, s.PutHost(ctx, host("h1", "alpha")))
	must(t, s.PutHost(ctx, host("h2", "beta")))
	hi, med := fwv1.Severity_SEVERITY_HIGH, fwv1.Severity_SEVERITY_MEDIUM
	fa, fb := finding("remote-access-tool", "process/1@0", med), finding("remote-access-multiple-vendors", "process/1@0", hi)
	apply := func(h string, seq uint64, at time.Time, fs ...*fwv1.Finding) {
		t.Helper()
		_, err := s.ApplyMessage(ctx, h, seq, store.Apply{Findings: fs, FindingsSet: true, Seen: at})
		must(t, err)
	}
	apply("h1", 1, t0, fa, fb)
	apply("h2", 1, t0, fa)
	apply("h1", 2, t0.Add(time.Minute), fa) // fb gone
	rows, err := s.Findings(ctx, store.FindingFilter{})
	must(t, err)
	if len(rows) != 2 {
		t.Fatalf("open findings = %+v", rows)
	}
	for _, r := range rows {
		if r.State != store.Open || r.Finding.Rule != "remote-access-tool" || !r.FirstSeen.Equal(t0) {
			t.Fatalf("open row = %+v", r)
		}
	}
	all, err := s.Findings(ctx, store.FindingFilter{HostID: "h1", All: true})
	must(t, err)
	if len(all) != 2 || all[0].Finding.Rule != "remote-access-multiple-vendors" || all[0].State != store.Resolved || !all[0].LastSeen.Equal(t0.Add(time.Minute)) {
		t.Fatalf("h1 all = %+v", all)
	}
	if all[1].Hostname != "alpha" || !all[1].LastSeen.Equal(t0.Add(time.Minute)) || !all[1].FirstSeen.Equal(t0) {
		t.Fatalf("still-open row = %+v", all[1])
	}
	// A message without findings (a heartbeat) changes none of them.
	_, err = s.ApplyMessage(ctx, "h2", 2, store.Apply{Seen: t0.Add(time.Minute)})
	must(t, err)
	if rows, _ := s.Findings(ctx, store.FindingFilter{HostID: "h2"}); len(rows) != 1 || rows[0].State != store.Open {
		t.Fatalf("a heartbeat changed findings: %+v", rows)
	}
	// An empty set, given, resolves every open finding of the host.
	_, err = s.ApplyMessage(ctx, "h2", 3, store.Apply{FindingsSet: true, Seen: t0.Add(time.Minute)})
	must(t, err)
	if rows, _ := s.Findings(ctx, store.FindingFilter{HostID: "h2"}); len(rows) != 0 {
		t.Fatalf("an empty finding set left open findings: %+v", rows)
	}
	// Back again: reopened with a new first_seen.
	apply("h1", 3, t0.Add(2*time.Minute), fa, fb)
	high, err := s.Findings(ctx, store.FindingFilter{MinSeverity: hi})
	must(t, err)
	if len(high) != 1 || high[0].State != store.Open || !high[0].FirstSeen.Equal(t0.Add(2*time.Minute)) {
		t.Fatalf("reopened = %+v", high)
	}
}

func tokenHash(name string) []byte {
	h := sha256.Sum256([]byte(name))
	return h[:]
}

func testConcurrentApply(t *testing.T, s store.Store) {
	ctx := context.Background()
	must(t, s.PutHost(ctx, host("h1", "alpha")))
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		applied = map[uint64]int{}
	)
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for seq := uint64(1); seq <= 50; seq++ {
				ok, err := s.ApplyMessage(ctx, "h1", seq, store.Apply{Upserted: []*fwv1.Observation{proc(int32(seq), "p")}, Seen: t0})
				if err != nil {
					t.Error(err)
					return
				}
				if ok {
					mu.Lock()
					applied[seq]++
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	for seq, n := range applied {
		if n != 1 {
			t.Errorf("seq %d applied %d times", seq, n)
		}
	}
	if h, _ := s.Host(ctx, "h1"); h.LastSeq != 50 {
		t.Errorf("last seq = %d", h.LastSeq)
	}
}

// changeList renders a history as "seq op key=name" lines.
func changeList(cs []*fwv1.ObservationChange) []string {
	var out []string
	for _, c := range cs {
		op := map[fwv1.ObservationChange_Op]string{fwv1.ObservationChange_OP_ADDED: "+", fwv1.ObservationChange_OP_CHANGED: "~", fwv1.ObservationChange_OP_REMOVED: "-"}[c.Op]
		out = append(out, fmt.Sprintf("%d%s%s=%s/%s", c.Seq, op, c.Key, c.Kind, c.GetObservation().GetProcess().GetName()))
	}
	return out
}

func testHistory(t *testing.T, s store.Store) {
	ctx := context.Background()
	must(t, s.PutHost(ctx, host("h1", "alpha")))
	must(t, s.PutHost(ctx, host("h2", "beta")))
	apply := func(seq uint64, a store.Apply, at time.Time) {
		t.Helper()
		a.Seen = at
		ok, err := s.ApplyMessage(ctx, "h1", seq, a)
		if err != nil || !ok {
			t.Fatalf("apply #%d = %v, %v", seq, ok, err)
		}
	}
	apply(1, store.Apply{Full: true, Upserted: []*fwv1.Observation{proc(1, "a"), proc(2, "b")}}, t0)
	// b changes, c is new, a is sent again unchanged (no change), a key
	// that is not there is removed (no change).
	apply(2, store.Apply{Upserted: []*fwv1.Observation{proc(2, "b2"), proc(3, "c"), proc(1, "a")}, Removed: []string{"process/99@0"}}, t0.Add(time.Minute))
	// Nothing changes at all: no history.
	apply(3, store.Apply{Upserted: []*fwv1.Observation{proc(3, "c")}}, t0.Add(2*time.Minute))
	// A full state that no longer has a: a is removed, b and c unchanged.
	apply(4, store.Apply{Full: true, Upserted: []*fwv1.Observation{proc(2, "b2"), proc(3, "c")}}, t0.Add(3*time.Minute))
	// A message applied again adds nothing to the history.
	if ok, err := s.ApplyMessage(ctx, "h1", 4, store.Apply{Upserted: []*fwv1.Observation{proc(7, "dup")}, Seen: t0}); ok || err != nil {
		t.Fatalf("re-apply = %v, %v", ok, err)
	}
	// Another host's history is its own.
	_, err := s.ApplyMessage(ctx, "h2", 1, store.Apply{Upserted: []*fwv1.Observation{proc(5, "other")}, Seen: t0})
	must(t, err)

	cs, err := s.Changes(ctx, "h1", store.ChangeFilter{})
	must(t, err)
	// An addition shows the observation at its next change (b2), or as
	// it is now (c).
	want := "[1+process/1@0=process/a 1+process/2@0=process/b2 2~process/2@0=process/b2 2+process/3@0=process/c 4-process/1@0=process/a]"
	if got := fmt.Sprint(changeList(cs)); got != want {
		t.Fatalf("history:\n got %s\nwant %s", got, want)
	}
	if !cs[2].At.AsTime().Equal(t0.Add(time.Minute)) {
		t.Fatalf("change at %v", cs[2].At.AsTime())
	}
	cs, err = s.Changes(ctx, "h1", store.ChangeFilter{Limit: 2})
	must(t, err)
	if got := fmt.Sprint(changeList(cs)); got != "[2+process/3@0=process/c 4-process/1@0=process/a]" {
		t.Fatalf("newest two: %s", got)
	}
	cs, err = s.Changes(ctx, "h1", store.ChangeFilter{Since: t0.Add(time.Minute), Kind: "usb_device"})
	must(t, err)
	if len(cs) != 0 {
		t.Fatalf("usb history: %v", changeList(cs))
	}
	cs, err = s.Changes(ctx, "h1", store.ChangeFilter{Since: t0.Add(90 * time.Second), Kind: "process"})
	must(t, err)
	if got := fmt.Sprint(changeList(cs)); got != "[4-process/1@0=process/a]" {
		t.Fatalf("since: %s", got)
	}
	n, err := s.PruneChanges(ctx, t0.Add(2*time.Minute))
	must(t, err)
	if n != 3 { // h1 #1 and #2, h2 #1
		t.Fatalf("pruned %d messages' history, want 3", n)
	}
	cs, _ = s.Changes(ctx, "h1", store.ChangeFilter{})
	if len(cs) != 1 {
		t.Fatalf("after prune: %v", changeList(cs))
	}
}

func testAgentStatus(t *testing.T, s store.Store) {
	ctx := context.Background()
	must(t, s.PutHost(ctx, host("h1", "alpha")))
	st := store.AgentStatus{AgentVersion: "v1.2.3", RulesVersion: "sha256:ab", RulesError: "org.yaml:3:1: bad"}
	must(t, s.SetAgentStatus(ctx, "h1", st))
	h, err := s.Host(ctx, "h1")
	must(t, err)
	if h.AgentVersion != st.AgentVersion || h.RulesVersion != st.RulesVersion || h.RulesError != st.RulesError {
		t.Fatalf("host = %+v", h)
	}
	// Re-enrollment keeps it until the next hello.
	must(t, s.PutHost(ctx, host("h1", "alpha")))
	if h, _ := s.Host(ctx, "h1"); h.RulesVersion != st.RulesVersion {
		t.Fatalf("after re-enrollment: %+v", h)
	}
	if err := s.SetAgentStatus(ctx, "nope", st); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("unknown host: %v", err)
	}
}

// Many hosts' messages at once (a backend may commit them together): each
// is applied once, and a message that fails (an unknown host, a cancelled
// caller) fails alone.
func testManyHostsAtOnce(t *testing.T, s store.Store) {
	ctx := context.Background()
	const hosts = 40
	for i := 0; i < hosts; i++ {
		must(t, s.PutHost(ctx, host(fmt.Sprintf("h%d", i), fmt.Sprintf("host-%d", i))))
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	var wg sync.WaitGroup
	errs := make([]error, hosts+2)
	for i := 0; i < hosts+2; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			id, c := fmt.Sprintf("h%d", i), ctx
			switch i {
			case hosts:
				id = "nope"
			case hosts + 1:
				id, c = "h0", cancelled
			}
			for seq := uint64(1); seq <= 5; seq++ {
				seq := seq
				if i == hosts+1 {
					seq += 100
				}
				_, err := s.ApplyMessage(c, id, seq, store.Apply{Upserted: []*fwv1.Observation{proc(int32(seq), id)}, FindingsSet: true,
					Findings: []*fwv1.Finding{finding("r", fmt.Sprint(seq), fwv1.Severity_SEVERITY_LOW)}, Seen: t0})
				if err != nil {
					errs[i] = err
					return
				}
			}
		}()
	}
	wg.Wait()
	for i := 0; i < hosts; i++ {
		if errs[i] != nil {
			t.Fatalf("host %d: %v", i, errs[i])
		}
		h, err := s.Host(ctx, fmt.Sprintf("h%d", i))
		must(t, err)
		obs, _ := s.Observations(ctx, h.ID)
		fs, _ := s.Findings(ctx, store.FindingFilter{HostID: h.ID})
		if h.LastSeq != 5 || len(obs) != 5 || len(fs) != 1 {
			t.Fatalf("host %d: last seq %d, %d observations, %d open findings", i, h.LastSeq, len(obs), len(fs))
		}
	}
	if !errors.Is(errs[hosts], store.ErrNotFound) {
		t.Fatalf("unknown host: %v", errs[hosts])
	}
	if !errors.Is(errs[hosts+1], context.Canceled) {
		t.Fatalf("cancelled caller: %v", errs[hosts+1])
	}
}

// testEveryKind stores one observation of every kind of the proto: each
// comes back whole, and the history names its kind, so a kind added to the
// proto is never stored without one.
func testEveryKind(t *testing.T, s store.Store) {
	ctx := context.Background()
	must(t, s.PutHost(ctx, host("h1", "alpha")))
	var obs []*fwv1.Observation
	for _, k := range observation.Kinds().All() {
		obs = append(obs, k.Wrap(k.Name+"/1", k.New()))
	}
	if ok, err := s.ApplyMessage(ctx, "h1", 1, store.Apply{Full: true, Upserted: obs, Seen: t0}); !ok || err != nil {
		t.Fatalf("apply = %v, %v", ok, err)
	}
	got, err := s.Observations(ctx, "h1")
	must(t, err)
	if len(got) != len(obs) {
		t.Fatalf("%d observations back, want %d", len(got), len(obs))
	}
	// A removal keeps the body, so the kind of each can be checked.
	var keys []string
	for _, o := range obs {
		keys = append(keys, o.Key)
	}
	if ok, err := s.ApplyMessage(ctx, "h1", 2, store.Apply{Removed: keys, Seen: t0}); !ok || err != nil {
		t.Fatalf("remove = %v, %v", ok, err)
	}
	cs, err := s.Changes(ctx, "h1", store.ChangeFilter{})
	must(t, err)
	kinds := map[string]string{}
	for _, c := range cs {
		kinds[c.Key] = c.Kind
		if c.Observation != nil && observation.KindOf(c.Observation) != c.Kind {
			t.Errorf("%s: stored kind %q, observation of kind %q", c.Key, c.Kind, observation.KindOf(c.Observation))
		}
	}
	for _, k := range observation.Kinds().All() {
		if kinds[k.Name+"/1"] != k.Name {
			t.Errorf("kind %s stored as %q", k.Name, kinds[k.Name+"/1"])
		}
	}
}
