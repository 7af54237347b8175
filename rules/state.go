package rules

import (
	"slices"
	"time"

	fwv1 "github.com/farmwatch/farmwatch/proto/farmwatch/v1"
	"google.golang.org/protobuf/proto"
)

// HostState is one host's observations, with the findings of the
// observation-scope rules on each, kept between changes: an observation
// rule sees one observation (with the host, the organisation and the
// lists), so when a message changes a few observations only those are
// judged again, and the host rules, which see the whole host, run once.
// The state is changed in place; a caller whose change was not committed
// drops the state and builds it again.
type HostState struct {
	set   *Set
	hi    *fwv1.HostInfo
	org   *fwv1.OrgPolicy
	obs   map[string]stateObs
	keys  []string                   // of obs, sorted: the host rules see the host in a stable order
	found map[string][]*fwv1.Finding // observation key -> its findings
	errs  map[string][]string        // observation key -> its rule errors
	// until is when an exception's expiry makes the kept findings stale.
	until time.Time
}

// stateObs is one observation with its kind, found once when it comes in
// (not at every change of the host).
type stateObs struct {
	o    *fwv1.Observation
	kind string
	msg  proto.Message
}

// NewHostState is the state of a host with no observations yet.
func (s *Set) NewHostState(hi *fwv1.HostInfo, org *fwv1.OrgPolicy) *HostState {
	return &HostState{set: s, hi: hi, org: org, obs: map[string]stateObs{},
		found: map[string][]*fwv1.Finding{}, errs: map[string][]string{}, until: s.nextExpiry(s.now())}
}

// Matches reports whether the state was built for these rules, host facts
// and expectations.
func (st *HostState) Matches(s *Set, hi *fwv1.HostInfo, org *fwv1.OrgPolicy) bool {
	return st.set == s && proto.Equal(st.hi, hi) && proto.Equal(st.org, org)
}

// Len is the number of observations.
func (st *HostState) Len() int { return len(st.obs) }

// After says how many observations the host would have after a change,
// without making it. As the stores apply a change, upserts come first and
// removals after them.
func (st *HostState) After(full bool, upserted []*fwv1.Observation, removed []string) int {
	keys := map[string]bool{}
	if !full {
		for k := range st.obs {
			keys[k] = true
		}
	}
	for _, o := range upserted {
		keys[o.GetKey()] = true
	}
	for _, k := range removed {
		delete(keys, k)
	}
	return len(keys)
}

// Apply changes the state (a full state replaces it) and returns the
// host's findings: the observation rules run on what changed, the host
// rules on the whole host.
func (st *HostState) Apply(full bool, upserted []*fwv1.Observation, removed []string) *Result {
	e := st.set.newEvaluation(st.hi, st.org)
	if !st.until.IsZero() && !e.now.Before(st.until) {
		full = true // an exception expired: judge everything again
		upserted = st.merged(upserted, removed)
		removed = nil
	}
	if full {
		clear(st.obs)
		st.keys = st.keys[:0]
		clear(st.found)
		clear(st.errs)
		st.until = st.set.nextExpiry(e.now)
	}
	// Upserts first, removals after them, as the stores apply a change.
	res := &Result{}
	for _, o := range upserted {
		kind, msg := KindOf(o)
		if kind == "" {
			continue
		}
		if _, ok := st.obs[o.Key]; !ok {
			if i, found := slices.BinarySearch(st.keys, o.Key); !found {
				st.keys = slices.Insert(st.keys, i, o.Key)
			}
		}
		st.obs[o.Key] = stateObs{o: o, kind: kind, msg: msg}
		one := &Result{}
		fs := e.observation(o, kind, msg, nil, one)
		res.Checks += one.Checks
		if len(fs) > 0 {
			st.found[o.Key] = fs
		} else {
			delete(st.found, o.Key)
		}
		if len(one.Errors) > 0 {
			st.errs[o.Key] = one.Errors
		} else {
			delete(st.errs, o.Key)
		}
	}
	for _, k := range removed {
		if _, ok := st.obs[k]; ok {
			if i, found := slices.BinarySearch(st.keys, k); found {
				st.keys = slices.Delete(st.keys, i, i+1)
			}
		}
		delete(st.obs, k)
		delete(st.found, k)
		delete(st.errs, k)
	}
	byKind := map[string][]proto.Message{}
	for _, k := range st.keys {
		so := st.obs[k]
		byKind[so.kind] = append(byKind[so.kind], so.msg)
		res.Findings = append(res.Findings, st.found[k]...)
		res.Errors = append(res.Errors, st.errs[k]...)
	}
	res.Findings = e.hostRules(byKind, res.Findings, res)
	SortFindings(res.Findings)
	return res
}

// merged is the host after a change, as one full state.
func (st *HostState) merged(upserted []*fwv1.Observation, removed []string) []*fwv1.Observation {
	m := make(map[string]*fwv1.Observation, len(st.obs)+len(upserted))
	for k, so := range st.obs {
		m[k] = so.o
	}
	for _, o := range upserted {
		m[o.GetKey()] = o
	}
	for _, k := range removed {
		delete(m, k)
	}
	out := make([]*fwv1.Observation, 0, len(m))
	for _, o := range m {
		out = append(out, o)
	}
	return out
}

// nextExpiry is the first exception expiry after now, or zero.
func (s *Set) nextExpiry(now time.Time) time.Time {
	var first time.Time
	for _, x := range s.Exceptions {
		if x.Expires.After(now) && (first.IsZero() || x.Expires.Before(first)) {
			first = x.Expires
		}
	}
	return first
}
