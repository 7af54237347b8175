package rules

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	fwv1 "github.com/farmwatch/farmwatch/proto/farmwatch/v1"
)

// refMatch is the reference for glob matching as README.md documents it:
// '*' matches any run of bytes (separators included), '?' one byte, the
// whole string must match. It fills the table of "pattern suffix i matches
// string suffix j" from the end, so it is obviously right and never slow.
func refMatch(p, s string) bool {
	// m[i][j]: p[i:] matches s[j:].
	m := make([][]bool, len(p)+1)
	for i := range m {
		m[i] = make([]bool, len(s)+1)
	}
	m[len(p)][len(s)] = true
	for i := len(p) - 1; i >= 0; i-- {
		for j := len(s); j >= 0; j-- {
			switch {
			case p[i] == '*':
				m[i][j] = m[i+1][j] || (j < len(s) && m[i][j+1])
			case j < len(s) && (p[i] == '?' || p[i] == s[j]):
				m[i][j] = m[i+1][j+1]
			}
		}
	}
	return m[0][0]
}

// refLookup is the reference for a list lookup: every value is tried in
// turn. It returns the labels that are an acceptable answer (every best
// match: the longest for exact and prefix, the most literal characters for
// glob) and whether anything matched.
func refLookup(m Match, values [][2]string, s string) (map[string]bool, bool) {
	best, labels := -1, map[string]bool{}
	if s == "" {
		return labels, false // documented: an empty string matches nothing
	}
	s = lower(s)
	for _, vl := range values {
		v := lower(vl[0])
		var ok bool
		score := len(v)
		switch m {
		case MatchExact:
			ok = v == s
		case MatchPrefix:
			ok = strings.HasPrefix(s, v)
		case MatchGlob:
			ok = refMatch(v, s)
			score = len(v) - strings.Count(v, "*") - strings.Count(v, "?")
		}
		if !ok {
			continue
		}
		if score > best {
			best, labels = score, map[string]bool{}
		}
		if score == best {
			labels[vl[1]] = true
		}
	}
	return labels, best >= 0
}

// FuzzWildMatch checks the matchers against the references on every input:
// wildMatch against refMatch, and a list built from the patterns (a hash map,
// prefix lengths, the glob trie and suffix index) against trying every value.
// pats holds the list's values, one a line.
func FuzzWildMatch(f *testing.F) {
	f.Add("a*b?c", "axxbyc")
	f.Add("***", "")
	f.Add(`c:\p*\*`, `c:\program files\x`)
	f.Add("c:\\program files*\\anydesk\\*\n*\\anydesk.exe\nsunlogin*.exe\n*desk*", `C:\Program Files (x86)\AnyDesk\AnyDesk.exe`)
	f.Add("/users/*/library/*\n/users/*/library/anydesk/*\n/usr/\n/usr/bin/x", "/Users/x/Library/AnyDesk/a")
	f.Add("ab\nabc\na?c\n*c\nA*", "ABC")
	f.Add("*", "*0") // a '*' in the pattern is a wildcard even where s has one
	f.Fuzz(func(t *testing.T, pats, s string) {
		if len(pats) > 512 || len(s) > 256 {
			return
		}
		var values [][2]string
		for i, p := range strings.Split(pats, "\n") {
			if len(p) > 64 {
				return
			}
			if got, want := wildMatch(p, s), refMatch(p, s); got != want {
				t.Fatalf("wildMatch(%q, %q) = %v, want %v", p, s, got, want)
			}
			if p != "" {
				values = append(values, [2]string{p, fmt.Sprint("L", i)})
			}
		}
		if len(values) == 0 {
			return
		}
		for _, m := range []Match{MatchExact, MatchPrefix, MatchGlob} {
			l, err := newList("f", m, values)
			if err != nil {
				// Only exact and prefix lists refuse a value that differs
				// in case alone and has two labels.
				if m == MatchGlob || !strings.Contains(err.Error(), "has two labels") {
					t.Fatalf("newList(%s, %q): %v", m, pats, err)
				}
				continue
			}
			want, found := refLookup(m, values, s)
			got, ok := l.lookup(s)
			if ok != found || (ok && !want[got]) {
				t.Fatalf("%s list %q: lookup(%q) = %q, %v; want one of %v, %v", m, pats, s, got, ok, want, found)
			}
			if l.Contains(s) != found {
				t.Fatalf("%s list %q: Contains(%q) = %v, want %v", m, pats, s, !found, found)
			}
		}
	})
}

// FuzzLoad feeds arbitrary rule files (an organisation's are outside data)
// to the loader. A refused file is refused with a *LoadError that names the
// file and a line in it. A loaded set holds rules with an id, a title, a
// known scope and sources; every rule test runs and is counted once; and the
// set evaluates, every finding naming a loaded rule.
func FuzzLoad(f *testing.F) {
	f.Add(sample)
	f.Add("rules:\n  - id: r\n    title: t\n    severity: low\n    scope: host\n    description: d\n    sources: [s]\n    when: processes.exists(p, p.name == 'x')\n")
	f.Add("exceptions:\n  - {id: e, rules: [tool], reason: r, when: \"true\"}\n")
	f.Add("lists:\n  l:\n    match: glob\n    values: ['*a*', 'b?']\n")
	f.Add("rules: [\n")
	f.Add("rules:\n  - id: r\n    title: ''\n    severity: low\n    scope: process\n    description: d\n    sources: ['']\n    when: 'true'\n")
	f.Add("rules:\n  - id: r\n    title: t\n    severity: low\n    scope: process\n    description: d\n    sources: [s]\n    when: 'true'\n    tests:\n      - {process: {name: a}, expect: true}\n")
	f.Add("\"")    // a YAML error whose message names no line
	f.Add("\"0\r") // CR ends a line for YAML
	f.Fuzz(func(t *testing.T, file string) {
		s, err := Load([]Source{{Name: "f.yaml", Data: []byte(file)}}, Options{})
		if err != nil {
			var le *LoadError
			if !errors.As(err, &le) || le.File != "f.yaml" || le.Line < 1 || le.Line > yamlLines(file) {
				t.Fatalf("error does not name the file and a line in it: %#v", err)
			}
			return
		}
		tests := 0
		for _, r := range s.Rules {
			_, known := scopeByName(r.Scope)
			if !idPattern.MatchString(r.ID) || strings.TrimSpace(r.Title) == "" || (!known && r.Scope != "host") || len(r.Sources) == 0 {
				t.Fatalf("loaded rule %+v", r)
			}
			for _, src := range r.Sources {
				if strings.TrimSpace(src) == "" {
					t.Fatalf("rule %s has a blank source", r.ID)
				}
			}
			if s.Rule(r.ID) != r {
				t.Fatalf("rule %s is not found by its id", r.ID)
			}
			tests += len(r.Tests)
		}
		passed, failed := s.RunTests()
		if passed+len(failed) != tests {
			t.Fatalf("RunTests: %d passed + %d failed, want %d tests", passed, len(failed), tests)
		}
		for _, fl := range failed {
			if fl.File != "f.yaml" || fl.Line < 1 || s.Rule(fl.Rule) == nil {
				t.Fatalf("test failure %+v does not name its file, line and rule", fl)
			}
		}
		res := s.Evaluate(&fwv1.HostInfo{Os: "linux"}, []*fwv1.Observation{proc(1, "anydesk", "/usr/bin/anydesk")})
		for _, fd := range res.Findings {
			if s.Rule(fd.Rule) == nil {
				t.Fatalf("finding of an unknown rule %q", fd.Rule)
			}
		}
	})
}

// yamlLines counts the lines of a file as YAML does: CR LF, CR, LF, NEL, LS
// and PS each end one.
func yamlLines(s string) int {
	s = strings.ReplaceAll(s, "\r\n", "\n")
	n := 1
	for _, r := range s {
		switch r {
		case '\n', '\r', '\u0085', '\u2028', '\u2029':
			n++
		}
	}
	return n
}
