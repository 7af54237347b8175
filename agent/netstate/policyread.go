package netstate

import (
	"context"
	"errors"

	"github.com/farmwatch/farmwatch/agent/host"
	fwv1 "github.com/farmwatch/farmwatch/proto/farmwatch/v1"
)

// PolicyRecord is api/policy_routing.json (API.md): the routing rules and
// the routes of every table of each family, as the live agent reads them
// over netlink.
type PolicyRecord struct {
	IPv4 FamilyRecord `json:"ipv4"`
	IPv6 FamilyRecord `json:"ipv6"`
}

// FamilyRecord is the rules and routes of one family.
type FamilyRecord struct {
	Rules  []RuleRecord       `json:"rules"`
	Routes []TableRouteRecord `json:"routes"`
}

// RuleRecord is one rule, with the fields of IPRule. Absent from and to
// are "all"; an absent suppress_prefixlength is none (0 is wg-quick's).
type RuleRecord struct {
	Priority int    `json:"priority"`
	Not      bool   `json:"not,omitempty"`
	From     string `json:"from,omitempty"`
	To       string `json:"to,omitempty"`
	Fwmark   string `json:"fwmark,omitempty"`
	Iif      string `json:"iif,omitempty"`
	Oif      string `json:"oif,omitempty"`
	Other    bool   `json:"other,omitempty"`
	Action   string `json:"action"`
	Table    string `json:"table,omitempty"`
	Suppress *int   `json:"suppress_prefixlength,omitempty"`
}

// TableRouteRecord is one route of any table, with the fields of IPRoute.
// An absent type is unicast, an absent table main.
type TableRouteRecord struct {
	Type        string `json:"type,omitempty"`
	Destination string `json:"destination"`
	Gateway     string `json:"gateway,omitempty"`
	Dev         string `json:"dev,omitempty"`
	Table       string `json:"table,omitempty"`
	Metric      int    `json:"metric,omitempty"`
}

// familyRecord writes rules and routes as they are recorded.
func familyRecord(rules []IPRule, routes []IPRoute) FamilyRecord {
	f := FamilyRecord{Rules: make([]RuleRecord, 0, len(rules)), Routes: make([]TableRouteRecord, 0, len(routes))}
	for _, r := range rules {
		rr := RuleRecord{Priority: r.Priority, Not: r.Not, From: r.From, To: r.To, Fwmark: r.Fwmark, Iif: r.Iif,
			Oif: r.Oif, Other: r.Other, Action: r.Action, Table: r.Table}
		if r.Suppress != -1 {
			s := r.Suppress
			rr.Suppress = &s
		}
		f.Rules = append(f.Rules, rr)
	}
	for _, r := range routes {
		f.Routes = append(f.Routes, TableRouteRecord(r))
	}
	return f
}

// IPRules returns the recorded rules. A rule without an action, or a
// lookup without a table, is left out as ParseIPRule leaves its line out.
func (f FamilyRecord) IPRules() []IPRule {
	var out []IPRule
	for _, r := range f.Rules {
		ir := IPRule{Priority: r.Priority, Not: r.Not, From: r.From, To: r.To, Fwmark: r.Fwmark, Iif: r.Iif,
			Oif: r.Oif, Other: r.Other, Action: r.Action, Table: r.Table, Suppress: -1}
		if ir.From == "" {
			ir.From = "all"
		}
		if ir.To == "" {
			ir.To = "all"
		}
		if r.Suppress != nil {
			ir.Suppress = *r.Suppress
		}
		if ir.Action == "" || ir.Action == "lookup" && ir.Table == "" {
			continue
		}
		out = append(out, ir)
	}
	return out
}

// IPRoutes returns the recorded routes.
func (f FamilyRecord) IPRoutes() []IPRoute {
	out := make([]IPRoute, 0, len(f.Routes))
	for _, r := range f.Routes {
		ir := IPRoute(r)
		if ir.Type == "" {
			ir.Type = "unicast"
		}
		if ir.Table == "" {
			ir.Table = "main"
		}
		out = append(out, ir)
	}
	return out
}

// policyRoutesLinux returns the policy defaults of both families, from
// api/policy_routing.json: read over netlink on the live machine, replayed
// from a snapshot. Where that is not to be had (a snapshot recorded before
// it, or a live netlink socket refused), the output of the ip commands is
// read instead (policyCommands); a host with neither gives none and no
// error.
func policyRoutesLinux(ctx context.Context, h *host.Host) ([]*fwv1.Route, error) {
	var rec PolicyRecord
	err := h.API(ctx, "policy_routing", &rec, livePolicy)
	if err == nil {
		return append(PolicyDefaults(rec.IPv4.IPRules(), rec.IPv4.IPRoutes(), "ipv4"),
			PolicyDefaults(rec.IPv6.IPRules(), rec.IPv6.IPRoutes(), "ipv6")...), nil
	}
	out, cerrs := policyCommands(ctx, h)
	if absentOK([]error{err}) == nil {
		return out, absentOK(cerrs) // no record: an older snapshot, a --root tree
	}
	if len(cerrs) == 0 {
		return out, nil // netlink refused on the live host, ip answered
	}
	return out, errors.Join(err, absentOK(cerrs)) // a bad record, or neither netlink nor ip
}
