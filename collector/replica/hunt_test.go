package replica

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/farmwatch/farmwatch/collector/server"
	"github.com/farmwatch/farmwatch/internal/pgtest"
	fwv1 "github.com/farmwatch/farmwatch/proto/farmwatch/v1"
	"google.golang.org/protobuf/proto"
)

// HuntLocal claims the hosts held and answers for each claimed host with
// f.matches processes (unless silent: then it waits out the hunt).
func (f *fakeServer) HuntLocal(ctx context.Context, h server.RelayHunt, claim server.HuntClaim, answer func(string, *fwv1.HuntReply)) error {
	f.mu.Lock()
	f.hunts++
	hosts := map[string]string{}
	for id := range f.held {
		hosts[id] = "name-" + id
	}
	n, silent := f.matches, f.silent
	f.mu.Unlock()
	got, err := claim(hosts)
	if err != nil {
		return err
	}
	f.mu.Lock()
	f.asked += len(got)
	f.mu.Unlock()
	if silent {
		ctx, cancel := context.WithTimeout(ctx, h.Timeout)
		defer cancel()
		<-ctx.Done()
		return nil
	}
	for id := range got {
		r := &fwv1.HuntReply{RequestId: h.ID}
		for i := range n {
			r.Matches = append(r.Matches, &fwv1.Observation{Key: fmt.Sprint("process/", i),
				Kind: &fwv1.Observation_Process{Process: &fwv1.Process{Pid: int32(i), Name: "proc", Cmdline: strings.Repeat("x", 100)}}})
		}
		answer(id, r)
	}
	return nil
}

func (f *fakeServer) huntCounts() (int, int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.hunts, f.asked
}

// collect runs a relayed hunt from n until it has seen want replies (or
// its time is up), and returns what the relay told.
func collect(t *testing.T, n *node, h server.RelayHunt, want int) (expect map[string]map[string]string, asked map[string]map[string]string, replies map[string]*fwv1.HuntReply) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), h.Timeout)
	defer cancel()
	news := make(chan server.HuntNews)
	done := make(chan struct{})
	go func() { n.rep.Hunt(ctx, h, news); close(done) }()
	asked, replies = map[string]map[string]string{}, map[string]*fwv1.HuntReply{}
	for len(replies) < want {
		select {
		case x := <-news:
			switch {
			case x.Err != nil:
				t.Fatal(x.Err)
			case x.Expect != nil:
				expect = x.Expect
			case x.Asked != nil:
				asked[x.Replica] = x.Asked
			case x.Reply != nil:
				if _, dup := replies[x.HostID]; dup {
					t.Errorf("host %s answered twice", x.HostID)
				}
				replies[x.HostID] = x.Reply
			}
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
	}
	cancel()
	<-done
	return expect, asked, replies
}

// TestRelayHunt: a hunt asked of a reaches the hosts b and c hold; each
// host is asked once (b and c both hold h2: one of them asks it); every
// answer comes back through the tables; a host a holds itself (claimed
// first) is asked by nobody else.
func TestRelayHunt(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.DSN(t)
	var leads atomic.Int32
	a, b, c := start(t, dsn, &leads), start(t, dsn, &leads), start(t, dsn, &leads)
	b.srv.matches, c.srv.matches = 2, 3
	b.hold("h1")
	b.hold("h2")
	c.hold("h2")
	c.hold("h3")
	b.hold("h0")
	eventually(t, "hosts online at a", func() bool { on, err := a.rep.Online(ctx, nil); return err == nil && len(on) == 4 })
	id := "hunt-1"
	// a holds h0 too (the agent moved): a claims it first.
	if got, err := a.rep.ClaimHunt(ctx, id, map[string]string{"h0": "name-h0"}); err != nil || len(got) != 1 {
		t.Fatalf("claim at a: %v %v", got, err)
	}
	expect, asked, replies := collect(t, a, server.RelayHunt{ID: id, Kind: "process", Filter: "true", Timeout: 10 * time.Second}, 3)
	if len(expect) != 2 || expect[b.rep.ID()] == nil || expect[c.rep.ID()] == nil {
		t.Fatalf("expected replicas %v", expect)
	}
	if len(asked[b.rep.ID()])+len(asked[c.rep.ID()]) != 3 {
		t.Fatalf("asked %v: want h1, h2, h3 once each", asked)
	}
	if _, ok := asked[b.rep.ID()]["h0"]; ok {
		t.Fatalf("b asked h0, which a had claimed")
	}
	for _, h := range []string{"h1", "h2", "h3"} {
		r := replies[h]
		if r == nil || r.GetError() != "" || len(r.GetMatches()) < 2 {
			t.Errorf("%s: %v", h, r)
		}
	}
	_, nb := b.srv.huntCounts()
	_, nc := c.srv.huntCounts()
	if nb+nc != 3 {
		t.Fatalf("hosts asked: b %d + c %d, want 3", nb, nc)
	}
	// Nothing of the hunt is left in the tables.
	var left int
	a.rep.pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM relay_hunts) + (SELECT count(*) FROM relay_hunt_asked) +
(SELECT count(*) FROM relay_hunt_acks) + (SELECT count(*) FROM relay_hunt_answers)`).Scan(&left)
	if left != 0 {
		t.Fatalf("%d rows of the hunt left", left)
	}
}

// TestRelayHuntAbuse: a replayed hunt notification asks nobody again; a
// hunt notification with another asker, or for an unknown hunt, is
// refused; an answer for a host that was not asked is refused; an answer
// over the size limit reaches the asker as an error, not as rows; a
// holder that dies mid-hunt leaves its hosts unanswered, and the hunt
// ends at its time.
func TestRelayHuntAbuse(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.DSN(t)
	var leads atomic.Int32
	a, b := start(t, dsn, &leads), start(t, dsn, &leads)
	b.srv.matches = 1
	b.hold("h1")
	eventually(t, "h1 online at a", func() bool { on, err := a.rep.Online(ctx, nil); return err == nil && on["h1"] })

	// Another asker, an unknown hunt: nothing is put to b's agents.
	if _, err := a.rep.pool.Exec(ctx, `INSERT INTO relay_hunts (id, asker, kind, filter, timeout_ms, created) VALUES ('h-x', $1, 'process', 'true', 60000, $2)`,
		a.rep.ID(), time.Now().UnixMilli()); err != nil {
		t.Fatal(err)
	}
	b.rep.huntHere(ctx, msg{Op: opHunt, ID: "h-x", From: "someone-else"})
	b.rep.huntHere(ctx, msg{Op: opHunt, ID: "no-such-hunt", From: a.rep.ID()})
	// A hunt past its time.
	if _, err := a.rep.pool.Exec(ctx, `INSERT INTO relay_hunts (id, asker, kind, filter, timeout_ms, created) VALUES ('h-old', $1, 'process', 'true', 1000, $2)`,
		a.rep.ID(), time.Now().Add(-time.Minute).UnixMilli()); err != nil {
		t.Fatal(err)
	}
	b.rep.huntHere(ctx, msg{Op: opHunt, ID: "h-old", From: a.rep.ID()})
	if n, _ := b.srv.huntCounts(); n != 0 {
		t.Fatalf("%d hunts put to b's agents; want none", n)
	}

	// A hunt, then its notification replayed to b: b asks nobody again.
	_, _, replies := collect(t, a, server.RelayHunt{ID: "h-1", Kind: "process", Filter: "true", Timeout: 5 * time.Second}, 1)
	if replies["h1"] == nil {
		t.Fatalf("no answer of h1: %v", replies)
	}
	go func() {
		time.Sleep(200 * time.Millisecond)
		b.rep.huntHere(ctx, msg{Op: opHunt, ID: "h-2", From: a.rep.ID()})
	}()
	_, _, replies = collect(t, a, server.RelayHunt{ID: "h-2", Kind: "process", Filter: "true", Timeout: 3 * time.Second}, 2)
	if len(replies) != 1 {
		t.Fatalf("replies %v", replies)
	}
	if n, asked := b.srv.huntCounts(); asked != 2 {
		t.Fatalf("b asked %d hosts in %d hunts; want h1 once per hunt", asked, n)
	}

	// An answer of a host b did not ask, and h1's answer again (taken
	// once already), slipped into the table.
	replay, _ := proto.Marshal(&fwv1.HuntReply{RequestId: "h-3", Error: "replayed"})
	go func() {
		time.Sleep(300 * time.Millisecond)
		a.rep.pool.Exec(ctx, `INSERT INTO relay_hunt_answers (hunt_id, host_id, replica_id, body, created) VALUES ('h-3', 'intruder', $1, '\x', 0)`, b.rep.ID())
		time.Sleep(300 * time.Millisecond)
		a.rep.pool.Exec(ctx, `INSERT INTO relay_hunt_answers (hunt_id, host_id, replica_id, body, created) VALUES ('h-3', 'h1', $1, $2, 0)`, b.rep.ID(), replay)
		a.rep.notify(ctx, a.rep.ID(), msg{Op: opHuntNews, ID: "h-3"})
	}()
	_, _, replies = collect(t, a, server.RelayHunt{ID: "h-3", Kind: "process", Filter: "true", Timeout: 3 * time.Second}, 3)
	if replies["intruder"] != nil || replies["h1"] == nil || replies["h1"].GetError() != "" {
		t.Fatalf("replies %v: want h1's first answer only", replies)
	}

	// Over the size limit.
	a.rep.MaxAnswerBytes = 4096
	b.srv.mu.Lock()
	b.srv.matches = 200
	b.srv.mu.Unlock()
	_, _, replies = collect(t, a, server.RelayHunt{ID: "h-4", Kind: "process", Filter: "true", Timeout: 5 * time.Second}, 1)
	if r := replies["h1"]; r == nil || len(r.GetMatches()) != 0 || !strings.Contains(r.GetError(), "over the collector's limits") {
		t.Fatalf("oversized answer: %v", r)
	}

	// b takes the hunt, then dies before answering: the hunt ends at its
	// time with h1 asked and unanswered.
	b.srv.mu.Lock()
	b.srv.silent = true
	b.srv.mu.Unlock()
	go func() {
		for _, n := b.srv.huntCounts(); n < 5; _, n = b.srv.huntCounts() {
			time.Sleep(10 * time.Millisecond)
		}
		b.stop()
	}()
	start := time.Now()
	_, asked, replies := collect(t, a, server.RelayHunt{ID: "h-5", Kind: "process", Filter: "true", Timeout: 3 * time.Second}, 1)
	if len(replies) != 0 || asked[b.rep.ID()]["h1"] == "" {
		t.Fatalf("a dead holder: asked %v, replies %v", asked, replies)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Fatalf("the hunt outlived its time: %s", d)
	}
}

// BenchmarkRelayHunt: a hunt asked of a replica that holds none of the
// 100 hosts (the hunt through a table and notifications, each answer of 2
// matches back through a table), until every answer is in, against the
// same hunt put directly to the process that holds them. The fake agents
// answer at once: this is the relay's cost, not the agents'.
func BenchmarkRelayHunt(b *testing.B) {
	ctx := context.Background()
	dsn := pgtest.DSN(b)
	var leads atomic.Int32
	x, y := start(b, dsn, &leads), start(b, dsn, &leads)
	x.srv.matches = 2
	const hosts = 100
	for i := range hosts {
		x.hold(fmt.Sprint("h", i))
	}
	eventually(b, "hosts online at y", func() bool { on, err := y.rep.Online(ctx, nil); return err == nil && len(on) == hosts })
	var relay, direct []time.Duration
	n := 0
	for b.Loop() {
		n++
		h := server.RelayHunt{ID: fmt.Sprint("bench-", n), Kind: "process", Filter: "true", Timeout: 30 * time.Second}
		t0 := time.Now()
		hctx, cancel := context.WithCancel(ctx)
		news := make(chan server.HuntNews, 16)
		done := make(chan struct{})
		go func() { y.rep.Hunt(hctx, h, news); close(done) }()
		for got := 0; got < hosts; {
			if x := <-news; x.Reply != nil {
				got++
			} else if x.Err != nil {
				b.Fatal(x.Err)
			}
		}
		t1 := time.Now()
		cancel()
		<-done
		t2 := time.Now()
		got := 0
		all := func(m map[string]string) (map[string]string, error) { return m, nil }
		if err := x.srv.HuntLocal(ctx, server.RelayHunt{ID: h.ID + "-direct", Timeout: time.Second}, all, func(string, *fwv1.HuntReply) { got++ }); err != nil || got != hosts {
			b.Fatalf("direct: %d answers, %v", got, err)
		}
		relay, direct = append(relay, t1.Sub(t0)), append(direct, time.Since(t2))
	}
	reportRelayDirect(b, relay, direct)
}
