package server

import (
	"sync"
	"time"
)

// failures is each peer's budget of failed authentications (a wrong
// enroll secret, a wrong node key, a bad fleet token): a token bucket of
// burst failures, refilled at rate a second. Only failures spend it: a
// caller that presents valid credentials is never refused by it, so an
// attacker cannot lock out the agents that share its NAT. A failure past
// the budget is answered ResourceExhausted instead of Unauthenticated,
// and where checking would cost a store lookup (a node key not in the
// tap's cache) the check is skipped.
//
// It keeps at most maxPeers buckets: a full map drops the buckets that are
// full again, then an arbitrary one.
type failures struct {
	burst, rate float64
	now         func() time.Time

	mu        sync.Mutex
	buckets   map[string]*bucket
	refused   tally // failures since the last summary
	throttled int   // of which past the budget
}

type bucket struct {
	tokens float64
	at     time.Time // when tokens was counted
}

func newFailures(burst, rate float64, now func() time.Time) *failures {
	return &failures{burst: burst, rate: rate, now: now, buckets: map[string]*bucket{}, refused: tally{peers: map[string]int{}}}
}

// refill brings b's tokens up to now.
func (f *failures) refill(b *bucket, now time.Time) {
	if d := now.Sub(b.at); d > 0 {
		b.tokens = min(f.burst, b.tokens+d.Seconds()*f.rate)
		b.at = now
	}
}

// fail records a failed authentication of peer, and says whether the
// peer was past its budget.
func (f *failures) fail(peer string) (over bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	now := f.now()
	b := f.buckets[peer]
	if b == nil {
		if len(f.buckets) >= maxPeers {
			f.evict(now)
		}
		b = &bucket{tokens: f.burst, at: now}
		f.buckets[peer] = b
	}
	f.refill(b, now)
	over = b.tokens < 1
	if !over {
		b.tokens--
	}
	f.refused.add(peer)
	if over {
		f.throttled++
	}
	return over
}

// exhausted says whether peer is past its budget, without spending it.
func (f *failures) exhausted(peer string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	b := f.buckets[peer]
	if b == nil {
		return false
	}
	f.refill(b, f.now())
	return b.tokens < 1
}

// evict makes room for one bucket: the full ones go, or else an
// arbitrary one.
func (f *failures) evict(now time.Time) {
	for k, b := range f.buckets {
		if f.refill(b, now); b.tokens >= f.burst {
			delete(f.buckets, k)
		}
	}
	for k := range f.buckets {
		if len(f.buckets) < maxPeers {
			return
		}
		delete(f.buckets, k)
	}
}

// forgetQuiet drops the buckets that are full again.
func (f *failures) forgetQuiet() {
	f.mu.Lock()
	defer f.mu.Unlock()
	now := f.now()
	for k, b := range f.buckets {
		if f.refill(b, now); b.tokens >= f.burst {
			delete(f.buckets, k)
		}
	}
}

// take returns the failures since the last call: how many, how many past
// a budget, from how many peers, and the peers with the most.
func (f *failures) take() (n, throttled, peers int, top string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	n, peers, top = f.refused.take()
	throttled, f.throttled = f.throttled, 0
	return n, throttled, peers, top
}
