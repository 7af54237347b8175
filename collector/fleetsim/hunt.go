package main

import (
	"sync"

	fwv1 "github.com/farmwatch/farmwatch/proto/farmwatch/v1"
	"github.com/farmwatch/farmwatch/rules"
)

// hunter answers hunts as a real agent does (agent/resident's Hunt): the
// filter is compiled against the rules the agent runs, the built-in ones
// and the collector's last bundle, and evaluated on each observation of
// the agent's current state with its host; at most
// limits.HostObservations matches go back, and the first evaluation error
// is reported beside them. The rules and compiled queries are shared by
// every simulated agent (one compilation per bundle and filter, not one per
// agent).
type hunter struct {
	mu      sync.Mutex
	bundle  *fwv1.RuleBundle // the last one pushed
	set     *rules.Set       // compiled from bundle (or the built-in rules alone)
	setErr  error
	queries map[[2]string]*rules.Query
}

// maxQueries bounds the compiled filters kept.
const maxQueries = 64

// take makes b the rules hunts are compiled against.
func (h *hunter) take(b *fwv1.RuleBundle) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.bundle.GetVersion() == b.GetVersion() && h.set != nil {
		return
	}
	h.bundle, h.set, h.setErr, h.queries = b, nil, nil, nil
}

func (h *hunter) query(kind, filter string) (*rules.Query, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.set == nil && h.setErr == nil {
		srcs := rules.Builtin()
		if h.bundle != nil {
			more, err := rules.BundleSources(h.bundle)
			if err != nil {
				h.setErr = err
				return nil, err
			}
			srcs = append(srcs, more...)
		}
		h.set, h.setErr = rules.Load(srcs, rules.Options{})
	}
	if h.setErr != nil {
		return nil, h.setErr
	}
	k := [2]string{kind, filter}
	if q := h.queries[k]; q != nil {
		return q, nil
	}
	q, err := h.set.Query(kind, filter)
	if err != nil {
		return nil, err
	}
	if h.queries == nil || len(h.queries) >= maxQueries {
		h.queries = map[[2]string]*rules.Query{}
	}
	h.queries[k] = q
	return q, nil
}

// answer is an agent's reply to req, over its host and observations.
func (h *hunter) answer(req *fwv1.HuntRequest, host *fwv1.HostInfo, obs []*fwv1.Observation) *fwv1.HuntReply {
	q, err := h.query(req.GetKind(), req.GetFilter())
	if err != nil {
		return &fwv1.HuntReply{RequestId: req.GetRequestId(), Error: err.Error()}
	}
	out := q.Hunt(host, nil, obs)
	out.RequestId = req.GetRequestId()
	return out
}
