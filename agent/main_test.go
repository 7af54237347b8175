package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/farmwatch/farmwatch/agent/wiring"
	fwv1 "github.com/farmwatch/farmwatch/proto/farmwatch/v1"
	"github.com/farmwatch/farmwatch/report"
	"github.com/farmwatch/farmwatch/rules"
	"go.yaml.in/yaml/v3"
)

var update = flag.Bool("update", false, "rewrite the golden files of testdata/hosts")

func runCLI(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(context.Background(), args, &out, &errb)
	return code, out.String(), errb.String()
}

var durations = regexp.MustCompile(`"duration_us": ?"?[0-9]+"?`)

// TestGoldenHosts scans every snapshot in testdata/hosts. It first checks
// the JSON result against NAME.expect.yaml, what the host must show
// (hostExpect; testdata/hosts/README.md describes the format), then
// compares the table and the JSON with the golden files. -update rewrites
// the golden files, never an expect file, and only for a host whose result
// meets its expectations. A directory NAME.rules beside a snapshot is
// passed as --rules (the organisation's rules and exceptions), and a file
// NAME.config.yaml as --config (its expectations).
func TestGoldenHosts(t *testing.T) {
	snaps, err := filepath.Glob("../testdata/hosts/*.txtar")
	if err != nil {
		t.Fatal(err)
	}
	if len(snaps) < 8 {
		t.Errorf("testdata/hosts has %d snapshots, want at least 8", len(snaps))
	}
	expects, err := filepath.Glob("../testdata/hosts/*" + expectSuffix)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range expects {
		if !slices.Contains(snaps, strings.TrimSuffix(e, expectSuffix)+".txtar") {
			t.Errorf("%s has no snapshot", e)
		}
	}
	for _, snap := range snaps {
		name := strings.TrimSuffix(filepath.Base(snap), ".txtar")
		t.Run(name, func(t *testing.T) {
			base := strings.TrimSuffix(snap, ".txtar")
			args := []string{"scan", "--snapshot", snap}
			var ruleDirs []string
			if st, err := os.Stat(base + ".rules"); err == nil && st.IsDir() {
				ruleDirs = append(ruleDirs, base+".rules")
				args = append(args, "--rules", base+".rules")
			}
			if _, err := os.Stat(base + ".config.yaml"); err == nil {
				args = append(args, "--config", base+".config.yaml")
			}
			set, err := wiring.LoadRules(ruleDirs)
			if err != nil {
				t.Fatal(err)
			}
			exp, err := readExpect(base+expectSuffix, set)
			if errors.Is(err, fs.ErrNotExist) {
				t.Fatalf("%v: every snapshot needs one (testdata/hosts/README.md, \"Expectations\")", err)
			} else if err != nil {
				t.Fatal(err)
			}
			code, table, stderr := runCLI(t, args...)
			if code == exitError {
				t.Fatalf("scan failed: %s", stderr)
			}
			jcode, js, stderr := runCLI(t, append(args, "--format", "json")...)
			if jcode != code {
				t.Fatalf("json exit %d, table exit %d: %s", jcode, code, stderr)
			}
			problems, err := exp.check(code, []byte(js))
			if err != nil {
				t.Fatal(err)
			}
			for _, p := range problems {
				t.Errorf("%s: %s", base+expectSuffix, p)
			}
			if t.Failed() && *update {
				t.Fatal("golden files not rewritten: the result does not meet the expectations")
			}
			js = durations.ReplaceAllString(js, `"duration_us": 0`)
			got := "exit " + strconv.Itoa(code) + "\n" + table
			compareGolden(t, base+".golden", got)
			compareGolden(t, base+".json.golden", js)
		})
	}
}

func compareGolden(t *testing.T, file, got string) {
	t.Helper()
	if *update {
		if err := os.WriteFile(file, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(file)
	if err != nil {
		t.Fatalf("%v (run go test ./agent -update to create it)", err)
	}
	if string(want) != got {
		t.Errorf("%s differs (go test ./agent -update rewrites it):\n--- want\n%s\n--- got\n%s", file, want, got)
	}
}

// expectSuffix names the expectations of testdata/hosts/NAME.txtar.
const expectSuffix = ".expect.yaml"

// hostExpect is NAME.expect.yaml: what a scan of the captured host NAME
// must show, written from testdata/hosts/README.md and the host's
// contents, never from a scan's output. testdata/hosts/README.md
// ("Expectations") documents the format.
type hostExpect struct {
	Exit          *int             `yaml:"exit"`
	MaxSeverity   string           `yaml:"max_severity"`
	MustFire      []findingWant    `yaml:"must_fire"`
	MustNotFire   []string         `yaml:"must_not_fire"`
	Suppressed    []suppressedWant `yaml:"suppressed"`
	FailedSensors []string         `yaml:"failed_sensors"`
}

// findingWant selects the findings of a rule, with a label if given, and
// says how many there must be (count, or at least one) and how severe.
type findingWant struct {
	Rule            string `yaml:"rule"`
	Label           string `yaml:"label"`
	Count           *int   `yaml:"count"`
	Severity        string `yaml:"severity"`
	SeverityAtLeast string `yaml:"severity_at_least"`
}

// suppressedWant is a findingWant among the findings an exception
// suppressed, with the exception's id.
type suppressedWant struct {
	findingWant `yaml:",inline"`
	By          string `yaml:"by"`
}

// readExpect reads and checks an expect file: strictly decoded (an unknown
// key is an error), every rule and exception known to set, every severity
// valid, no rule both required and forbidden, and something asserted.
func readExpect(file string, set *rules.Set) (*hostExpect, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	e, err := parseExpect(b, set)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	return e, nil
}

func parseExpect(b []byte, set *rules.Set) (*hostExpect, error) {
	var e hostExpect
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&e); err == io.EOF {
		return nil, errors.New("empty")
	} else if err != nil {
		return nil, err
	}
	var more any
	if err := dec.Decode(&more); err != io.EOF {
		return nil, errors.New("more than one YAML document")
	}
	if len(e.MustFire) == 0 && e.MaxSeverity == "" {
		return nil, errors.New("neither must_fire nor max_severity: it asserts too little")
	}
	if e.MaxSeverity != "none" && e.MaxSeverity != "" {
		if _, err := report.ParseSeverity(e.MaxSeverity); err != nil {
			return nil, fmt.Errorf("max_severity: %w (or none)", err)
		}
	}
	forbidden := map[string]bool{}
	for _, id := range e.MustNotFire {
		if set.Rule(id) == nil {
			return nil, fmt.Errorf("must_not_fire: no rule %q", id)
		}
		forbidden[id] = true
	}
	checkWant := func(key string, w findingWant) error {
		switch {
		case set.Rule(w.Rule) == nil:
			return fmt.Errorf("%s: no rule %q", key, w.Rule)
		case forbidden[w.Rule]:
			return fmt.Errorf("%s: %s is in must_not_fire too", key, w.Rule)
		case w.Count != nil && *w.Count < 1:
			return fmt.Errorf("%s %s: count %d (use must_not_fire for none)", key, w.Rule, *w.Count)
		case w.Severity != "" && w.SeverityAtLeast != "":
			return fmt.Errorf("%s %s: severity and severity_at_least", key, w.Rule)
		}
		for _, s := range []string{w.Severity, w.SeverityAtLeast} {
			if _, err := report.ParseSeverity(s); s != "" && err != nil {
				return fmt.Errorf("%s %s: %w", key, w.Rule, err)
			}
		}
		return nil
	}
	for _, w := range e.MustFire {
		if err := checkWant("must_fire", w); err != nil {
			return nil, err
		}
	}
	for _, w := range e.Suppressed {
		if err := checkWant("suppressed", w.findingWant); err != nil {
			return nil, err
		}
		i := slices.IndexFunc(set.Exceptions, func(x *rules.Exception) bool { return x.ID == w.By })
		if i < 0 {
			return nil, fmt.Errorf("suppressed %s: no exception %q", w.Rule, w.By)
		}
		if !slices.Contains(set.Exceptions[i].Rules, w.Rule) {
			return nil, fmt.Errorf("suppressed %s: exception %s is not for that rule", w.Rule, w.By)
		}
	}
	return &e, nil
}

// scanResult is `scan --format json`, decoded strictly so that a renamed
// field fails instead of reading as empty.
type scanResult struct {
	Host         json.RawMessage   `json:"host"`
	Verdict      string            `json:"verdict"`
	Worst        string            `json:"worst"`
	Findings     []scanFinding     `json:"findings"`
	Observations []json.RawMessage `json:"observations"`
	Sensors      []scanSensor      `json:"sensors"`
	RuleErrors   []string          `json:"rule_errors"`
}

type scanFinding struct {
	Rule         string   `json:"rule"`
	Severity     string   `json:"severity"`
	Title        string   `json:"title"`
	Label        string   `json:"label"`
	Qualifier    string   `json:"qualifier"`
	Message      string   `json:"message"`
	Evidence     []string `json:"evidence"`
	Tags         []string `json:"tags"`
	Scope        string   `json:"scope"`
	SuppressedBy string   `json:"suppressed_by"`
}

type scanSensor struct {
	Name         string          `json:"name"`
	OK           bool            `json:"ok"`
	Error        string          `json:"error"`
	DurationUs   json.RawMessage `json:"duration_us"`
	Observations int             `json:"observations"`
}

// check returns how a scan (its exit code and JSON) falls short of e; the
// error is for JSON that cannot be read.
func (e *hostExpect) check(code int, js []byte) ([]string, error) {
	var res scanResult
	dec := json.NewDecoder(bytes.NewReader(js))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&res); err != nil {
		return nil, fmt.Errorf("scan JSON: %w", err)
	}
	sev := func(s string) fwv1.Severity {
		v, _ := report.ParseSeverity(s) // validated by parseExpect; "none" is 0
		return v
	}
	var bad []string
	if e.Exit != nil && code != *e.Exit {
		bad = append(bad, fmt.Sprintf("exit %d, want %d", code, *e.Exit))
	}
	if len(res.RuleErrors) > 0 {
		bad = append(bad, fmt.Sprintf("rule errors: %v", res.RuleErrors))
	}
	for _, s := range res.Sensors {
		if failed := slices.Contains(e.FailedSensors, s.Name); s.OK == failed {
			bad = append(bad, fmt.Sprintf("sensor %s: ok %v, error %q; want failed %v", s.Name, s.OK, s.Error, failed))
		}
	}
	for _, n := range e.FailedSensors {
		if !slices.ContainsFunc(res.Sensors, func(s scanSensor) bool { return s.Name == n }) {
			bad = append(bad, fmt.Sprintf("no sensor %s", n))
		}
	}
	var active, suppressed []scanFinding
	for _, f := range res.Findings {
		if f.SuppressedBy == "" {
			active = append(active, f)
		} else {
			suppressed = append(suppressed, f)
		}
		if slices.Contains(e.MustNotFire, f.Rule) {
			bad = append(bad, fmt.Sprintf("%s fired (%q, %s, suppressed by %q), want it not to", f.Rule, f.Label, f.Severity, f.SuppressedBy))
		}
	}
	match := func(key string, w findingWant, by string, in []scanFinding) {
		var n int
		for _, f := range in {
			if f.Rule != w.Rule || (w.Label != "" && f.Label != w.Label) || f.SuppressedBy != by {
				continue
			}
			n++
			if w.Severity != "" && f.Severity != w.Severity {
				bad = append(bad, fmt.Sprintf("%s %s %q at %s, want %s", key, f.Rule, f.Label, f.Severity, w.Severity))
			}
			if w.SeverityAtLeast != "" && sev(f.Severity) < sev(w.SeverityAtLeast) {
				bad = append(bad, fmt.Sprintf("%s %s %q at %s, want at least %s", key, f.Rule, f.Label, f.Severity, w.SeverityAtLeast))
			}
		}
		what := w.Rule
		if w.Label != "" {
			what += fmt.Sprintf(" labelled %q", w.Label)
		}
		if by != "" {
			what += " suppressed by " + by
		}
		switch {
		case w.Count != nil && n != *w.Count:
			bad = append(bad, fmt.Sprintf("%s: %d findings of %s, want %d", key, n, what, *w.Count))
		case w.Count == nil && n == 0:
			bad = append(bad, fmt.Sprintf("%s: no finding of %s", key, what))
		}
	}
	for _, w := range e.MustFire {
		match("must_fire", w, "", active)
	}
	for _, w := range e.Suppressed {
		match("suppressed", w.findingWant, w.By, suppressed)
	}
	for _, f := range suppressed {
		if !slices.ContainsFunc(e.Suppressed, func(w suppressedWant) bool {
			return w.Rule == f.Rule && w.By == f.SuppressedBy && (w.Label == "" || w.Label == f.Label)
		}) {
			bad = append(bad, fmt.Sprintf("%s %q suppressed by %s, which suppressed lacks", f.Rule, f.Label, f.SuppressedBy))
		}
	}
	if e.MaxSeverity != "" {
		for _, f := range active {
			if e.MaxSeverity == "none" || sev(f.Severity) > sev(e.MaxSeverity) {
				bad = append(bad, fmt.Sprintf("%s %q at %s, want nothing above %s", f.Rule, f.Label, f.Severity, e.MaxSeverity))
			}
		}
	}
	return bad, nil
}

func TestCLIErrors(t *testing.T) {
	dir := t.TempDir()
	corrupt := filepath.Join(dir, "corrupt.txtar")
	os.WriteFile(corrupt, []byte("-- snapshot.json --\n{\"os\": \"linux\"\n"), 0o644)
	notsnap := filepath.Join(dir, "notes.txt")
	os.WriteFile(notsnap, []byte("hello\n"), 0o644)
	badRules := filepath.Join(dir, "rules")
	os.Mkdir(badRules, 0o755)
	os.WriteFile(filepath.Join(badRules, "ours.yaml"), []byte("rules:\n  - id: ours\n    title: t\n    severity: high\n    scope: process\n    description: d\n    sources: [s]\n    when: process.nmae == \"x\"\n"), 0o644)
	badConfig := filepath.Join(dir, "agent.yaml")
	os.WriteFile(badConfig, []byte("fail_onn: low\n"), 0o644)
	emptyRules := filepath.Join(dir, "empty")
	os.Mkdir(emptyRules, 0o755)
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"no command", nil, "usage:"},
		{"unknown command", []string{"scna"}, `unknown command "scna"`},
		{"unknown flag", []string{"scan", "--bogus"}, "flag provided but not defined: -bogus"},
		{"stray argument", []string{"scan", "extra"}, `unexpected argument "extra"`},
		{"missing root", []string{"scan", "--root", filepath.Join(dir, "nope")}, "root " + filepath.Join(dir, "nope")},
		{"root is a file", []string{"scan", "--root", notsnap}, "not a directory"},
		{"missing snapshot", []string{"scan", "--snapshot", filepath.Join(dir, "nope.txtar")}, "nope.txtar"},
		{"corrupt snapshot", []string{"scan", "--snapshot", corrupt}, "snapshot " + corrupt + ": entry snapshot.json: bad JSON"},
		{"not a snapshot", []string{"scan", "--snapshot", notsnap}, "not a farmwatch snapshot"},
		{"both", []string{"scan", "--root", dir, "--snapshot", corrupt}, "not both"},
		{"bad format", []string{"scan", "--format", "xml"}, `--format "xml"`},
		{"bad fail-on", []string{"scan", "--fail-on", "urgent"}, `--fail-on: severity "urgent"`},
		{"bad rule file", []string{"scan", "--rules", badRules}, filepath.Join(badRules, "ours.yaml") + ":8:18: rule ours: when: undefined field 'nmae'"},
		{"empty rules dir", []string{"scan", "--rules", emptyRules}, "no .yaml or .yml files"},
		{"unknown explain", []string{"scan", "--explain", "nope"}, "--explain nope: no such rule"},
		{"snapshot without -o", []string{"snapshot"}, "-o FILE is required"},
		{"rules subcommand", []string{"rules", "frob"}, `unknown subcommand "frob"`},
		{"missing config", []string{"scan", "--config", filepath.Join(dir, "nope.yaml")}, "config " + filepath.Join(dir, "nope.yaml")},
		{"bad config key", []string{"scan", "--config", badConfig}, "field fail_onn not found"},
		{"pack missing", []string{"snapshot", "--pack", filepath.Join(dir, "nope"), "-o", "-"}, "pack " + filepath.Join(dir, "nope")},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			code, _, stderr := runCLI(t, c.args...)
			if code != exitError {
				t.Errorf("exit %d, want %d", code, exitError)
			}
			if !strings.Contains(stderr, c.want) {
				t.Errorf("stderr %q does not contain %q", stderr, c.want)
			}
		})
	}
}

func TestRulesTestCommand(t *testing.T) {
	code, out, stderr := runCLI(t, "rules", "test")
	if code != exitOK || !strings.Contains(out, " passed, 0 failed") {
		t.Fatalf("rules test: exit %d\n%s\n%s", code, out, stderr)
	}
}

func TestExplain(t *testing.T) {
	code, out, stderr := runCLI(t, "scan", "--snapshot", "../testdata/hosts/linux-anydesk-rustdesk.txtar", "--explain", "remote-access-multiple-vendors")
	if code != exitFindings {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	for _, want := range []string{
		"rule remote-access-multiple-vendors (high, scope host)",
		"Sources:\n  - ",
		"When:\n",
		"On this host it matched 1 time(s):",
		"Remote-access tools of two or more vendors on one host: AnyDesk and RustDesk",
		"process anydesk (pid 30395) /usr/bin/anydesk",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("--explain output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "Remote-access tool running: AnyDesk") {
		t.Errorf("--explain shows other rules' findings:\n%s", out)
	}
}

// TestExpectCatchesFaults shows that each part of an expect file fails on a
// scan that breaks it, and that a malformed expect file is refused.
func TestExpectCatchesFaults(t *testing.T) {
	set, err := wiring.LoadRules([]string{"../testdata/hosts/windows-sanctioned-teamviewer.rules"})
	if err != nil {
		t.Fatal(err)
	}
	finding := func(rule, sev, label, by string) string {
		return fmt.Sprintf(`{"rule":%q,"severity":%q,"title":"t","label":%q,"evidence":[],"tags":[],"scope":"process","suppressed_by":%q}`, rule, sev, label, by)
	}
	js := `{"host":{},"verdict":"v","worst":"high","observations":[],"rule_errors":[],"findings":[` +
		finding("remote-access-multiple-vendors", "high", "AnyDesk and TeamViewer", "") + "," +
		finding("remote-access-tool", "medium", "AnyDesk", "") + "," +
		finding("remote-access-tool", "medium", "AnyDesk", "") + "," +
		finding("remote-access-tool", "medium", "TeamViewer", "it-teamviewer-processes") + "," +
		finding("clamshell", "low", "", "") +
		`],"sensors":[{"name":"remoteaccess","ok":true,"duration_us":"5","observations":4},{"name":"usb","ok":false,"error":"boom","duration_us":"1"}]}`
	const sound = `
exit: 1
max_severity: high
must_fire:
  - {rule: remote-access-tool, label: AnyDesk, count: 2, severity: medium}
  - {rule: remote-access-multiple-vendors, severity_at_least: high}
must_not_fire: [rdp-enabled]
suppressed:
  - {rule: remote-access-tool, by: it-teamviewer-processes, label: TeamViewer, count: 1}
failed_sensors: [usb]
`
	check := func(doc, js string) ([]string, error) {
		e, err := parseExpect([]byte(doc), set)
		if err != nil {
			return nil, err
		}
		return e.check(1, []byte(js))
	}
	if bad, err := check(sound, js); err != nil || len(bad) > 0 {
		t.Fatalf("a sound expectation fails: %v %v", bad, err)
	}
	// Each case replaces one line of the sound expectation.
	for _, c := range []struct{ name, from, to string }{
		{"exit", "exit: 1", "exit: 0"},
		{"label", "label: AnyDesk,", "label: RustDesk,"},
		{"count", "count: 2,", "count: 3,"},
		{"severity", "severity: medium}", "severity: high}"},
		{"severity at least", "severity_at_least: high}", "severity_at_least: critical}"},
		{"rule that did not fire", "remote-access-multiple-vendors, severity_at_least: high}", "crd-unattended}"},
		{"suppressed finding required", "label: AnyDesk, count: 2, severity: medium}", "label: TeamViewer}"},
		{"forbidden rule fired", "must_not_fire: [rdp-enabled]", "must_not_fire: [rdp-enabled, clamshell]"},
		{"max severity", "max_severity: high", "max_severity: medium"},
		{"max severity none", "max_severity: high", "max_severity: none"},
		{"suppressed count", "TeamViewer, count: 1}", "TeamViewer, count: 2}"},
		{"suppressed label", "label: TeamViewer,", "label: AnyDesk,"},
		{"suppression not listed", "suppressed:\n  - {rule: remote-access-tool, by: it-teamviewer-processes, label: TeamViewer, count: 1}\n", ""},
		{"failed sensor not listed", "failed_sensors: [usb]", "failed_sensors: []"},
		{"sensor listed as failed is ok", "failed_sensors: [usb]", "failed_sensors: [usb, remoteaccess]"},
		{"no such sensor", "failed_sensors: [usb]", "failed_sensors: [usb, webcam]"},
	} {
		doc := strings.Replace(sound, c.from, c.to, 1)
		if doc == sound {
			t.Fatalf("%s: %q is not in the sound expectation", c.name, c.from)
		}
		if bad, err := check(doc, js); err != nil || len(bad) == 0 {
			t.Errorf("%s: no problem found (%v)", c.name, err)
		}
	}
	// The scan's JSON is read strictly.
	for name, bad := range map[string]string{
		"rule errors":   strings.Replace(js, `"rule_errors":[]`, `"rule_errors":["x: boom"]`, 1),
		"renamed field": strings.Replace(js, `"suppressed_by"`, `"suppressedBy"`, 1),
	} {
		if problems, err := check(sound, bad); err == nil && len(problems) == 0 {
			t.Errorf("%s: no problem found", name)
		}
	}
	// Malformed expect files are refused.
	for name, doc := range map[string]string{
		"empty":                    "# nothing\n",
		"asserts too little":       "must_not_fire: [rdp-enabled]\n",
		"unknown key":              "max_severity: none\nmust_fires: []\n",
		"unknown entry key":        "must_fire: [{rule: rdp-enabled, lable: x}]\n",
		"by in must_fire":          "must_fire: [{rule: rdp-enabled, by: it-teamviewer-service}]\n",
		"unknown rule":             "must_fire: [{rule: rdp-enable}]\n",
		"unknown forbidden rule":   "max_severity: none\nmust_not_fire: [rdp-enable]\n",
		"unknown exception":        "max_severity: none\nsuppressed: [{rule: remote-access-tool, by: it-teamviewer}]\n",
		"exception for another":    "max_severity: none\nsuppressed: [{rule: remote-access-service, by: it-teamviewer-processes}]\n",
		"bad severity":             "must_fire: [{rule: rdp-enabled, severity: urgent}]\n",
		"both severities":          "must_fire: [{rule: rdp-enabled, severity: low, severity_at_least: low}]\n",
		"count zero":               "must_fire: [{rule: rdp-enabled, count: 0}]\n",
		"bad max severity":         "max_severity: nothing\n",
		"required and forbidden":   "must_fire: [{rule: rdp-enabled}]\nmust_not_fire: [rdp-enabled]\n",
		"two documents":            "max_severity: none\n---\nmax_severity: low\n",
		"suppressed without by":    "max_severity: none\nsuppressed: [{rule: remote-access-tool}]\n",
		"suppressed and forbidden": "max_severity: none\nmust_not_fire: [remote-access-tool]\nsuppressed: [{rule: remote-access-tool, by: it-teamviewer-processes}]\n",
	} {
		if _, err := parseExpect([]byte(doc), set); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
