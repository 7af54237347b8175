package rules

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	fwv1 "github.com/farmwatch/farmwatch/proto/farmwatch/v1"
	"google.golang.org/protobuf/encoding/prototext"
)

// TestHostStateIsEvaluate: after any sequence of full states and deltas,
// the incremental state gives exactly the findings and errors a whole
// evaluation of the same observations gives.
func TestHostStateIsEvaluate(t *testing.T) {
	builtin, err := Load(Builtin(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	// An organisation's host rule that reads the processes and the USB
	// devices: the state must then keep those messages too.
	readsAll, err := Load(append(Builtin(), Source{Name: "org.yaml", Data: []byte(`rules:
  - id: t-busy-kvm-host
    title: busy host with a KVM
    description: a test rule that reads the processes and the USB devices of the host
    sources: [test]
    severity: low
    scope: host
    when: size(processes) > 3 && usb_devices.exists(u, u.vendor_id == 0x1d6bu) && findings.exists(f, f.rule == 'remote-access-tool')
    label: processes.map(p, p.name).distinct().join(',')
`)}), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if builtin.hostReads["process"] || !builtin.hostReads["display"] {
		t.Fatalf("the built-in host rules read %v, want the displays and not the processes", builtin.hostReads)
	}
	if !readsAll.hostReads["process"] || !readsAll.hostReads["usb_device"] {
		t.Fatalf("with the organisation's rule the host rules read %v, want processes and usb_devices too", readsAll.hostReads)
	}
	for _, set := range []*Set{builtin, readsAll} {
		hostStateIsEvaluate(t, set)
	}
}

func hostStateIsEvaluate(t *testing.T, set *Set) {
	hi := &fwv1.HostInfo{Os: "linux", Hostname: "h"}
	org := &fwv1.OrgPolicy{ExpectedCountries: []string{"US"}}
	names := []string{"anydesk", "rustdesk", "teamviewer", "bash", "sshd", "tailscaled", "chrome-remote-desktop-host", "sleep"}
	pool := func(r *rand.Rand, i int) *fwv1.Observation {
		switch r.IntN(4) {
		case 0:
			return &fwv1.Observation{Key: fmt.Sprintf("locale/%d", i), Kind: &fwv1.Observation_Locale{Locale: &fwv1.Locale{Lang: "ko_KR.UTF-8", Timezone: "Asia/Seoul", Country: "KR"}}}
		case 1:
			return &fwv1.Observation{Key: fmt.Sprintf("usb/%d", i), Kind: &fwv1.Observation_UsbDevice{UsbDevice: &fwv1.UsbDevice{VendorId: 0x1d6b, ProductId: 0x0104, Manufacturer: "PiKVM", Product: "PiKVM Composite Device", Serial: "CAFEBABE"}}}
		}
		n := names[r.IntN(len(names))]
		return &fwv1.Observation{Key: fmt.Sprintf("process/%d", i), Kind: &fwv1.Observation_Process{Process: &fwv1.Process{Pid: int32(i), Name: n, Exe: "/usr/bin/" + n}}}
	}
	for seed := uint64(0); seed < 40; seed++ {
		r := rand.New(rand.NewPCG(seed, 7))
		st := set.NewHostState(hi, org)
		cur := map[string]*fwv1.Observation{}
		for step := 0; step < 12; step++ {
			full := step == 0 || r.IntN(5) == 0
			var up []*fwv1.Observation
			var rm []string
			if full {
				clear(cur)
			}
			for range r.IntN(6) {
				o := pool(r, r.IntN(10))
				up = append(up, o)
				cur[o.Key] = o
			}
			if !full {
				for k := range cur {
					if r.IntN(4) == 0 {
						rm = append(rm, k)
						delete(cur, k)
					}
				}
			}
			if n := st.After(full, up, rm); n != len(cur) {
				t.Fatalf("seed %d step %d: After says %d observations, the host has %d", seed, step, n, len(cur))
			}
			got, err := st.Apply(full, up, rm)
			if err != nil {
				t.Fatal(err)
			}
			var all []*fwv1.Observation
			for _, k := range slices.Sorted(func(yield func(string) bool) {
				for k := range cur {
					if !yield(k) {
						return
					}
				}
			}) {
				all = append(all, cur[k])
			}
			want := set.EvaluateOrg(hi, org, all)
			if a, b := text(got.Findings), text(want.Findings); a != b {
				t.Fatalf("seed %d step %d: incremental findings differ:\n got %s\nwant %s", seed, step, a, b)
			}
			if fmt.Sprint(got.Errors) != fmt.Sprint(want.Errors) {
				t.Fatalf("seed %d step %d: errors %v, want %v", seed, step, got.Errors, want.Errors)
			}
			if st.Len() != len(cur) {
				t.Fatalf("seed %d step %d: %d observations kept, want %d", seed, step, st.Len(), len(cur))
			}
			for k := range cur {
				if _, ok := st.keys[st.hash(k)]; !ok {
					t.Fatalf("seed %d step %d: key %s not kept", seed, step, k)
				}
			}
			for k, so := range st.msgs {
				if !set.hostReads[so.kind] || cur[k] == nil {
					t.Fatalf("seed %d step %d: kept the message of %s (%s), which no host rule reads or the host no longer has", seed, step, k, so.kind)
				}
			}
			for k, o := range cur {
				if kind, _ := KindOf(o); set.hostReads[kind] && st.msgs[k].msg == nil {
					t.Fatalf("seed %d step %d: %s (%s) not kept, and a host rule reads it", seed, step, k, kind)
				}
			}
		}
	}
}

func text(fs []*fwv1.Finding) string {
	var s string
	for _, f := range fs {
		s += prototext.Format(f) + ";"
	}
	return s
}

// An exception that expires makes the kept findings stale: the state says
// so and refuses a change, and one built again judges everything again.
func TestHostStateExceptionExpiry(t *testing.T) {
	src := Source{Name: "org.yaml", Data: []byte(`exceptions:
  - id: it-anydesk
    rules: [remote-access-tool]
    reason: IT's own, until the contract ends
    expires: 2030-01-01
    when: process.name == "anydesk"
`)}
	set, err := Load(append(Builtin(), src), Options{})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2029, 12, 31, 23, 0, 0, 0, time.UTC)
	set.now = func() time.Time { return now }
	st := set.NewHostState(&fwv1.HostInfo{Os: "linux"}, nil)
	o := &fwv1.Observation{Key: "process/1", Kind: &fwv1.Observation_Process{Process: &fwv1.Process{Pid: 1, Name: "anydesk", Exe: "/usr/bin/anydesk"}}}
	suppressed := func(res *Result) bool {
		for _, f := range res.Findings {
			if f.Rule == "remote-access-tool" {
				return f.SuppressedBy != ""
			}
		}
		t.Fatal("no remote-access-tool finding")
		return false
	}
	must := func(res *Result, err error) *Result {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	hi := &fwv1.HostInfo{Os: "linux"}
	if !suppressed(must(st.Apply(true, []*fwv1.Observation{o}, nil))) {
		t.Fatal("the exception does not suppress before it expires")
	}
	if !st.Matches(set, hi, nil) || st.Stale() {
		t.Fatal("the state is stale before the exception expired")
	}
	now = now.Add(26 * time.Hour) // the exception holds through the end of its day
	if !st.Stale() || st.Matches(set, hi, nil) {
		t.Fatal("the state is not stale after the exception expired")
	}
	if res, err := st.Apply(false, nil, nil); !errors.Is(err, ErrStale) || res != nil {
		t.Fatalf("a change to a stale state: %v, %v; want ErrStale", res, err)
	}
	if suppressed(must(st.Apply(true, []*fwv1.Observation{o}, nil))) {
		t.Fatal("the finding is still suppressed after the exception expired and the state was built again")
	}
	if st.Stale() {
		t.Fatal("the state built again is stale")
	}
}

// TestEvaluateObservation: one observation judged alone gives exactly the
// findings of its scope's rules that judging a whole host gives on it, and
// none of the host rules'.
func TestEvaluateObservation(t *testing.T) {
	set, err := Load(Builtin(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	hi := &fwv1.HostInfo{Os: "linux", Hostname: "h"}
	var obs []*fwv1.Observation
	for i, n := range []string{"anydesk", "rustdesk", "bash", "teamviewer", "sshd", "x11vnc"} {
		obs = append(obs, &fwv1.Observation{Key: fmt.Sprintf("process/%d", i), Kind: &fwv1.Observation_Process{Process: &fwv1.Process{Pid: int32(i), Name: n, Exe: "/usr/bin/" + n}}})
	}
	whole := set.EvaluateOrg(hi, nil, obs)
	hostRuleHit := false
	for _, f := range whole.Findings {
		if set.Rule(f.Rule).Scope == "host" {
			hostRuleHit = true
		}
	}
	if !hostRuleHit {
		t.Fatal("no host rule fired on the whole host: the test shows nothing")
	}
	for _, o := range obs {
		var want []*fwv1.Finding
		for _, f := range whole.Findings {
			if set.Rule(f.Rule).Scope == "process" && slices.Contains(f.Evidence, o.Key) {
				want = append(want, f)
			}
		}
		got := set.EvaluateObservation(hi, nil, o)
		SortFindings(got.Findings)
		if a, b := text(got.Findings), text(want); a != b {
			t.Errorf("%s: alone\n%s\nwithin the host\n%s", o.Key, a, b)
		}
	}
	if r := set.EvaluateObservation(hi, nil, &fwv1.Observation{Key: "x"}); len(r.Findings) != 0 || len(r.Errors) != 0 {
		t.Errorf("an observation of no kind: %v", r)
	}
}
