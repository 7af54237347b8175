package stream

import (
	"crypto/tls"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/farmwatch/farmwatch/agent/host"
	"github.com/farmwatch/farmwatch/agent/scan"
	fwv1 "github.com/farmwatch/farmwatch/proto/farmwatch/v1"
	"github.com/farmwatch/farmwatch/rules"
	"github.com/rs/zerolog"
	"google.golang.org/protobuf/proto"
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

func newTestClient(t *testing.T, dir string) *Client {
	t.Helper()
	load := func(b []rules.Source) (*rules.Set, error) {
		return rules.Load(append(rules.Builtin(), b...), rules.Options{})
	}
	base, err := load(nil)
	if err != nil {
		t.Fatal(err)
	}
	own := &fwv1.OrgPolicy{ExpectedCountries: []string{"US"}}
	cl, err := New(Config{
		Collector: "127.0.0.1:1", TLS: &tls.Config{}, StateDir: dir, Interval: time.Minute, Log: zerolog.Nop(),
		Scanner: &scan.Scanner{Rules: base, Org: own}, LoadRules: load,
		Open: func() (*host.Host, func(), error) { return nil, nil, os.ErrNotExist },
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cl.Close() })
	return cl
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
	cl := newTestClient(t, dir)
	good := bundle(t, orgRule)
	if st := cl.applyBundle(good); st.Error != "" || st.Version != good.Version {
		t.Fatalf("good bundle: %v", st)
	}
	if _, v := cl.Policy(); v != good.Version || cl.scanner.Rules.Rule("org-no-sleep") == nil {
		t.Fatalf("in use: %q, rule %v", v, cl.scanner.Rules.Rule("org-no-sleep"))
	}
	select {
	case <-cl.rescan:
	default:
		t.Fatal("no rescan after new rules")
	}

	// Bad rules, and a bundle whose files are not what its version says:
	// refused, the good bundle stays.
	bad := bundle(t, strings.Replace(orgRule, `process.name == "sleep"`, `process.nme == "sleep"`, 1))
	forged := &fwv1.RuleBundle{Version: good.Version, Files: []*fwv1.RuleFile{{Name: "org/org.yaml", Data: []byte("rules: []\n")}}}
	for name, rb := range map[string]*fwv1.RuleBundle{"bad": bad, "forged": forged} {
		st := cl.applyBundle(rb)
		if st.Error == "" || st.Version != good.Version || st.RefusedVersion != rb.Version {
			t.Fatalf("%s bundle: %v", name, st)
		}
		if _, v := cl.Policy(); v != good.Version {
			t.Fatalf("%s bundle replaced the good one: %q", name, v)
		}
	}
	if !strings.Contains(cl.bundleErr, "org/org.yaml") && !strings.Contains(cl.bundleErr, "digest") {
		t.Fatalf("refusal does not name the file: %s", cl.bundleErr)
	}

	// A restarted agent starts with the kept bundle.
	cl.Close()
	cl2 := newTestClient(t, dir)
	if _, v := cl2.Policy(); v != good.Version || cl2.scanner.Rules.Rule("org-no-sleep") == nil {
		t.Fatalf("after restart: %q", v)
	}
	// Withdrawn.
	if st := cl2.applyBundle(&fwv1.RuleBundle{}); st.Error != "" || st.Version != "" {
		t.Fatalf("withdraw: %v", st)
	}
	if _, err := os.Stat(filepath.Join(dir, bundleFile)); !os.IsNotExist(err) {
		t.Fatalf("withdrawn bundle still kept: %v", err)
	}
	if cl2.scanner.Rules.Rule("org-no-sleep") != nil {
		t.Fatal("withdrawn rule still in use")
	}

	// A kept bundle that is damaged is reported, and the agent's own rules
	// are used.
	os.WriteFile(filepath.Join(dir, bundleFile), []byte("\xff\xff not a bundle"), 0o600)
	cl2.Close()
	cl3 := newTestClient(t, dir)
	if _, v := cl3.Policy(); v != "" || cl3.bundleErr == "" {
		t.Fatalf("damaged bundle: version %q error %q", v, cl3.bundleErr)
	}
}

// The collector's interval and expectations override the agent's own while
// it sends them; unset, the agent's own come back.
func TestConfigUpdate(t *testing.T) {
	cl := newTestClient(t, t.TempDir())
	kr := &fwv1.OrgPolicy{ExpectedCountries: []string{"KR"}}
	cl.applyConfig(&fwv1.ConfigUpdate{IntervalSeconds: 300, Org: kr})
	if iv, _ := cl.Policy(); iv != 5*time.Minute || cl.scanner.Org != kr {
		t.Fatalf("pushed: %v %v", iv, cl.scanner.Org)
	}
	cl.applyConfig(&fwv1.ConfigUpdate{})
	if iv, _ := cl.Policy(); iv != time.Minute || cl.scanner.Org.GetExpectedCountries()[0] != "US" {
		t.Fatalf("own: %v %v", iv, cl.scanner.Org)
	}
}

// A full spool drops its oldest messages and the next message is a full
// state; the drops that full state itself causes do not call for another,
// so an unchanged host queues nothing more while the collector is away.
func TestFullSpoolQueuesOneFullState(t *testing.T) {
	dir := t.TempDir()
	cl := newTestClient(t, dir)
	cl.Close()
	cl.c.SpoolBytes = 256 << 10
	cl2, err := New(cl.c)
	if err != nil {
		t.Fatal(err)
	}
	defer cl2.Close()
	report := func(v int) *fwv1.Report {
		rep := &fwv1.Report{}
		for i := 0; i < 20; i++ {
			rep.Observations = append(rep.Observations, &fwv1.Observation{Key: fmt.Sprintf("p/%d/%d", v, i),
				Kind: &fwv1.Observation_Process{Process: &fwv1.Process{Name: strings.Repeat("x", 4000)}}})
		}
		return rep
	}
	for v := 0; v < 8; v++ {
		if err := cl2.enqueue(report(v)); err != nil {
			t.Fatal(err)
		}
	}
	if cl2.sp.Dropped() == 0 {
		t.Fatal("nothing dropped: the test needs a full spool")
	}
	// The host is the same at the next scan: the drops call for a full
	// state.
	if err := cl2.enqueue(report(7)); err != nil {
		t.Fatal(err)
	}
	last := cl2.seq
	recs, err := cl2.sp.Pending()
	if err != nil {
		t.Fatal(err)
	}
	var m fwv1.AgentMessage
	if err := proto.Unmarshal(recs[len(recs)-1].Payload, &m); err != nil || m.GetFull() == nil {
		t.Fatalf("after drops the newest message is %T, want a full state (%v)", m.Body, err)
	}
	for i := 0; i < 3; i++ { // and then nothing more
		if err := cl2.enqueue(report(7)); err != nil {
			t.Fatal(err)
		}
	}
	if cl2.seq != last {
		t.Fatalf("an unchanged host queued %d more messages", cl2.seq-last)
	}
}
