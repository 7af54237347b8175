package rules

import (
	"encoding/json"
	"fmt"
	"strings"

	"cel.dev/cel-go/common/types"
	fwv1 "github.com/farmwatch/farmwatch/proto/farmwatch/v1"
	"go.yaml.in/yaml/v3"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
)

// Test is one test case of a rule.
type Test struct {
	Name   string
	Line   int
	Expect bool
	Label  *string // the label the finding must carry, when given

	host     *fwv1.HostInfo
	org      *fwv1.OrgPolicy
	obs      proto.Message              // observation scopes
	lists    map[string][]proto.Message // host scope: plural -> observations
	findings []*fwv1.Finding            // host scope
}

// parseTests parses a rule's test cases. A rule that has tests has at least
// one positive case (expect: true) and one negative case (expect: false):
// a rule tested only where it fires may fire everywhere.
func parseTests(f *parsedFile, r *Rule, n *yaml.Node) ([]Test, error) {
	if n.Kind != yaml.SequenceNode {
		return nil, f.errAt(n, r.ID, "tests: want a list of test cases")
	}
	var out []Test
	for i, c := range n.Content {
		t := Test{Name: fmt.Sprintf("#%d", i+1), Line: c.Line, host: &fwv1.HostInfo{}, org: &fwv1.OrgPolicy{}}
		hasExpect := false
		err := eachKey(f, c, r.ID, nil, func(k string, v *yaml.Node) error {
			switch k {
			case "name":
				t.Name = v.Value
			case "expect":
				var b bool
				if err := v.Decode(&b); err != nil {
					return f.errAt(v, r.ID, "test %s: expect: want true or false", t.Name)
				}
				t.Expect, hasExpect = b, true
			case "label":
				l := v.Value
				t.Label = &l
			case "host":
				return decodeMsg(f, r, t.Name, v, t.host)
			case "org":
				return decodeMsg(f, r, t.Name, v, t.org)
			case "findings":
				if r.Scope != "host" {
					return f.errAt(v, r.ID, "test %s: findings: only host rules see findings", t.Name)
				}
				if v.Kind != yaml.SequenceNode {
					return f.errAt(v, r.ID, "test %s: findings: want a list", t.Name)
				}
				for _, e := range v.Content {
					fd := &fwv1.Finding{}
					if err := decodeMsg(f, r, t.Name, e, fd); err != nil {
						return err
					}
					t.findings = append(t.findings, fd)
				}
			default:
				if k == FleetVar && r.Scope == FleetScope {
					c := &fwv1.Cluster{}
					if err := decodeMsg(f, r, t.Name, v, c); err != nil {
						return err
					}
					t.obs = c
					return nil
				}
				if sc, ok := scopeByName(k); ok && k == r.Scope {
					m := sc.msg.ProtoReflect().New().Interface()
					if err := decodeMsg(f, r, t.Name, v, m); err != nil {
						return err
					}
					t.obs = m
					return nil
				}
				for _, sc := range scopes {
					if k == sc.plural && r.Scope == "host" {
						if v.Kind != yaml.SequenceNode {
							return f.errAt(v, r.ID, "test %s: %s: want a list", t.Name, k)
						}
						if t.lists == nil {
							t.lists = map[string][]proto.Message{}
						}
						for _, e := range v.Content {
							m := sc.msg.ProtoReflect().New().Interface()
							if err := decodeMsg(f, r, t.Name, e, m); err != nil {
								return err
							}
							t.lists[sc.name] = append(t.lists[sc.name], m)
						}
						return nil
					}
				}
				return f.errAt(v, r.ID, "test %s: unknown key %q (a %s rule's test gives %s)", t.Name, k, r.Scope, testInputs(r.Scope))
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
		if !hasExpect {
			return nil, f.errAt(c, r.ID, "test %s: missing expect: true|false", t.Name)
		}
		if r.Scope == FleetScope && t.obs == nil {
			return nil, f.errAt(c, r.ID, "test %s: missing %s:", t.Name, FleetVar)
		}
		if r.Scope != "host" && t.obs == nil {
			return nil, f.errAt(c, r.ID, "test %s: missing %s:", t.Name, r.Scope)
		}
		out = append(out, t)
	}
	pos := 0
	for _, t := range out {
		if t.Expect {
			pos++
		}
	}
	if pos == 0 || pos == len(out) {
		return nil, f.errAt(n, r.ID, "tests: want at least one case with expect: true and one with expect: false (%d of %d expect true)", pos, len(out))
	}
	return out, nil
}

func testInputs(scope string) string {
	if scope == FleetScope {
		return "org: and " + FleetVar + ":"
	}
	if scope != "host" {
		return "host:, org: and " + scope + ":"
	}
	var n []string
	for _, s := range scopes {
		n = append(n, s.plural+":")
	}
	return "host:, org:, findings: and " + strings.Join(n, ", ")
}

// decodeMsg decodes a YAML node into a message through protojson, so test
// cases use the same field names as the JSON output, and a misspelt field is
// an error.
func decodeMsg(f *parsedFile, r *Rule, test string, n *yaml.Node, m proto.Message) error {
	var v any
	if err := n.Decode(&v); err != nil {
		return f.errAt(n, r.ID, "test %s: %v", test, err)
	}
	b, err := json.Marshal(v)
	if err != nil {
		return f.errAt(n, r.ID, "test %s: %v", test, err)
	}
	if err := protojson.Unmarshal(b, m); err != nil {
		return f.errAt(n, r.ID, "test %s: %s: %v", test, typeName(m), err)
	}
	return nil
}

// TestFailure is a rule test that did not pass.
type TestFailure struct {
	Rule, Test, File string
	Line             int
	Reason           string
}

func (t TestFailure) Error() string {
	return fmt.Sprintf("%s:%d: rule %s: test %s: %s", t.File, t.Line, t.Rule, t.Test, t.Reason)
}

// RunTests runs every rule's test cases, each against its rule alone and
// without exceptions, and returns the failures.
func (s *Set) RunTests() (passed int, failed []TestFailure) {
	for _, r := range s.Rules {
		for _, t := range r.Tests {
			if reason := s.runTest(r, t); reason != "" {
				failed = append(failed, TestFailure{Rule: r.ID, Test: t.Name, File: r.File, Line: t.Line, Reason: reason})
			} else {
				passed++
			}
		}
	}
	return passed, failed
}

func (s *Set) runTest(r *Rule, t Test) string {
	res := &Result{}
	var act *activation
	if r.Scope == "host" {
		hv := map[string]any{}
		for _, sc := range scopes {
			hv[sc.plural] = types.NewDynamicList(s.envs.adapter, t.lists[sc.name])
		}
		hv["findings"] = types.NewDynamicList(s.envs.adapter, t.findings)
		act = &activation{lists: s.Lists, host: s.envs.adapter.NativeToValue(newCached(t.host)), org: s.envs.adapter.NativeToValue(t.org), hostVars: hv}
	} else {
		name := r.Scope
		if name == FleetScope {
			name = FleetVar
		}
		act = &activation{lists: s.Lists, host: s.envs.adapter.NativeToValue(newCached(t.host)), org: s.envs.adapter.NativeToValue(t.org), name: name, val: s.envs.adapter.NativeToValue(newCached(t.obs))}
	}
	got, err := evalBool(r.when, act)
	if err != nil {
		return "when: " + err.Error()
	}
	if got != t.Expect {
		return fmt.Sprintf("when is %v, want %v", got, t.Expect)
	}
	if got && t.Label != nil {
		f := r.finding(act, nil, res)
		if len(res.Errors) > 0 {
			return res.Errors[0]
		}
		if f.Label != *t.Label {
			return fmt.Sprintf("label is %q, want %q", f.Label, *t.Label)
		}
	}
	if got {
		r.finding(act, nil, res)
		if len(res.Errors) > 0 {
			return res.Errors[0]
		}
	}
	return ""
}
