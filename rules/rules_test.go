package rules

import (
	"strings"
	"testing"
	"time"

	fwv1 "github.com/farmwatch/farmwatch/proto/farmwatch/v1"
)

func load(t *testing.T, files ...string) (*Set, error) {
	t.Helper()
	var srcs []Source
	for i, f := range files {
		srcs = append(srcs, Source{Name: "f" + string(rune('0'+i)) + ".yaml", Data: []byte(f)})
	}
	return Load(srcs, Options{Now: func() time.Time { return time.Date(2026, 11, 28, 0, 0, 0, 0, time.UTC) }})
}

const sample = `
lists:
  tools:
    match: exact
    values: {anydesk: AnyDesk, anydesk.exe: AnyDesk, teamviewer.exe: TeamViewer}
  paths:
    match: glob
    values: {'c:\program files*\teamviewer\*': TeamViewer, '/usr/bin/anydesk': AnyDesk}
rules:
  - id: tool
    title: Remote-access tool running
    severity: medium
    scope: process
    description: d
    sources: [s]
    tags: [T1219]
    when: lists.tools.contains(process.name)
    label: lists.tools.lookup(process.name)
    message: '"%s as %s".format([process.name, process.username])'
    tests:
      - {name: hit, process: {name: AnyDesk.exe}, expect: true, label: AnyDesk}
      - {name: miss, process: {name: notepad.exe}, expect: false}
  - id: two
    title: Two vendors
    severity: high
    scope: host
    description: d
    sources: [s]
    when: findings.filter(f, f.rule == "tool").map(f, f.label).distinct().size() >= 2
    label: findings.filter(f, f.rule == "tool").map(f, f.label).distinct().join(" and ")
    evidence: findings.filter(f, f.rule == "tool").map(f, f.evidence).flatten()
    tests:
      - name: two
        findings: [{rule: tool, label: A, evidence: [k1]}, {rule: tool, label: B, evidence: [k2]}]
        expect: true
        label: A and B
      - name: one
        findings: [{rule: tool, label: A}, {rule: tool, label: A}]
        expect: false
`

func proc(pid int32, name, exe string) *fwv1.Observation {
	return &fwv1.Observation{Key: "process/" + name, Kind: &fwv1.Observation_Process{Process: &fwv1.Process{Pid: pid, Name: name, Exe: exe, Username: "alice"}}}
}

func TestEvaluate(t *testing.T) {
	s, err := load(t, sample)
	if err != nil {
		t.Fatal(err)
	}
	if p, f := s.RunTests(); len(f) > 0 || p != 4 {
		t.Fatalf("rule tests: %d passed, failures %v", p, f)
	}
	obs := []*fwv1.Observation{proc(1, "AnyDesk.exe", ""), proc(2, "TeamViewer.exe", ""), proc(3, "bash", "")}
	res := s.Evaluate(&fwv1.HostInfo{Os: "windows"}, obs)
	if len(res.Errors) > 0 {
		t.Fatal(res.Errors)
	}
	var got []string
	for _, f := range res.Findings {
		got = append(got, f.Rule+":"+f.Label+":"+strings.Join(f.Evidence, ",")+":"+f.Message)
	}
	want := []string{"two:AnyDesk and TeamViewer:process/AnyDesk.exe,process/TeamViewer.exe:", "tool:AnyDesk:process/AnyDesk.exe:AnyDesk.exe as alice", "tool:TeamViewer:process/TeamViewer.exe:TeamViewer.exe as alice"}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("findings:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if res.Checks != 4 {
		t.Errorf("checks = %d, want 4", res.Checks)
	}
}

func TestException(t *testing.T) {
	exc := `
exceptions:
  - id: it-teamviewer
    rules: [tool]
    reason: IT uses TeamViewer
    when: lists.paths.lookup(process.exe) == "TeamViewer"
`
	s, err := load(t, sample, exc)
	if err != nil {
		t.Fatal(err)
	}
	obs := []*fwv1.Observation{proc(1, "AnyDesk.exe", ""), proc(2, "TeamViewer.exe", `C:\Program Files\TeamViewer\TeamViewer.exe`)}
	res := s.Evaluate(&fwv1.HostInfo{Os: "windows"}, obs)
	var got []string
	for _, f := range res.Findings {
		got = append(got, f.Rule+":"+f.Label+":"+f.SuppressedBy)
	}
	want := "tool:AnyDesk:\ntool:TeamViewer:it-teamviewer"
	if strings.Join(got, "\n") != want {
		t.Fatalf("findings:\n%s\nwant:\n%s", strings.Join(got, "\n"), want)
	}
	// Renamed path: the exception no longer applies.
	obs[1] = proc(2, "TeamViewer.exe", `C:\Users\bob\Downloads\TeamViewer.exe`)
	res = s.Evaluate(&fwv1.HostInfo{Os: "windows"}, obs)
	if len(res.Findings) != 3 || res.Findings[0].Rule != "two" {
		t.Fatalf("unsanctioned path: %v", res.Findings)
	}
}

func TestExceptionExpires(t *testing.T) {
	exc := `
exceptions:
  - id: old
    rules: [tool]
    reason: trial ended
    expires: 2026-11-27
    when: "true"
`
	s, err := load(t, sample, exc)
	if err != nil {
		t.Fatal(err)
	}
	res := s.Evaluate(nil, []*fwv1.Observation{proc(1, "AnyDesk.exe", "")})
	if len(res.Findings) != 1 || res.Findings[0].SuppressedBy != "" {
		t.Fatalf("expired exception still applied: %v", res.Findings)
	}
}

func TestLoadErrors(t *testing.T) {
	rule := func(body string) string {
		return "rules:\n  - id: r1\n    title: t\n    severity: low\n    scope: process\n    description: d\n    sources: [s]\n" + body
	}
	cases := []struct {
		name, file, want string
	}{
		{"misspelt field", rule("    when: process.nmae == \"x\"\n"), `f0.yaml:8:18: rule r1: when: undefined field 'nmae'`},
		{"block scalar position", rule("    when: |\n      process.name == \"x\" &&\n        process.bogus\n"), `f0.yaml:10:16: rule r1: when: undefined field 'bogus'`},
		{"not bool", rule("    when: process.name\n"), `f0.yaml:8:11: rule r1: when: expression is string, want bool`},
		{"unknown list", rule("    when: lists.nope.contains(process.name)\n"), `f0.yaml:8:11: rule r1: when: no list "nope"`},
		{"bad severity", "rules:\n  - id: r1\n    severity: urgent\n", `f0.yaml:3:15: rule r1: severity "urgent": want info, low, medium, high or critical`},
		{"unknown key", rule("    when: \"true\"\n    severty: low\n"), `f0.yaml:9:5: rule r1: unknown key "severty"`},
		{"missing when", rule(""), `f0.yaml:2:5: rule r1: missing when`},
		{"bad scope", "rules:\n  - id: r1\n    title: t\n    severity: low\n    scope: laptop\n    description: d\n    sources: [s]\n    when: \"true\"\n", `f0.yaml:5:12: rule r1: scope "laptop"`},
		{"bad yaml", "rules: [\n", `f0.yaml:1: bad YAML`},
		{"bad yaml, no line in the message", "\"", `f0.yaml:1: bad YAML: found unexpected end of stream`},
		{"control character", "rules: []\n# \x01\n", `f0.yaml:2: bad YAML: control characters are not allowed`},
		{"no id", "rules:\n  - title: x\n", `f0.yaml:2:5: rule has no id`},
		{"empty", "# nothing\n", `f0.yaml:1: file is empty`},
		{"bad test field", rule("    when: \"true\"\n    tests:\n      - {process: {nam: x}, expect: true}\n"), `f0.yaml:10:19: rule r1: test #1: farmwatch.v1.Process: proto:`},
		{"test without expect", rule("    when: \"true\"\n    tests:\n      - {process: {name: x}}\n"), `f0.yaml:10:9: rule r1: test #1: missing expect`},
		{"tests without a negative", rule("    when: \"true\"\n    tests:\n      - {process: {name: x}, expect: true}\n      - {process: {name: y}, expect: true}\n"),
			`f0.yaml:10:7: rule r1: tests: want at least one case with expect: true and one with expect: false (2 of 2 expect true)`},
		{"tests without a positive", rule("    when: \"true\"\n    tests:\n      - {process: {name: x}, expect: false}\n"),
			`f0.yaml:10:7: rule r1: tests: want at least one case with expect: true and one with expect: false (0 of 1 expect true)`},
		{"empty title", "rules:\n  - id: r1\n    title: ' '\n    severity: low\n    scope: process\n    description: d\n    sources: [s]\n    when: \"true\"\n", `f0.yaml:3:12: rule r1: title is empty`},
		{"blank source", "rules:\n  - id: r1\n    title: t\n    severity: low\n    scope: process\n    description: d\n    sources: [s, '']\n    when: \"true\"\n", `f0.yaml:7:14: rule r1: sources: name at least one reference, and no blank one`},
		{"exception unknown rule", "exceptions:\n  - {id: e, rules: [nope], reason: r, when: \"true\"}\n", `f0.yaml:2:20: exception e: no rule "nope"`},
		{"dup rule", rule("    when: \"true\"\n") + "  - id: r1\n", `f0.yaml:9:5: rule r1: rule r1 is already defined at f0.yaml:2`},
		{"list label clash", "lists:\n  l:\n    values: {a: X, A: Y}\n", `has two labels`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := load(t, c.file)
			if err == nil {
				t.Fatalf("loaded; want error %q", c.want)
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error\n %s\nwant it to contain\n %s", err, c.want)
			}
		})
	}
}

// TestBuiltinRulesNeedTests: a rule of an embedded file without tests is
// refused, naming the file, the line and the rule; an organisation's rule
// may come without tests.
func TestBuiltinRulesNeedTests(t *testing.T) {
	const file = "rules:\n  - id: r1\n    title: t\n    severity: low\n    scope: process\n    description: d\n    sources: [s]\n    when: process.name == 'x'\n"
	_, err := Load([]Source{{Name: "builtin:x.yaml", Data: []byte(file), builtin: true}}, Options{})
	if want := "builtin:x.yaml:2:5: rule r1: missing tests"; err == nil || !strings.HasPrefix(err.Error(), want) {
		t.Errorf("built-in rule without tests: %v, want %q", err, want)
	}
	if _, err := Load([]Source{{Name: "org.yaml", Data: []byte(file)}}, Options{}); err != nil {
		t.Errorf("organisation rule without tests: %v", err)
	}
}

func TestListMatch(t *testing.T) {
	mk := func(m Match, vals ...string) *List {
		var vs [][2]string
		for _, v := range vals {
			vs = append(vs, [2]string{v, v})
		}
		l, err := newList("t", m, vs)
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	cases := []struct {
		l    *List
		in   string
		want string
	}{
		{mk(MatchExact, "AnyDesk.exe"), "anydesk.EXE", "AnyDesk.exe"},
		{mk(MatchExact, "AnyDesk.exe"), "anydesk.exe ", ""},
		{mk(MatchExact, "AnyDesk.exe"), "", ""},
		{mk(MatchPrefix, "/opt/", "/opt/google/"), "/opt/google/crd", "/opt/google/"},
		{mk(MatchPrefix, "/opt/"), "/op", ""},
		{mk(MatchGlob, `c:\program files*\anydesk\*`), `C:\Program Files (x86)\AnyDesk\AnyDesk.exe`, `c:\program files*\anydesk\*`},
		{mk(MatchGlob, `c:\program files*\anydesk\*`), `C:\Users\bob\AnyDesk\AnyDesk.exe`, ""},
		{mk(MatchGlob, "sunlogin*.exe"), "SunloginClient.exe", "sunlogin*.exe"},
		{mk(MatchGlob, "*.anydesk"), "x.anydesk", "*.anydesk"},
		{mk(MatchGlob, "*desk*"), "anydesk.exe", "*desk*"},
		{mk(MatchGlob, "a?c"), "abc", "a?c"},
		{mk(MatchGlob, "a?c"), "ac", ""},
		{mk(MatchGlob, "x*"), "x*y", "x*"}, // the '*' of the pattern is a wildcard where the string has one
		{mk(MatchGlob, "/users/*/library/*", "/users/*/library/anydesk/*"), "/Users/x/Library/AnyDesk/a", "/users/*/library/anydesk/*"},
	}
	for _, c := range cases {
		if got := c.l.Lookup(c.in); got != c.want {
			t.Errorf("%s %v lookup(%q) = %q, want %q", c.l.Match, c.l.exact, c.in, got, c.want)
		}
	}
}

// TestBuiltin loads the embedded rule files and runs every rule's tests.
func TestBuiltin(t *testing.T) {
	s, err := Load(Builtin(), Options{Tests: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Rules) == 0 {
		t.Fatal("no built-in rules")
	}
	passed, failed := s.RunTests()
	for _, f := range failed {
		t.Error(f.Error())
	}
	for _, r := range s.Rules {
		pos, neg := 0, 0
		for _, c := range r.Tests {
			if c.Expect {
				pos++
			} else {
				neg++
			}
		}
		if pos == 0 || neg == 0 {
			t.Errorf("rule %s has %d positive and %d negative tests; every built-in rule needs both", r.ID, pos, neg)
		}
	}
	t.Logf("%d rule tests passed", passed)
}
