package rules

import (
	"strings"
	"time"

	"cel.dev/cel-go/cel"
	"go.yaml.in/yaml/v3"
)

var exceptionKeys = map[string]bool{"id": true, "rules": true, "reason": true, "when": true, "expires": true}

// loadExceptions loads the exceptions of one file, after every file's rules:
// an exception names rules of one observation scope, or fleet rules, its
// when is compiled against that scope, and it is attached to each rule it
// names.
func (s *Set) loadExceptions(f *parsedFile) error {
	if f.exceptions == nil {
		return nil
	}
	if f.exceptions.Kind != yaml.SequenceNode {
		return f.errAtX(f.exceptions, "", "exceptions: want a list")
	}
	seen := map[string]*Exception{}
	for _, e := range s.Exceptions {
		seen[e.ID] = e
	}
	for _, n := range f.exceptions.Content {
		if n.Kind != yaml.MappingNode {
			return f.errAtX(n, "", "want an exception (a mapping)")
		}
		x := &Exception{File: f.src.Name, Line: n.Line}
		nodes := map[string]*yaml.Node{}
		err := eachKey(f, n, "", exceptionKeys, func(k string, v *yaml.Node) error {
			nodes[k] = v
			var err error
			switch k {
			case "id":
				x.ID, err = scalar(f, v, "", k)
			case "rules":
				x.Rules, err = strings_(f, v, "", k)
			case "reason":
				x.Reason, err = scalar(f, v, "", k)
			case "when":
				x.When, err = scalar(f, v, "", k)
			case "expires":
				var d string
				if d, err = scalar(f, v, "", k); err == nil {
					t, perr := time.Parse("2006-01-02", d)
					if perr != nil {
						return f.errAtX(v, x.ID, "expires %q: want a date, YYYY-MM-DD", d)
					}
					x.Expires = t.Add(24 * time.Hour) // through the end of that day
				}
			}
			return err
		})
		if err != nil {
			return err
		}
		if x.ID == "" || !idPattern.MatchString(x.ID) {
			return f.errAtX(n, x.ID, "exception needs an id of lowercase letters, digits, - and _")
		}
		if old := seen[x.ID]; old != nil {
			return f.errAtX(n, x.ID, "exception %s is already defined at %s:%d", x.ID, old.File, old.Line)
		}
		for _, k := range []string{"rules", "reason", "when"} {
			if nodes[k] == nil {
				return f.errAtX(n, x.ID, "missing %s", k)
			}
		}
		if strings.TrimSpace(x.Reason) == "" {
			return f.errAtX(nodes["reason"], x.ID, "reason is empty; say why it is sanctioned")
		}
		if len(x.Rules) == 0 {
			return f.errAtX(nodes["rules"], x.ID, "rules is empty")
		}
		var rs []*Rule
		for _, id := range x.Rules {
			r := s.byID[id]
			if r == nil {
				return f.errAtX(nodes["rules"], x.ID, "no rule %q", id)
			}
			if x.scope == "" {
				x.scope = r.Scope
			} else if r.Scope != x.scope {
				return f.errAtX(nodes["rules"], x.ID, "rules %s (%s) and %s (%s) have different scopes", x.Rules[0], x.scope, id, r.Scope)
			}
			rs = append(rs, r)
		}
		if x.scope == "host" {
			return f.errAtX(nodes["rules"], x.ID, "host rules take no exceptions; write the exception for the observation rules they build on")
		}
		prg, ee := compile(s.envs.byScope[x.scope], x.When, cel.BoolType)
		if le := s.unknownList(x.When); le != nil {
			ee = le
		}
		if ee != nil {
			line, col := exprPos(f, nodes["when"], ee)
			return &LoadError{File: f.src.Name, Line: line, Col: col, RuleID: x.ID, What: "exception", Reason: "when: " + ee.msg}
		}
		x.when = prg
		for _, r := range rs {
			r.exceptions = append(r.exceptions, x)
		}
		s.Exceptions = append(s.Exceptions, x)
		seen[x.ID] = x
	}
	return nil
}

// errAtX is errAt for a fault of an exception.
func (f *parsedFile) errAtX(n *yaml.Node, id, format string, args ...any) error {
	e := f.errAt(n, id, format, args...).(*LoadError)
	e.What = "exception"
	return e
}
