package server

import (
	"context"
	"strings"

	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/common/ast"
	"cel.dev/cel-go/common/operators"
	"cel.dev/cel-go/common/types"
	"github.com/farmwatch/farmwatch/collector/store"
	fwv1 "github.com/farmwatch/farmwatch/proto/farmwatch/v1"
	"github.com/farmwatch/farmwatch/rules"
)

// A query whose filter is, or has among its top-level && conjuncts, the
// equality of an indexed field (store.IndexedFields) with a string is
// answered, on a store that has the index (store.ObservationFinder: the
// PostgreSQL store), from the observations the index finds; the filter
// is then evaluated on each of those as on a scan, so the index only
// narrows what is read. Any other filter reads every host's observations.

// indexedPaths are the CEL paths of the indexed fields that compare with a
// string, each under its kind's variable.
var indexedPaths = map[string]string{
	"process.name":                store.FieldProcessName,
	"process.exe":                 store.FieldProcessExe,
	"usb_device.serial":           store.FieldUSBSerial,
	"display.edid.manufacturer":   store.FieldEDIDManufacturer,
	"display.edid.monitor_serial": store.FieldEDIDSerial,
	"neighbor.mac_hash":           store.FieldNetMAC,
	"wifi_network.ssid_hash":      store.FieldNetSSID,
	"wifi_network.bssid_hash":     store.FieldNetBSSID,
}

// parser parses filters, without checking them (Query checks them).
var parser, _ = cel.NewEnv()

// indexedTerm returns the indexed field and value that every match of
// filter (over kind, "" for every kind) has, if it names one.
func indexedTerm(kind, filter string) (field, value string, ok bool) {
	a, iss := parser.Parse(filter)
	if iss.Err() != nil {
		return "", "", false
	}
	var walk func(e ast.Expr) bool
	walk = func(e ast.Expr) bool {
		if e.Kind() != ast.CallKind {
			return false
		}
		c := e.AsCall()
		switch {
		case c.FunctionName() == operators.LogicalAnd && len(c.Args()) == 2:
			return walk(c.Args()[0]) || walk(c.Args()[1])
		case c.FunctionName() == operators.Equals && len(c.Args()) == 2:
			for i, arg := range c.Args() {
				lit := c.Args()[1-i]
				if lit.Kind() != ast.LiteralKind {
					continue
				}
				s, isString := lit.AsLiteral().(types.String)
				if !isString {
					continue
				}
				p := path(arg)
				if kind == "" {
					var under bool
					if p, under = strings.CutPrefix(p, "observation."); !under {
						continue
					}
				} else if first, _, _ := strings.Cut(p, "."); first != kind {
					continue
				}
				if f, ok := indexedPaths[p]; ok {
					field, value = f, string(s)
					return true
				}
			}
		}
		return false
	}
	ok = walk(a.NativeRep().Expr())
	return field, value, ok
}

// path is the dotted path of a chain of field selections on a variable
// ("process.name"), or "".
func path(e ast.Expr) string {
	switch e.Kind() {
	case ast.IdentKind:
		return e.AsIdent()
	case ast.SelectKind:
		s := e.AsSelect()
		if s.IsTestOnly() {
			return ""
		}
		if p := path(s.Operand()); p != "" {
			return p + "." + s.FieldName()
		}
	}
	return ""
}

// maxIndexed bounds the observations an indexed lookup reads; past it the
// query reads every host's instead.
const maxIndexed = 100_000

// candidates are the observations an index finds for the query, grouped
// by host in the store's order (host name, host id, key), and whether the
// index answered (false: read every host's observations).
func (s *Server) candidates(ctx context.Context, kind, filter string) ([]store.ObservationMatch, bool, error) {
	finder, ok := s.store.(store.ObservationFinder)
	if !ok {
		return nil, false, nil
	}
	field, value, ok := indexedTerm(kind, filter)
	if !ok {
		return nil, false, nil
	}
	ms, err := finder.FindObservations(ctx, field, value, maxIndexed)
	if err != nil || len(ms) == maxIndexed {
		return nil, false, err
	}
	return ms, true, nil
}

// queryIndexed evaluates q on the observations the index found.
func (s *Server) queryIndexed(ctx context.Context, q queryMatcher, p *Policy, ms []store.ObservationMatch, limit int) (*fwv1.QueryObservationsResponse, error) {
	out := &fwv1.QueryObservationsResponse{}
	// Every host was searched, through the index.
	n, err := s.store.(store.ObservationFinder).CountHosts(ctx)
	if err != nil {
		return nil, internal("query", err)
	}
	out.Hosts = int32(n)
	for _, m := range ms {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		org := p.orgFor(s.agentOrg(m.HostID), m.Hostname)
		ok, err := q.Match(m.Info, org, m.Observation)
		if err != nil {
			if len(out.Errors) < maxQueryErrors {
				out.Errors = append(out.Errors, m.Hostname+": "+err.Error())
			}
			continue
		}
		if !ok {
			continue
		}
		if len(out.Rows) == limit {
			out.Truncated = true
			break
		}
		kind, _ := rules.KindOf(m.Observation)
		out.Rows = append(out.Rows, &fwv1.QueryRow{HostId: m.HostID, Hostname: m.Hostname, Kind: kind, Key: m.Observation.GetKey(), Observation: m.Observation})
	}
	return out, nil
}

// queryMatcher is rules.Query's Match.
type queryMatcher interface {
	Match(hi *fwv1.HostInfo, org *fwv1.OrgPolicy, o *fwv1.Observation) (bool, error)
}
