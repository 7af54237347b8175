package rules

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"cel.dev/cel-go/cel"
	"github.com/farmwatch/farmwatch/report"
	"go.yaml.in/yaml/v3"
)

// LoadError is a refused rule file: where, which rule, and why.
type LoadError struct {
	File   string
	Line   int
	Col    int
	RuleID string // rule, list or exception id; "" when the fault is outside one
	What   string // "rule" (when empty), "list" or "exception"
	Reason string
}

func (e *LoadError) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		fmt.Fprintf(&b, ":%d", e.Line)
		if e.Col > 0 {
			fmt.Fprintf(&b, ":%d", e.Col)
		}
	}
	if e.RuleID != "" {
		fmt.Fprintf(&b, ": %s %s", cmp.Or(e.What, "rule"), e.RuleID)
	}
	b.WriteString(": ")
	b.WriteString(e.Reason)
	return b.String()
}

// Options change how a Set is loaded.
type Options struct {
	// Now is the clock that exception expiry is checked against;
	// time.Now when nil.
	Now func() time.Time
	// Tests loads every rule's tests (rules test, --explain). Without it
	// a built-in file may come from its parsed image (yamlimg.go), which
	// leaves them out; other files' tests are always read and checked.
	Tests bool
}

var idPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]*$`)

type parsedFile struct {
	src        Source
	fromImage  bool // the built-in image's tree: no tests
	lineCache  []string
	lists      *yaml.Node
	rules      *yaml.Node
	exceptions *yaml.Node
}

// Load parses and compiles rule files. Lists of every file are loaded
// first, so a rule may use a list of another file; then rules, then
// exceptions. Any fault refuses the whole set with a *LoadError.
func Load(srcs []Source, opts Options) (*Set, error) {
	s := &Set{Lists: map[string]*List{}, byID: map[string]*Rule{}, byScope: map[string][]*Rule{}, now: opts.Now}
	if s.now == nil {
		s.now = time.Now
	}
	var img map[string]yamlImage
	if !opts.Tests && slices.ContainsFunc(srcs, func(s Source) bool { return s.builtin }) {
		img = readYAMLImage(builtinYAML)
	}
	var files []*parsedFile
	for _, src := range srcs {
		f, err := parseFile(src, img)
		if err != nil {
			return nil, err
		}
		files = append(files, f)
	}
	for _, f := range files {
		if err := s.loadLists(f); err != nil {
			return nil, err
		}
	}
	envs, err := newEnvs(s.Lists)
	if err != nil {
		return nil, err
	}
	s.envs = envs
	envs.cache = readASTCache(builtinAST)
	defer func() { envs.cache = nil }() // the index is for loading only
	for _, f := range files {
		if err := s.loadRules(f); err != nil {
			return nil, err
		}
	}
	for _, f := range files {
		if err := s.loadExceptions(f); err != nil {
			return nil, err
		}
	}
	s.hostReads = hostReadsOf(s.host)
	return s, nil
}

// lines are the file's lines, for placing an error inside an expression.
func (f *parsedFile) lines() []string {
	if f.lineCache == nil {
		f.lineCache = strings.Split(string(f.src.Data), "\n")
	}
	return f.lineCache
}

// parseFile parses a rule file, or takes a built-in one's tree from img.
func parseFile(src Source, img map[string]yamlImage) (*parsedFile, error) {
	f := &parsedFile{src: src}
	var root *yaml.Node
	if src.builtin && img != nil {
		root = imageNodes(img, src)
		f.fromImage = root != nil
	}
	if root == nil {
		var doc yaml.Node
		dec := yaml.NewDecoder(bytes.NewReader(src.Data))
		if err := dec.Decode(&doc); err == io.EOF {
			return nil, &LoadError{File: src.Name, Line: 1, Reason: "file is empty: want lists:, rules: or exceptions:"}
		} else if err != nil {
			msg := strings.TrimPrefix(err.Error(), "yaml: ")
			return nil, &LoadError{File: src.Name, Line: yamlErrLine(src.Data, err), Reason: "bad YAML: " + msg}
		}
		if len(doc.Content) == 0 {
			return nil, &LoadError{File: src.Name, Line: 1, Reason: "want a mapping with lists:, rules: or exceptions:"}
		}
		root = doc.Content[0]
	}
	if root.Kind != yaml.MappingNode {
		return nil, &LoadError{File: src.Name, Line: 1, Reason: "want a mapping with lists:, rules: or exceptions:"}
	}
	err := eachKey(f, root, "", map[string]bool{"lists": true, "rules": true, "exceptions": true}, func(k string, v *yaml.Node) error {
		switch k {
		case "lists":
			f.lists = v
		case "rules":
			f.rules = v
		case "exceptions":
			f.exceptions = v
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if f.lists == nil && f.rules == nil && f.exceptions == nil {
		return nil, &LoadError{File: src.Name, Line: 1, Reason: "no lists:, rules: or exceptions:"}
	}
	return f, nil
}

// yamlErrLine is the line of a YAML error: the one its message names; for
// a refused byte (a control character, invalid UTF-8), which the message does
// not place, the line of the first such byte; else line 1: the YAML parser
// names no line when the construct it failed in starts on the first.
func yamlErrLine(data []byte, err error) int {
	msg := err.Error()
	var te *yaml.TypeError
	if errors.As(err, &te) && len(te.Errors) > 0 {
		msg = te.Errors[0]
	}
	line := 0
	if _, serr := fmt.Sscanf(strings.TrimPrefix(msg, "yaml: "), "line %d:", &line); serr == nil && line > 0 {
		return line
	}
	if strings.Contains(msg, "UTF-8") || strings.Contains(msg, "control characters") || strings.Contains(msg, "Unicode character") {
		for i := 0; i < len(data); {
			r, n := utf8.DecodeRune(data[i:])
			if (r == utf8.RuneError && n == 1) || !yamlPrintable(r) {
				return 1 + bytes.Count(data[:i], []byte("\n"))
			}
			i += n
		}
	}
	return 1
}

// yamlPrintable reports whether YAML accepts r in a stream (YAML 1.2
// c-printable, plus the byte order mark).
func yamlPrintable(r rune) bool {
	switch {
	case r == '\t' || r == '\n' || r == '\r' || r == 0x85 || r == 0xFEFF:
		return true
	case r < 0x20 || r == 0x7F || (r >= 0x80 && r < 0xA0):
		return false
	case r >= 0xD800 && r <= 0xDFFF, r == 0xFFFE, r == 0xFFFF:
		return false
	}
	return true
}

func (f *parsedFile) errAt(n *yaml.Node, id, format string, args ...any) error {
	line, col := 0, 0
	if n != nil {
		line, col = n.Line, n.Column
	}
	return &LoadError{File: f.src.Name, Line: line, Col: col, RuleID: id, Reason: fmt.Sprintf(format, args...)}
}

// eachKey walks a mapping node, refusing keys outside allowed (a misspelt
// key is an error, not an ignored field) and duplicate keys.
func eachKey(f *parsedFile, n *yaml.Node, id string, allowed map[string]bool, fn func(k string, v *yaml.Node) error) error {
	if n.Kind != yaml.MappingNode {
		return f.errAt(n, id, "want a mapping")
	}
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if allowed != nil && !allowed[k.Value] {
			return f.errAt(k, id, "unknown key %q", k.Value)
		}
		if seen[k.Value] {
			return f.errAt(k, id, "duplicate key %q", k.Value)
		}
		seen[k.Value] = true
		if err := fn(k.Value, v); err != nil {
			return err
		}
	}
	return nil
}

func scalar(f *parsedFile, n *yaml.Node, id, key string) (string, error) {
	if n.Kind != yaml.ScalarNode {
		return "", f.errAt(n, id, "%s: want a string", key)
	}
	return n.Value, nil
}

func strings_(f *parsedFile, n *yaml.Node, id, key string) ([]string, error) {
	if n.Kind == yaml.ScalarNode {
		return []string{n.Value}, nil
	}
	if n.Kind != yaml.SequenceNode {
		return nil, f.errAt(n, id, "%s: want a list of strings", key)
	}
	var out []string
	for _, c := range n.Content {
		if c.Kind != yaml.ScalarNode {
			return nil, f.errAt(c, id, "%s: want a list of strings", key)
		}
		out = append(out, c.Value)
	}
	return out, nil
}

func (s *Set) loadLists(f *parsedFile) error {
	if f.lists == nil {
		return nil
	}
	return eachKey(f, f.lists, "", nil, func(name string, v *yaml.Node) error {
		if !idPattern.MatchString(name) || strings.Contains(name, "-") {
			return f.errAt(v, name, "list name %q: want lowercase letters, digits and _", name)
		}
		if old, dup := s.Lists[name]; dup {
			return f.errAt(v, name, "list %s is already defined at %s:%d", name, old.File, old.Line)
		}
		var (
			desc    string
			match   = MatchExact
			sources []string
			values  [][2]string
			hasVals bool
		)
		err := eachKey(f, v, name, map[string]bool{"description": true, "match": true, "sources": true, "values": true}, func(k string, n *yaml.Node) error {
			var err error
			switch k {
			case "description":
				desc, err = scalar(f, n, name, k)
			case "match":
				var m string
				m, err = scalar(f, n, name, k)
				match = Match(m)
			case "sources":
				sources, err = strings_(f, n, name, k)
			case "values":
				hasVals = true
				switch n.Kind {
				case yaml.SequenceNode:
					for _, c := range n.Content {
						if c.Kind != yaml.ScalarNode {
							return f.errAt(c, name, "values: want strings")
						}
						values = append(values, [2]string{c.Value, c.Value})
					}
				case yaml.MappingNode:
					err = eachKey(f, n, name, nil, func(val string, lab *yaml.Node) error {
						l, err := scalar(f, lab, name, "label of "+val)
						values = append(values, [2]string{val, l})
						return err
					})
				default:
					return f.errAt(n, name, "values: want a list or a mapping of value: label")
				}
			}
			return err
		})
		if err != nil {
			return err
		}
		if !hasVals {
			return f.errAt(v, name, "list has no values")
		}
		l, err := newList(name, match, values)
		if err != nil {
			return f.errAt(v, name, "%v", err)
		}
		l.Description, l.Sources, l.File, l.Line = desc, sources, f.src.Name, v.Line
		s.Lists[name] = l
		return nil
	})
}

var ruleKeys = map[string]bool{
	"id": true, "title": true, "severity": true, "scope": true, "description": true, "tags": true,
	"sources": true, "when": true, "label": true, "message": true, "evidence": true, "tests": true,
	"qualifier": true,
}

func (s *Set) loadRules(f *parsedFile) error {
	if f.rules == nil {
		return nil
	}
	if f.rules.Kind != yaml.SequenceNode {
		return f.errAt(f.rules, "", "rules: want a list of rules")
	}
	for _, n := range f.rules.Content {
		r, err := s.loadRule(f, n)
		if err != nil {
			return err
		}
		s.Rules = append(s.Rules, r)
		s.byID[r.ID] = r
		switch r.Scope {
		case "host":
			s.host = append(s.host, r)
		case FleetScope:
			s.fleet = append(s.fleet, r)
		default:
			s.byScope[r.Scope] = append(s.byScope[r.Scope], r)
		}
	}
	return nil
}

func (s *Set) loadRule(f *parsedFile, n *yaml.Node) (*Rule, error) {
	if n.Kind != yaml.MappingNode {
		return nil, f.errAt(n, "", "want a rule (a mapping)")
	}
	r := &Rule{File: f.src.Name, Line: n.Line}
	// The id first, so that every later error names it.
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == "id" {
			r.ID = n.Content[i+1].Value
		}
	}
	if r.ID == "" {
		return nil, f.errAt(n, "", "rule has no id")
	}
	if !idPattern.MatchString(r.ID) || strings.Contains(r.ID, "_") {
		return nil, f.errAt(n, r.ID, "id %q: want lowercase letters, digits and -", r.ID)
	}
	if old, dup := s.byID[r.ID]; dup {
		return nil, f.errAt(n, r.ID, "rule %s is already defined at %s:%d", r.ID, old.File, old.Line)
	}
	nodes := map[string]*yaml.Node{}
	text := map[string]*string{
		"title": &r.Title, "scope": &r.Scope, "description": &r.Description, "when": &r.When,
		"label": &r.Label, "message": &r.Message, "evidence": &r.Evidence, "qualifier": &r.Qualifier,
	}
	err := eachKey(f, n, r.ID, ruleKeys, func(k string, v *yaml.Node) error {
		nodes[k] = v
		var err error
		switch k {
		case "severity":
			var sv string
			if sv, err = scalar(f, v, r.ID, k); err == nil {
				if r.Severity, err = report.ParseSeverity(sv); err != nil {
					return f.errAt(v, r.ID, "%v", err)
				}
			}
		case "tags":
			r.Tags, err = strings_(f, v, r.ID, k)
		case "sources":
			r.Sources, err = strings_(f, v, r.ID, k)
		default:
			if p := text[k]; p != nil {
				*p, err = scalar(f, v, r.ID, k)
			}
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	for _, k := range []string{"title", "severity", "scope", "description", "when", "sources"} {
		if nodes[k] == nil {
			return nil, f.errAt(n, r.ID, "missing %s", k)
		}
	}
	if strings.TrimSpace(r.Title) == "" {
		return nil, f.errAt(nodes["title"], r.ID, "title is empty")
	}
	if len(r.Sources) == 0 || slices.ContainsFunc(r.Sources, func(s string) bool { return strings.TrimSpace(s) == "" }) {
		return nil, f.errAt(nodes["sources"], r.ID, "sources: name at least one reference, and no blank one")
	}
	if _, ok := scopeByName(r.Scope); !ok && r.Scope != "host" && r.Scope != FleetScope {
		return nil, f.errAt(nodes["scope"], r.ID, "scope %q: want host, fleet or one of %s", r.Scope, scopeNames())
	}
	if r.Scope == FleetScope && !strings.HasPrefix(r.ID, FleetPrefix) {
		return nil, f.errAt(n, r.ID, "a fleet rule's id starts with %q", FleetPrefix)
	}
	if r.Evidence != "" && r.Scope != "host" {
		return nil, f.errAt(nodes["evidence"], r.ID, "evidence: only host rules name their evidence; an observation rule's evidence is the observation")
	}
	env := s.envs.byScope[r.Scope]
	comp := func(key, src string, want *cel.Type) (cel.Program, error) {
		// A cached expression was checked against the built-in lists,
		// which every set has.
		if _, cached := s.envs.cache[astKey(r.Scope, src, want)]; !cached {
			if ee := s.unknownList(src); ee != nil {
				line, col := exprPos(f, nodes[key], ee)
				return nil, &LoadError{File: f.src.Name, Line: line, Col: col, RuleID: r.ID, Reason: key + ": " + ee.msg}
			}
		}
		prg, ee := s.envs.compileCached(env, r.Scope, src, want)
		if ee != nil {
			line, col := exprPos(f, nodes[key], ee)
			return nil, &LoadError{File: f.src.Name, Line: line, Col: col, RuleID: r.ID, Reason: key + ": " + ee.msg}
		}
		return prg, nil
	}
	if r.when, err = comp("when", r.When, cel.BoolType); err != nil {
		return nil, err
	}
	if r.Label != "" {
		if r.label, err = comp("label", r.Label, cel.StringType); err != nil {
			return nil, err
		}
	}
	if r.Message != "" {
		if r.message, err = comp("message", r.Message, cel.StringType); err != nil {
			return nil, err
		}
	}
	if r.Evidence != "" {
		if r.evidence, err = comp("evidence", r.Evidence, cel.ListType(cel.StringType)); err != nil {
			return nil, err
		}
	}
	if t := nodes["tests"]; t != nil {
		if r.Tests, err = parseTests(f, r, t); err != nil {
			return nil, err
		}
	} else if f.src.builtin && !f.fromImage {
		return nil, f.errAt(n, r.ID, "missing tests: a built-in rule needs a case with expect: true and one with expect: false")
	}
	return r, nil
}

func scopeNames() string {
	var n []string
	for _, s := range scopes {
		n = append(n, s.name)
	}
	return strings.Join(n, ", ")
}

// exprPos maps a position inside a CEL expression to the file: a block
// scalar's text starts on the line after its indicator, indented; a plain or
// quoted scalar starts where the node does.
func exprPos(f *parsedFile, n *yaml.Node, e *exprError) (int, int) {
	if n == nil {
		return 0, 0
	}
	switch n.Style {
	case yaml.LiteralStyle, yaml.FoldedStyle:
		line := n.Line + e.line
		indent := 0
		if lines := f.lines(); n.Line < len(lines) { // the first content line sets the block's indent
			l := lines[n.Line]
			indent = len(l) - len(strings.TrimLeft(l, " "))
		}
		return line, indent + e.col
	case yaml.DoubleQuotedStyle, yaml.SingleQuotedStyle:
		return n.Line + e.line - 1, n.Column + e.col
	}
	return n.Line + e.line - 1, n.Column + e.col - 1
}

var listRef = regexp.MustCompile(`\blists\.([A-Za-z0-9_]+)`)

// unknownList names a list reference that no file defines, which CEL would
// only report as an undeclared "lists".
func (s *Set) unknownList(src string) *exprError {
	for li, line := range strings.Split(src, "\n") {
		for _, m := range listRef.FindAllStringSubmatchIndex(line, -1) {
			name := line[m[2]:m[3]]
			if _, ok := s.Lists[name]; !ok {
				return &exprError{line: li + 1, col: m[0] + 1, msg: fmt.Sprintf("no list %q (lists: %s)", name, strings.Join(s.ListNames(), ", "))}
			}
		}
	}
	return nil
}
