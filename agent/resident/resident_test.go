package resident

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/farmwatch/farmwatch/agent/host"
	"github.com/farmwatch/farmwatch/agent/scan"
	"github.com/farmwatch/farmwatch/agent/sensor"
	fwv1 "github.com/farmwatch/farmwatch/proto/farmwatch/v1"
	"github.com/farmwatch/farmwatch/rules"
	"github.com/rs/zerolog"
)

// orgRule is a rule only an organisation's bundle has.
const orgRule = `rules:
  - id: org-no-sleep
    title: sleep runs
    severity: low
    scope: process
    description: d
    tags: []
    sources: [test]
    when: process.name == "sleep"
`

// nowhere is an outbox that must not be used.
type nowhere struct{}

func (nowhere) Put(*fwv1.Report) error { return fmt.Errorf("nothing may be queued here") }

// builtinRules returns a LoadRules of the built-in rules with a bundle's
// files on top, and the built-in rules alone.
func builtinRules(t *testing.T) (func([]rules.Source) (*rules.Set, error), *rules.Set) {
	t.Helper()
	load := func(b []rules.Source) (*rules.Set, error) {
		return rules.Load(append(rules.Builtin(), b...), rules.Options{})
	}
	base, err := load(nil)
	if err != nil {
		t.Fatal(err)
	}
	return load, base
}

func newTestAgent(t *testing.T, dir string) *Agent {
	t.Helper()
	load, base := builtinRules(t)
	own := &fwv1.OrgPolicy{ExpectedCountries: []string{"US"}}
	a, err := New(Config{
		StateDir: dir, Interval: time.Minute, Log: zerolog.Nop(), Outbox: nowhere{},
		Scanner: scan.Scanner{Rules: base, Org: own}, LoadRules: load,
		Open: func() (*host.Host, func(), error) { return nil, nil, os.ErrNotExist },
	})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func bundle(t *testing.T, data string) *fwv1.RuleBundle {
	t.Helper()
	b, err := rules.NewBundle([]rules.Source{{Name: "org/org.yaml", Data: []byte(data)}})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// A bundle from the collector is used, kept for the next start, refused
// whole when it does not load, and withdrawn by the empty bundle.
func TestBundle(t *testing.T) {
	dir := t.TempDir()
	a := newTestAgent(t, dir)
	good := bundle(t, orgRule)
	if st := a.ApplyBundle(good); st.Error != "" || st.Version != good.Version {
		t.Fatalf("good bundle: %v", st)
	}
	if _, v := a.Policy(); v != good.Version || a.scanner.Rules.Rule("org-no-sleep") == nil {
		t.Fatalf("in use: %q, rule %v", v, a.scanner.Rules.Rule("org-no-sleep"))
	}
	select {
	case <-a.rescan:
	default:
		t.Fatal("no rescan after new rules")
	}

	// Bad rules, and a bundle whose files are not what its version says:
	// refused, the good bundle stays.
	bad := bundle(t, strings.Replace(orgRule, `process.name == "sleep"`, `process.nme == "sleep"`, 1))
	forged := &fwv1.RuleBundle{Version: good.Version, Files: []*fwv1.RuleFile{{Name: "org/org.yaml", Data: []byte("rules: []\n")}}}
	for name, rb := range map[string]*fwv1.RuleBundle{"bad": bad, "forged": forged} {
		st := a.ApplyBundle(rb)
		if st.Error == "" || st.Version != good.Version || st.RefusedVersion != rb.Version {
			t.Fatalf("%s bundle: %v", name, st)
		}
		if _, v := a.Policy(); v != good.Version {
			t.Fatalf("%s bundle replaced the good one: %q", name, v)
		}
	}
	if !strings.Contains(a.bundleErr, "org/org.yaml") && !strings.Contains(a.bundleErr, "digest") {
		t.Fatalf("refusal does not name the file: %s", a.bundleErr)
	}

	// A restarted agent starts with the kept bundle.
	a2 := newTestAgent(t, dir)
	if _, v := a2.Policy(); v != good.Version || a2.scanner.Rules.Rule("org-no-sleep") == nil {
		t.Fatalf("after restart: %q", v)
	}
	// Withdrawn.
	if st := a2.ApplyBundle(&fwv1.RuleBundle{}); st.Error != "" || st.Version != "" {
		t.Fatalf("withdraw: %v", st)
	}
	if _, err := os.Stat(filepath.Join(dir, bundleFile)); !os.IsNotExist(err) {
		t.Fatalf("withdrawn bundle still kept: %v", err)
	}
	if a2.scanner.Rules.Rule("org-no-sleep") != nil {
		t.Fatal("withdrawn rule still in use")
	}

	// A kept bundle that is damaged is reported, and the agent's own rules
	// are used.
	os.WriteFile(filepath.Join(dir, bundleFile), []byte("\xff\xff not a bundle"), 0o600)
	a3 := newTestAgent(t, dir)
	if _, v := a3.Policy(); v != "" || a3.bundleErr == "" {
		t.Fatalf("damaged bundle: version %q error %q", v, a3.bundleErr)
	}
}

// The collector's interval and expectations override the agent's own while
// it sends them; unset, the agent's own come back.
func TestConfigUpdate(t *testing.T) {
	a := newTestAgent(t, t.TempDir())
	kr := &fwv1.OrgPolicy{ExpectedCountries: []string{"KR"}}
	a.ApplyConfig(&fwv1.ConfigUpdate{IntervalSeconds: 300, Org: kr})
	if iv, _ := a.Policy(); iv != 5*time.Minute || a.scanner.Org != kr {
		t.Fatalf("pushed: %v %v", iv, a.scanner.Org)
	}
	a.ApplyConfig(&fwv1.ConfigUpdate{})
	if iv, _ := a.Policy(); iv != time.Minute || a.scanner.Org.GetExpectedCountries()[0] != "US" {
		t.Fatalf("own: %v %v", iv, a.scanner.Org)
	}
}

func TestOverLimit(t *testing.T) {
	cpu := time.Duration(0)
	a := &Agent{c: Config{MaxCPUPercent: 10, CPUTime: func() time.Duration { return cpu }}}
	if why := a.overLimit(); why != "" {
		t.Fatalf("first check: %q", why)
	}
	// A burst: a second of CPU (rules compiled) one second after the last
	// check. Not judged: the window is shorter than CPUWindow.
	a.lastWall = a.lastWall.Add(-time.Second)
	cpu = time.Second
	if why := a.overLimit(); why != "" {
		t.Fatalf("a burst skipped a scan: %q", why)
	}
	// It counts on: at the end of the window, 1 s of CPU in 30 s is 3.3 %.
	a.lastWall = a.lastWall.Add(-CPUWindow)
	if why := a.overLimit(); why != "" {
		t.Fatalf("3.3%% of a core over the window: %q", why)
	}
	// A sustained load: half a core over the next window.
	a.lastWall = a.lastWall.Add(-CPUWindow)
	cpu += CPUWindow / 2
	if why := a.overLimit(); !strings.Contains(why, "50.0% of a core over the last 30s, over the limit of 10.0%") {
		t.Fatalf("busy agent: %q", why)
	}
	// Judged windows do not overlap: the next one starts from here.
	a.lastWall = a.lastWall.Add(-CPUWindow)
	if why := a.overLimit(); why != "" {
		t.Fatalf("an idle window after a busy one: %q", why)
	}
	a = &Agent{c: Config{MaxHeapBytes: 1}}
	if why := a.overLimit(); !strings.Contains(why, "heap") {
		t.Fatalf("heap over 1 byte: %q", why)
	}
	a = &Agent{c: Config{MaxHeapBytes: 1 << 40}}
	if why := a.overLimit(); why != "" {
		t.Fatalf("under the limits: %q", why)
	}
}

func TestNewRefusesAnIncompleteConfig(t *testing.T) {
	if _, err := New(Config{StateDir: t.TempDir()}); err == nil {
		t.Fatal("New accepted a config without rules, a host or an outbox")
	}
}

// TestConfigClamped: a collector's interval of 1e10 seconds (once a
// panic), of one second, or negative never leaves the agent out of bounds.
func TestConfigClamped(t *testing.T) {
	a := newTestAgent(t, t.TempDir())
	for _, c := range []struct {
		secs int64
		want time.Duration
	}{{1e10, MaxInterval}, {1 << 62, MaxInterval}, {1, MinInterval}, {-5, time.Minute}, {300, 5 * time.Minute}} {
		a.ApplyConfig(&fwv1.ConfigUpdate{IntervalSeconds: c.secs})
		if iv, _ := a.Policy(); iv != c.want {
			t.Errorf("interval_seconds %d: interval %v, want %v", c.secs, iv, c.want)
		}
		_ = jitter(a.interval) // must not panic
	}
}

// named is a sensor that says which salt it was made with.
type named string

func (n named) Name() string { return string(n) }
func (named) Sense(context.Context, *host.Host) ([]*fwv1.Observation, error) {
	return nil, nil
}

// The collector's fleet salt replaces the config's in the sensors, is kept
// for the next start, asks for a scan soon, and an empty one brings the
// config's back; a salt that is not one short line is refused.
func TestFleetSalt(t *testing.T) {
	dir := t.TempDir()
	load, base := builtinRules(t)
	mk := func() *Agent {
		a, err := New(Config{
			StateDir: dir, Log: zerolog.Nop(), Outbox: nowhere{}, LoadRules: load,
			Scanner: scan.Scanner{Rules: base, Sensors: []sensor.Sensor{named("config")}},
			Open:    func() (*host.Host, func(), error) { return nil, nil, os.ErrNotExist },
			Salted:  func(salt string) []sensor.Sensor { return []sensor.Sensor{named("salt:" + salt)} },
		})
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	using := func(a *Agent) string { a.mu.Lock(); defer a.mu.Unlock(); return a.scanner.Sensors[0].Name() }
	a := mk()
	if got := using(a); got != "config" {
		t.Fatalf("before the collector: %s", got)
	}
	a.ApplyConfig(&fwv1.ConfigUpdate{FleetSalt: "fleet-1"})
	if got := using(a); got != "salt:fleet-1" {
		t.Fatalf("after the collector's salt: %s", got)
	}
	select {
	case <-a.rescan:
	default:
		t.Fatal("no rescan after a new salt")
	}
	a.ApplyConfig(&fwv1.ConfigUpdate{FleetSalt: "fleet-1"}) // the same again: no rescan
	select {
	case <-a.rescan:
		t.Fatal("rescan though the salt did not change")
	default:
	}
	if got := using(mk()); got != "salt:fleet-1" {
		t.Fatalf("a restarted agent: %s", got)
	}
	a.ApplyConfig(&fwv1.ConfigUpdate{FleetSalt: "two\nlines"})
	if got := using(a); got != "salt:fleet-1" {
		t.Fatalf("after a bad salt: %s", got)
	}
	a.ApplyConfig(&fwv1.ConfigUpdate{})
	if got := using(a); got != "config" {
		t.Fatalf("after the salt was withdrawn: %s", got)
	}
	if got := using(mk()); got != "config" {
		t.Fatalf("a restarted agent after the withdrawal: %s", got)
	}
}

// A hunt whose filter does not compile, or whose scan fails, is answered
// with why.
func TestHuntRefusals(t *testing.T) {
	a := newTestAgent(t, t.TempDir())
	if r := a.Hunt(context.Background(), &fwv1.HuntRequest{Kind: "process", Filter: "process.nope"}); !strings.Contains(r.Error, "query:1:") {
		t.Errorf("bad filter: %v", r)
	}
	if r := a.Hunt(context.Background(), &fwv1.HuntRequest{Kind: "process", Filter: "true"}); !strings.HasPrefix(r.Error, "scan: ") {
		t.Errorf("failed scan: %v", r)
	}
}

// queued is an outbox that hands each scan to the test, and runs during
// the Put of the scan numbered at (from 1) the function do.
type queued struct {
	out chan *fwv1.Report
	n   int
	at  int
	do  func()
}

func (q *queued) Put(r *fwv1.Report) error {
	q.n++
	if q.n == q.at {
		q.do()
	}
	q.out <- r
	return nil
}

// Trim is called after every scan at an interval of UnmapInterval or
// more. It evicts after the first and the
// second periodic scan, and again after the first two periodic ones that
// began with new rules, then after every RetrimScans-th; not after the
// scans in between, nor for a scan that began before the rules changed.
func TestTrimAfter(t *testing.T) {
	dir := t.TempDir()
	load, base := builtinRules(t)
	var a *Agent
	out := &queued{out: make(chan *fwv1.Report, 1), at: 4}
	out.do = func() { // new rules arrive while the fourth scan is queued
		if st := a.ApplyBundle(bundle(t, orgRule)); st.Error != "" {
			t.Error(st.Error)
		}
	}
	rescan := make(chan struct{}, 1)
	trimmed := make(chan bool, 64) // whether each trim evicted, in order
	var err error
	a, err = New(Config{
		StateDir: dir, Interval: time.Second, Log: zerolog.Nop(), Outbox: out, LoadRules: load, Rescan: rescan,
		Scanner: scan.Scanner{Rules: base},
		Open: func() (*host.Host, func(), error) {
			h, err := host.Open("../../testdata/hosts/linux-astrill.txtar")
			return h, func() { h.Close() }, err
		},
		Trim: func(evict bool) { trimmed <- evict }, UnmapInterval: time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	// next waits for the next queued scan, asking for it first or not (the
	// first scan comes at once, and new rules ask for one), and for the
	// trim that follows it, and says whether that trim evicted.
	scans := 0
	next := func(ask bool) bool {
		t.Helper()
		if ask {
			rescan <- struct{}{}
		}
		select {
		case <-out.out:
		case <-time.After(30 * time.Second):
			t.Fatalf("scan %d never queued", scans+1)
		}
		scans++
		select {
		case evict := <-trimmed:
			return evict
		case <-time.After(30 * time.Second):
			t.Fatalf("scan %d was not followed by a trim", scans)
		}
		return false
	}
	// Periodic scans come every second; an asked scan comes at once.
	for i, want := range []struct {
		ask   bool
		evict bool
		why   string
	}{
		{false, true, "the first scan, periodic"},
		{true, false, "not the second, asked for"},
		{false, true, "the third, the second periodic one"},
		{false, false, "not the fourth, begun with the old rules (the new ones ask for the fifth)"},
		{false, false, "not the fifth, asked for by the new rules"},
		{false, true, "the sixth, the new rules' first periodic scan"},
		{false, true, "the seventh, their second"},
		{false, false, "not the eighth"},
	} {
		if got := next(want.ask); got != want.evict {
			t.Fatalf("the trim after scan %d: evict %v, want %v (%s)", i+1, got, want.evict, want.why)
		}
	}
	// Scans 6.. are the new rules' periodic 1..: the trim after the
	// RetrimScans-th evicts, and the ones before it do not.
	for n := 4; n < RetrimScans; n++ {
		if next(false) {
			t.Fatalf("the trim after the new rules' periodic scan %d evicted", n)
		}
	}
	if !next(false) {
		t.Fatalf("the trim after the new rules' periodic scan %d did not evict", RetrimScans)
	}
}

// Below UnmapInterval the scans that do not evict are not followed by a
// trim: at a 1 s interval only the first two periodic scans are.
func TestTrimShortInterval(t *testing.T) {
	load, base := builtinRules(t)
	out := &queued{out: make(chan *fwv1.Report, 1)}
	trimmed := make(chan bool, 64)
	a, err := New(Config{
		StateDir: t.TempDir(), Interval: time.Second, Log: zerolog.Nop(), Outbox: out, LoadRules: load,
		Scanner: scan.Scanner{Rules: base},
		Open: func() (*host.Host, func(), error) {
			h, err := host.Open("../../testdata/hosts/linux-astrill.txtar")
			return h, func() { h.Close() }, err
		},
		Trim: func(evict bool) { trimmed <- evict },
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	for i := range 4 {
		select {
		case <-out.out:
		case <-time.After(30 * time.Second):
			t.Fatalf("scan %d never queued", i+1)
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	close(trimmed)
	var got []bool
	for evict := range trimmed {
		got = append(got, evict)
	}
	if !slices.Equal(got, []bool{true, true}) {
		t.Fatalf("trims after 4 scans at a 1 s interval (evict or not): %v, want the two evicting ones only", got)
	}
}
