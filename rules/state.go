package rules

import (
	"errors"
	"hash/maphash"
	"maps"
	"regexp"
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
//
// It keeps every observation's key as a 64-bit hash under a seed of its
// own (to count the host and to know what a removal removes: two keys of
// one host that hash alike, about one chance in 10^14 for a host of 1,000
// observations, and no agent can aim at it without the seed, would count
// as one), the findings and errors of the observations that have
// them, and the messages of only the kinds the set's host rules read
// (Set.HostReads): a collector holds a state for every connected host, and
// the built-in host rules read the displays and the findings, not the
// hundreds of processes a host has. An exception that expires would need
// every observation judged again, which the state cannot do from what it
// keeps: it is then Stale, and the caller builds it again from its store.
type HostState struct {
	set   *Set
	hi    *fwv1.HostInfo
	org   *fwv1.OrgPolicy
	seed  maphash.Seed
	keys  map[uint64]struct{}        // every observation's key, hashed (hash)
	msgs  map[string]stateObs        // the observations of the kinds the host rules read
	found map[string][]*fwv1.Finding // observation key -> its findings
	errs  map[string][]string        // observation key -> its rule errors
	// until is when an exception's expiry makes the kept findings stale.
	until time.Time
}

// stateObs is one kept observation message with its kind.
type stateObs struct {
	kind string
	msg  proto.Message
}

// ErrStale is Apply's refusal of a change to a state that an exception's
// expiry made stale: build the state again from all the host's
// observations (NewHostState, then Apply of a full state).
var ErrStale = errors.New("rules: an exception expired since the host state was built: build it again from all its observations")

// NewHostState is the state of a host with no observations yet.
func (s *Set) NewHostState(hi *fwv1.HostInfo, org *fwv1.OrgPolicy) *HostState {
	return &HostState{set: s, hi: hi, org: org, seed: maphash.MakeSeed(), keys: map[uint64]struct{}{}, msgs: map[string]stateObs{},
		found: map[string][]*fwv1.Finding{}, errs: map[string][]string{}, until: s.nextExpiry(s.now())}
}

// Matches reports whether the state was built for these rules, host facts
// and expectations, and is not stale.
func (st *HostState) Matches(s *Set, hi *fwv1.HostInfo, org *fwv1.OrgPolicy) bool {
	return st.set == s && !st.Stale() && proto.Equal(st.hi, hi) && proto.Equal(st.org, org)
}

// Stale reports whether an exception expired since the state was built,
// so that findings it kept as suppressed may stand now.
func (st *HostState) Stale() bool {
	return !st.until.IsZero() && !st.set.now().Before(st.until)
}

// hash is an observation key as the state keeps it.
func (st *HostState) hash(k string) uint64 { return maphash.String(st.seed, k) }

// Len is the number of observations.
func (st *HostState) Len() int { return len(st.keys) }

// After says how many observations the host would have after a change,
// without making it. As the stores apply a change, upserts come first and
// removals after them.
func (st *HostState) After(full bool, upserted []*fwv1.Observation, removed []string) int {
	kept := func(k string) bool {
		_, ok := st.keys[st.hash(k)]
		return ok && !full
	}
	added, gone := map[string]bool{}, map[string]bool{} // new keys; kept keys removed
	for _, o := range upserted {
		if k := o.GetKey(); !kept(k) {
			added[k] = true
		}
	}
	for _, k := range removed {
		if added[k] {
			delete(added, k)
		} else if kept(k) {
			gone[k] = true
		}
	}
	n := len(added) - len(gone)
	if !full {
		n += len(st.keys)
	}
	return n
}

// Apply changes the state (a full state replaces it) and returns the
// host's findings: the observation rules run on what changed, the host
// rules on the whole host. A change that is not a full state, to a Stale
// state, is refused with ErrStale and changes nothing.
func (st *HostState) Apply(full bool, upserted []*fwv1.Observation, removed []string) (*Result, error) {
	e := st.set.newEvaluation(st.hi, st.org)
	if !st.until.IsZero() && !e.now.Before(st.until) {
		if !full {
			return nil, ErrStale
		}
	}
	if full {
		clear(st.keys)
		clear(st.msgs)
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
		st.keys[st.hash(o.Key)] = struct{}{}
		if st.set.hostReads[kind] {
			st.msgs[o.Key] = stateObs{kind: kind, msg: msg}
		} else {
			delete(st.msgs, o.Key) // an observation whose key now holds another kind
		}
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
		delete(st.keys, st.hash(k))
		delete(st.msgs, k)
		delete(st.found, k)
		delete(st.errs, k)
	}
	// In the order of their keys, so that the host rules see the host in a
	// stable order: only the few observations with findings, errors or a
	// message the host rules read.
	keys := slices.AppendSeq([]string(nil), maps.Keys(st.found))
	keys = slices.AppendSeq(keys, maps.Keys(st.errs))
	keys = slices.AppendSeq(keys, maps.Keys(st.msgs))
	slices.Sort(keys)
	keys = slices.Compact(keys)
	byKind := map[string][]proto.Message{}
	for _, k := range keys {
		if so, ok := st.msgs[k]; ok {
			byKind[so.kind] = append(byKind[so.kind], so.msg)
		}
		res.Findings = append(res.Findings, st.found[k]...)
		res.Errors = append(res.Errors, st.errs[k]...)
	}
	res.Findings = e.hostRules(byKind, res.Findings, res)
	SortFindings(res.Findings)
	return res, nil
}

// hostReadsOf is the kinds whose lists (processes, displays, ...) the host
// rules read: a kind counts when its plural appears as a word in any of
// their expressions. That may count a kind the rules do not read (the word
// in a string), never miss one they do: CEL reads a variable only by its
// name.
func hostReadsOf(rules []*Rule) map[string]bool {
	out := map[string]bool{}
	for _, sc := range scopes {
		w := regexp.MustCompile(`\b` + regexp.QuoteMeta(sc.plural) + `\b`)
		for _, r := range rules {
			if w.MatchString(r.When) || w.MatchString(r.Label) || w.MatchString(r.Message) || w.MatchString(r.Evidence) {
				out[sc.name] = true
				break
			}
		}
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
