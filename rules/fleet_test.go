package rules

import (
	"fmt"
	"strings"
	"testing"

	"github.com/farmwatch/farmwatch/limits"
	fwv1 "github.com/farmwatch/farmwatch/proto/farmwatch/v1"
)

const orgFleet = `rules:
  - id: farm-org-two-countries
    title: two countries
    severity: medium
    scope: fleet
    description: d
    sources: [test]
    when: cluster.countries.size() >= 2
exceptions:
  - id: founders-live-together
    rules: [farm-shared-lan]
    reason: our two founders share a flat
    when: cluster.people.all(p, p in ["Ann Lee", "Bo Park"])
`

// Fleet rules judge a cluster; an organisation adds fleet rules and
// excepts built-in ones, and the excepted finding is kept, marked.
func TestEvaluateFleet(t *testing.T) {
	s, err := Load(append(Builtin(), Source{Name: "org.yaml", Data: []byte(orgFleet)}), Options{})
	if err != nil {
		t.Fatal(err)
	}
	c := &fwv1.Cluster{Id: "c-1", People: []string{"Ann Lee", "Bo Park"}, DistinctPeople: 2, Countries: []string{"DE", "US"},
		Signals: []*fwv1.Signal{{Kind: "gateway", Value: "3f", Lan: true, DistinctPeople: 2, Hosts: []string{"a", "b"}, Label: "gateway 3f"}}}
	res := s.EvaluateFleet(nil, c)
	if len(res.Errors) > 0 {
		t.Fatal(res.Errors)
	}
	got := map[string]string{}
	for _, f := range res.Findings {
		got[f.Rule] = f.SuppressedBy
		if len(f.Evidence) != 1 || f.Evidence[0] != "cluster/c-1" {
			t.Errorf("%s evidence %v", f.Rule, f.Evidence)
		}
	}
	if sb, ok := got["farm-shared-lan"]; !ok || sb != "founders-live-together" {
		t.Errorf("farm-shared-lan: %v (suppressed by %q)", ok, sb)
	}
	if sb, ok := got["farm-org-two-countries"]; !ok || sb != "" {
		t.Errorf("the organisation's rule: %v %q", ok, sb)
	}
	c.People = append(c.People, "Cy Kim")
	for _, f := range s.EvaluateFleet(nil, c).Findings {
		if f.Rule == "farm-shared-lan" && f.SuppressedBy != "" {
			t.Error("the exception holds for a third person")
		}
	}
}

func TestFleetRuleLoadErrors(t *testing.T) {
	for _, tc := range []struct{ file, want string }{
		{`rules:
  - {id: shared-lan, title: t, severity: low, scope: fleet, description: d, sources: [s], when: "true"}
`, `a fleet rule's id starts with "farm-"`},
		{`rules:
  - {id: farm-x, title: t, severity: low, scope: fleet, description: d, sources: [s], when: "cluster.memberz.size() > 1"}
`, "undefined field 'memberz'"},
		{`rules:
  - {id: farm-x, title: t, severity: low, scope: fleet, description: d, sources: [s], when: "process.name == 'x'"}
`, "undeclared reference to 'process'"},
		{`rules:
  - id: farm-x
    title: t
    severity: low
    scope: fleet
    description: d
    sources: [s]
    when: cluster.distinct_people > 1
    tests:
      - {name: p, cluster: {distinctPeople: 2}, expect: true}
      - {name: n, process: {name: x}, expect: false}
`, `unknown key "process" (a fleet rule's test gives org: and cluster:)`},
	} {
		_, err := Load([]Source{{Name: "org.yaml", Data: []byte(tc.file)}}, Options{})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v, want %q", err, tc.want)
		}
	}
}

func TestQuery(t *testing.T) {
	s, err := Load(Builtin(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	any, err := s.Query("", `has(observation.process) && observation.process.name == "anydesk"`)
	if err != nil {
		t.Fatal(err)
	}
	proc, err := s.Query("process", `lists.rmm_process_names.contains(process.name) && host.os == "linux"`)
	if err != nil {
		t.Fatal(err)
	}
	hi := &fwv1.HostInfo{Os: "linux"}
	ad := &fwv1.Observation{Key: "process/1", Kind: &fwv1.Observation_Process{Process: &fwv1.Process{Name: "anydesk"}}}
	usb := &fwv1.Observation{Key: "usb/1", Kind: &fwv1.Observation_UsbDevice{UsbDevice: &fwv1.UsbDevice{Product: "anydesk"}}}
	for _, tc := range []struct {
		q    *Query
		o    *fwv1.Observation
		want bool
	}{{any, ad, true}, {any, usb, false}, {proc, ad, true}, {proc, usb, false}} {
		if got, err := tc.q.Match(hi, nil, tc.o); err != nil || got != tc.want {
			t.Errorf("%q on %s: %v, %v", tc.q.Kind(), tc.o.Key, got, err)
		}
	}
	for _, bad := range []string{"", "process.name", `process.nam == "x"`, "lists.nope.contains(process.name)", strings.Repeat("true && ", 600) + "true"} {
		if _, err := s.Query("process", bad); err == nil {
			t.Errorf("query %q compiled", bad)
		}
	}
	if _, err := s.Query("nokind", "true"); err == nil {
		t.Error("an unknown kind compiled")
	}
}

// FuzzQuery: any text either compiles to a filter that decides on an
// observation without failing to return, or is refused with a place
// inside the text.
func FuzzQuery(f *testing.F) {
	s, err := Load(Builtin(), Options{})
	if err != nil {
		f.Fatal(err)
	}
	for _, q := range []string{`process.name == "x"`, `process.args.exists(a, a.contains("--"))`, `"a".matches("(a+)+$")`,
		`[1,2,3].map(x, [1,2,3].map(y, x*y)).size() > 0`, `process.name.size() > 1 ? true : false`, "1 == ", `lists.rmm_process_names.lookup(process.name) != ""`} {
		f.Add("process", q)
		f.Add("", q)
	}
	o := &fwv1.Observation{Key: "process/1", Kind: &fwv1.Observation_Process{Process: &fwv1.Process{Name: "anydesk", Args: []string{"--a", "b"}}}}
	f.Fuzz(func(t *testing.T, kind, expr string) {
		q, err := s.Query(kind, expr)
		if err != nil {
			qe, ok := err.(*QueryError)
			if !ok || qe.Line < 1 || qe.Col < 1 || qe.Reason == "" {
				t.Fatalf("refusal %T %v: want a QueryError with a place", err, err)
			}
			return
		}
		if len(expr) > MaxQueryBytes || strings.TrimSpace(expr) == "" {
			t.Fatalf("a filter of %d bytes compiled", len(expr))
		}
		q.Match(&fwv1.HostInfo{}, nil, o) // bounded by the cost limit: returns
	})
}

// TestQueryHunt: a hunt's reply counts every observation, keeps the
// matches up to the host's bound, and reports the first evaluation error
// while still judging the rest.
func TestQueryHunt(t *testing.T) {
	s, err := Load(Builtin(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	q, err := s.Query("process", `process.name == "anydesk" || 1 / int(process.pid - 7) > 5`)
	if err != nil {
		t.Fatal(err)
	}
	var obs []*fwv1.Observation
	for i := range limits.HostObservations + 10 {
		name := "bash"
		if i%2 == 0 {
			name = "anydesk"
		}
		obs = append(obs, &fwv1.Observation{Key: fmt.Sprintf("process/%d", i), Kind: &fwv1.Observation_Process{Process: &fwv1.Process{Pid: int32(i), Name: name}}})
	}
	r := q.Hunt(&fwv1.HostInfo{Os: "linux"}, nil, obs)
	if int(r.Scanned) != len(obs) || len(r.Matches) != (len(obs)+1)/2 || r.Error == "" || !strings.Contains(r.Error, "division by zero") {
		t.Fatalf("scanned %d matches %d error %q", r.Scanned, len(r.Matches), r.Error)
	}
	r = q.Hunt(&fwv1.HostInfo{Os: "linux"}, nil, append(append([]*fwv1.Observation{}, obs...), obs...))
	if len(r.Matches) != limits.HostObservations {
		t.Fatalf("%d matches, want the bound %d", len(r.Matches), limits.HostObservations)
	}
}
