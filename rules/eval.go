package rules

import (
	"cmp"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"time"

	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/common/types/ref"
	"cel.dev/cel-go/interpreter"
	fwv1 "github.com/farmwatch/farmwatch/proto/farmwatch/v1"
	"google.golang.org/protobuf/proto"
)

// Result is the evaluation of a Set over one host's observations.
type Result struct {
	// Findings, worst first. Suppressed findings are kept, with
	// SuppressedBy set.
	Findings []*fwv1.Finding
	// Errors are rule evaluation errors (a rule that hit its cost limit,
	// a runtime type error): reported, never taken for "no match".
	Errors []string
	// Checks counts observation-rule evaluations.
	Checks int
}

// activation resolves the variables of one evaluation without building a
// map per observation.
type activation struct {
	lists    map[string]*List
	host     any    // the HostInfo, as a CEL value
	org      any    // the OrgPolicy, as a CEL value
	name     string // scope variable name
	val      any
	hostVars map[string]any
}

func (a *activation) ResolveName(n string) (any, bool) {
	switch {
	case n == a.name && a.val != nil:
		return a.val, true
	case n == "host":
		return a.host, true
	case n == "org":
		return a.org, a.org != nil
	}
	if name, ok := strings.CutPrefix(n, "lists."); ok {
		l, ok := a.lists[name]
		return l, ok
	}
	if a.hostVars != nil {
		v, ok := a.hostVars[n]
		return v, ok
	}
	return nil, false
}

func (a *activation) Parent() interpreter.Activation { return nil }

// Evaluate runs every rule over the observations of one host, with no
// organisation expectations set.
func (s *Set) Evaluate(hi *fwv1.HostInfo, obs []*fwv1.Observation) *Result {
	return s.EvaluateOrg(hi, nil, obs)
}

// EvaluateOrg runs every rule over the observations of one host, with the
// organisation's expectations visible to rules as org.
func (s *Set) EvaluateOrg(hi *fwv1.HostInfo, org *fwv1.OrgPolicy, obs []*fwv1.Observation) *Result {
	e := s.newEvaluation(hi, org)
	res := &Result{}
	byKind := map[string][]proto.Message{}
	for _, o := range obs {
		kind, msg := KindOf(o)
		if kind == "" {
			continue
		}
		byKind[kind] = append(byKind[kind], msg)
		res.Findings = e.observation(o, kind, msg, res.Findings, res)
	}
	res.Findings = e.hostRules(byKind, res.Findings, res)
	SortFindings(res.Findings)
	return res
}

// EvaluateObservation runs the rules of one observation's scope on it
// alone, with their exceptions, and not the host rules: whether the rules
// care about one process the agent saw start (a host rule would see a host
// of one process).
func (s *Set) EvaluateObservation(hi *fwv1.HostInfo, org *fwv1.OrgPolicy, o *fwv1.Observation) *Result {
	res := &Result{}
	if kind, msg := KindOf(o); kind != "" && len(s.byScope[kind]) > 0 {
		res.Findings = s.newEvaluation(hi, org).observation(o, kind, msg, nil, res)
	}
	return res
}

// evaluation is the state of one evaluation over one host.
type evaluation struct {
	s       *Set
	now     time.Time
	hostVal ref.Val
	orgVal  ref.Val
	act     *activation
	cached  map[string]cachedVal // one reusable CEL object per kind
}

type cachedVal struct {
	msg *cachedMsg
	val ref.Val
}

func (s *Set) newEvaluation(hi *fwv1.HostInfo, org *fwv1.OrgPolicy) *evaluation {
	if hi == nil {
		hi = &fwv1.HostInfo{}
	}
	if org == nil {
		org = &fwv1.OrgPolicy{}
	}
	e := &evaluation{s: s, now: s.now(), orgVal: s.envs.adapter.NativeToValue(org),
		hostVal: s.envs.adapter.NativeToValue(newCached(hi)), cached: map[string]cachedVal{}}
	e.act = &activation{lists: s.Lists, host: e.hostVal, org: e.orgVal}
	return e
}

// observation runs the rules of one observation's scope on it and
// appends their findings to out; errors go to res.
func (e *evaluation) observation(o *fwv1.Observation, kind string, msg proto.Message, out []*fwv1.Finding, res *Result) []*fwv1.Finding {
	rs := e.s.byScope[kind]
	if len(rs) == 0 {
		return out
	}
	cv := e.cached[kind]
	if cv.msg == nil {
		cv.msg = newCached(msg)
		cv.val = e.s.envs.adapter.NativeToValue(cv.msg)
		e.cached[kind] = cv
	} else {
		cv.msg.reset(msg)
	}
	act := e.act
	act.name, act.val = kind, cv.val
	for _, r := range rs {
		res.Checks++
		ok, err := evalBool(r.when, act)
		if err != nil {
			res.Errors = append(res.Errors, fmt.Sprintf("rule %s on %s: %v", r.ID, o.Key, err))
			continue
		}
		if !ok {
			continue
		}
		f := r.finding(act, []string{o.Key}, res)
		for _, x := range r.exceptions {
			if !x.Expires.IsZero() && !e.now.Before(x.Expires) {
				continue
			}
			hit, err := evalBool(x.when, act)
			if err != nil {
				res.Errors = append(res.Errors, fmt.Sprintf("exception %s on %s: %v", x.ID, o.Key, err))
				continue
			}
			if hit {
				f.SuppressedBy = x.ID
				break
			}
		}
		out = append(out, f)
	}
	return out
}

// hostRules runs the host-scope rules over the host's observations by
// kind and the standing findings among found, and appends their findings
// to found. A kind with more observations than the cost estimate assumes
// (limits.HostObservations) leaves the host rules unevaluated, with an
// error: their cost would no longer be bounded.
func (e *evaluation) hostRules(byKind map[string][]proto.Message, found []*fwv1.Finding, res *Result) []*fwv1.Finding {
	if len(e.s.host) == 0 {
		return found
	}
	hv := map[string]any{}
	for _, sc := range scopes {
		if !e.s.hostReads[sc.name] {
			continue // no host rule reads them: not bound, not given
		}
		if n := len(byKind[sc.name]); n > MaxHostListLen {
			res.Errors = append(res.Errors, fmt.Sprintf("host rules not evaluated: %d %s, over the bound of %d", n, sc.plural, MaxHostListLen))
			return found
		}
		hv[sc.plural] = types.NewDynamicList(e.s.envs.adapter, byKind[sc.name])
	}
	var standing []*fwv1.Finding
	for _, f := range found {
		if f.SuppressedBy == "" {
			standing = append(standing, f)
		}
	}
	hv["findings"] = types.NewDynamicList(e.s.envs.adapter, standing)
	hact := &activation{lists: e.s.Lists, host: e.hostVal, org: e.orgVal, hostVars: hv}
	for _, r := range e.s.host {
		res.Checks++
		ok, err := evalBool(r.when, hact)
		if err != nil {
			res.Errors = append(res.Errors, fmt.Sprintf("rule %s: %v", r.ID, err))
			continue
		}
		if !ok {
			continue
		}
		var ev []string
		if r.evidence != nil {
			v, _, err := r.evidence.Eval(hact)
			if err != nil {
				res.Errors = append(res.Errors, fmt.Sprintf("rule %s evidence: %v", r.ID, err))
			} else if l, err := v.ConvertToNative(reflectStrings); err == nil {
				ev = dedupe(l.([]string))
			}
		}
		found = append(found, r.finding(hact, ev, res))
	}
	return found
}

func dedupe(in []string) []string {
	seen := map[string]bool{}
	out := in[:0:0]
	for _, s := range in {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}

func (r *Rule) finding(act *activation, evidence []string, res *Result) *fwv1.Finding {
	f := &fwv1.Finding{
		Rule: r.ID, Severity: r.Severity, Title: r.Title, Evidence: evidence,
		Tags: r.Tags, Scope: r.Scope, Qualifier: r.Qualifier,
	}
	if r.label != nil {
		if s, err := evalString(r.label, act); err != nil {
			res.Errors = append(res.Errors, fmt.Sprintf("rule %s label: %v", r.ID, err))
		} else {
			f.Label = s
		}
	}
	if r.message != nil {
		if s, err := evalString(r.message, act); err != nil {
			res.Errors = append(res.Errors, fmt.Sprintf("rule %s message: %v", r.ID, err))
		} else {
			f.Message = s
		}
	}
	return f
}

func evalBool(p cel.Program, act interpreter.Activation) (bool, error) {
	v, _, err := p.Eval(act)
	if err != nil {
		return false, err
	}
	b, ok := v.(types.Bool)
	if !ok {
		return false, fmt.Errorf("result %v is not a bool", v)
	}
	return bool(b), nil
}

func evalString(p cel.Program, act interpreter.Activation) (string, error) {
	v, _, err := p.Eval(act)
	if err != nil {
		return "", err
	}
	s, ok := v.(types.String)
	if !ok {
		return "", fmt.Errorf("result %v is not a string", v)
	}
	return string(s), nil
}

var _ ref.Val = (*List)(nil)

// SortFindings orders findings worst first, standing before suppressed,
// then by rule and evidence, so output is stable.
func SortFindings(fs []*fwv1.Finding) {
	suppressed := func(f *fwv1.Finding) int {
		if f.SuppressedBy != "" {
			return 1
		}
		return 0
	}
	slices.SortStableFunc(fs, func(a, b *fwv1.Finding) int {
		return cmp.Or(
			cmp.Compare(suppressed(a), suppressed(b)),
			cmp.Compare(b.Severity, a.Severity),
			strings.Compare(a.Rule, b.Rule),
			strings.Compare(strings.Join(a.Evidence, ","), strings.Join(b.Evidence, ",")))
	})
}

var reflectStrings = reflect.TypeFor[[]string]()
