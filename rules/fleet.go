package rules

import (
	"fmt"

	fwv1 "github.com/farmwatch/farmwatch/proto/farmwatch/v1"
)

// FleetRules are the rules of scope fleet, in load order.
func (s *Set) FleetRules() []*Rule { return s.fleet }

// EvaluateFleet runs the fleet rules over one cluster, with the
// organisation's expectations as org. Each finding's evidence is the
// cluster ("cluster/ID"); an exception that matches marks it suppressed,
// as for observation rules.
func (s *Set) EvaluateFleet(org *fwv1.OrgPolicy, c *fwv1.Cluster) *Result {
	res := &Result{}
	if len(s.fleet) == 0 {
		return res
	}
	e := s.newEvaluation(nil, org)
	act := e.act
	act.name, act.val = FleetVar, s.envs.adapter.NativeToValue(newCached(c))
	ev := []string{"cluster/" + c.GetId()}
	for _, r := range s.fleet {
		res.Checks++
		ok, err := evalBool(r.when, act)
		if err != nil {
			res.Errors = append(res.Errors, fmt.Sprintf("rule %s on cluster %s: %v", r.ID, c.GetId(), err))
			continue
		}
		if !ok {
			continue
		}
		f := r.finding(act, ev, res)
		for _, x := range r.exceptions {
			if !x.Expires.IsZero() && !e.now.Before(x.Expires) {
				continue
			}
			hit, err := evalBool(x.when, act)
			if err != nil {
				res.Errors = append(res.Errors, fmt.Sprintf("exception %s on cluster %s: %v", x.ID, c.GetId(), err))
				continue
			}
			if hit {
				f.SuppressedBy = x.ID
				break
			}
		}
		res.Findings = append(res.Findings, f)
	}
	SortFindings(res.Findings)
	return res
}
