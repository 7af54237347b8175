package rules

import (
	"fmt"
	"strings"

	"cel.dev/cel-go/cel"
	"github.com/farmwatch/farmwatch/limits"
	fwv1 "github.com/farmwatch/farmwatch/proto/farmwatch/v1"
	"google.golang.org/protobuf/proto"
)

// MaxQueryBytes bounds the text of a query.
const MaxQueryBytes = 4096

// Query is a compiled fleet query (farmwatch-collector query and hunt): a
// CEL filter, type-checked like a rule's when and bounded by the same
// cost limit, over one observation kind (its variable, with host and org)
// or, for kind "", over every observation as observation
// (farmwatch.v1.Observation).
type Query struct {
	s    *Set
	kind string
	prg  cel.Program
}

// QueryError is a query that does not compile, with the place in it.
type QueryError struct {
	Line, Col int
	Reason    string
}

func (e *QueryError) Error() string {
	return fmt.Sprintf("query:%d:%d: %s", e.Line, e.Col, e.Reason)
}

// Query compiles a filter for kind ("" for every kind).
func (s *Set) Query(kind, expr string) (*Query, error) {
	if strings.TrimSpace(expr) == "" {
		return nil, &QueryError{Line: 1, Col: 1, Reason: "the filter is empty"}
	}
	if len(expr) > MaxQueryBytes {
		return nil, &QueryError{Line: 1, Col: 1, Reason: fmt.Sprintf("the filter is %d bytes; the limit is %d", len(expr), MaxQueryBytes)}
	}
	env := s.envs.byScope[ObservationVar]
	if kind != "" {
		if _, ok := scopeByName(kind); !ok {
			return nil, &QueryError{Line: 1, Col: 1, Reason: fmt.Sprintf("kind %q: want one of %s", kind, scopeNames())}
		}
		env = s.envs.byScope[kind]
	}
	if ee := s.unknownList(expr); ee != nil {
		return nil, &QueryError{Line: ee.line, Col: ee.col, Reason: ee.msg}
	}
	prg, ee := compile(env, expr, cel.BoolType)
	if ee != nil {
		return nil, &QueryError{Line: ee.line, Col: ee.col, Reason: ee.msg}
	}
	return &Query{s: s, kind: kind, prg: prg}, nil
}

// Kind is the observation kind the query is over; "" for every kind.
func (q *Query) Kind() string { return q.kind }

// Match says whether the filter holds for one observation of a host. An
// observation of another kind than the query's is no match; an
// evaluation error (the cost limit) is returned, never taken for no
// match.
func (q *Query) Match(hi *fwv1.HostInfo, org *fwv1.OrgPolicy, o *fwv1.Observation) (bool, error) {
	var (
		name string
		msg  proto.Message
	)
	if q.kind == "" {
		name, msg = ObservationVar, o
	} else {
		k, m := KindOf(o)
		if k != q.kind {
			return false, nil
		}
		name, msg = k, m
	}
	e := q.s.newEvaluation(hi, org)
	e.act.name, e.act.val = name, q.s.envs.adapter.NativeToValue(newCached(msg))
	ok, err := evalBool(q.prg, e.act)
	if err != nil {
		return false, fmt.Errorf("%s: %w", o.GetKey(), err)
	}
	return ok, nil
}

// Hunt runs the query over a host's observations, as an agent answers a
// hunt: every observation counted as scanned, at most
// limits.HostObservations matches, and the first evaluation error (the
// others are alike).
func (q *Query) Hunt(hi *fwv1.HostInfo, org *fwv1.OrgPolicy, obs []*fwv1.Observation) *fwv1.HuntReply {
	out := &fwv1.HuntReply{}
	for _, o := range obs {
		out.Scanned++
		ok, err := q.Match(hi, org, o)
		if err != nil {
			if out.Error == "" {
				out.Error = err.Error()
			}
			continue
		}
		if ok && len(out.Matches) < limits.HostObservations {
			out.Matches = append(out.Matches, o)
		}
	}
	return out
}
