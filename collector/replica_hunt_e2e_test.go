package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
)

// huntResult is what `hunt --format json` printed: each host's answer and
// the summary.
type huntResult struct {
	answers map[string][]string // hostname -> the process names it matched
	errors  map[string]string   // hostname -> its error
	summary map[string]int
}

func parseHunt(t *testing.T, out []byte) huntResult {
	t.Helper()
	r := huntResult{answers: map[string][]string{}, errors: map[string]string{}}
	sc := bufio.NewScanner(strings.NewReader(string(out)))
	sc.Buffer(nil, 1<<24)
	for sc.Scan() {
		var line map[string]json.RawMessage
		if json.Unmarshal(sc.Bytes(), &line) != nil {
			t.Fatalf("hunt line %q", sc.Text())
		}
		if s, ok := line["summary"]; ok {
			json.Unmarshal(s, &r.summary)
			continue
		}
		// One line per row matched, and one per host's error.
		var a struct {
			Hostname    string `json:"hostname"`
			Error       string `json:"error"`
			Observation *struct {
				Process struct {
					Name string `json:"name"`
				} `json:"process"`
			} `json:"observation"`
		}
		if err := json.Unmarshal(sc.Bytes(), &a); err != nil {
			t.Fatalf("hunt line %q: %v", sc.Text(), err)
		}
		if a.Error != "" {
			r.errors[a.Hostname] = a.Error
		}
		if a.Observation != nil && !slices.Contains(r.answers[a.Hostname], a.Observation.Process.Name) {
			r.answers[a.Hostname] = append(r.answers[a.Hostname], a.Observation.Process.Name)
		}
	}
	return r
}

// TestReplicaHunt: two replicas, fleetsim agents on each and a real agent
// on one. A hunt asked of either replica reaches every agent of the fleet,
// whichever replica holds it; the answers of the other replica's agents
// stream back, and the summary counts the whole fleet. With the other
// replica killed (-9) before it can answer, its agents are in the summary
// as failed, each named, and the hunt still ends.
func TestReplicaHunt(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binaries")
	}
	f := newPGFleet(t)
	sim := build(t, f.dir, "./collector/fleetsim", "fleetsim")
	addrA, addrB := freeAddr(t), freeAddr(t)
	a, b := f.replica(addrA), f.replica(addrB)
	logs := []*proc{a.p, b.p}
	waitUntil(t, "both replicas serving", 20*time.Second, func() bool {
		_, errA := f.cliAt(addrA, "hosts")
		_, errB := f.cliAt(addrB, "hosts")
		return errA == nil && errB == nil
	}, logs...)
	// Fleetsim agents: 4 on a, 3 on b (each run would name its hosts
	// alike: each is given its own names through its identities file),
	// without churn, so that each keeps the process hunted (gopls).
	simOn := func(addr string, n int, ids string) *proc {
		var lines []string
		for i := range n {
			b, _ := json.Marshal(map[string]string{"host_id": uuid.NewString(), "hostname": fmt.Sprintf("%s-%d", strings.TrimSuffix(ids, ".json"), i)})
			lines = append(lines, string(b))
		}
		if err := os.WriteFile(filepath.Join(f.dir, ids), []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		return startProc(t, sim, "--collector", addr, "--ca", filepath.Join(f.data, "ca.crt"), "--enroll-secret-file", filepath.Join(f.data, "enroll-secret"),
			"--agents", fmt.Sprint(n), "--duration", "10m", "--interval", "2s", "--processes", "60", "--churn", "0", "--identities", filepath.Join(f.dir, ids))
	}
	simA, simB := simOn(addrA, 4, "ids-a.json"), simOn(addrB, 3, "ids-b.json")
	logs = append(logs, simA, simB)
	cfg := filepath.Join(f.dir, "agent.yaml")
	if err := os.WriteFile(cfg, []byte("max_cpu_percent: 0\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ag := startProc(t, f.agent, "run", "--collector", addrA, "--ca", filepath.Join(f.data, "ca.crt"),
		"--enroll-secret-file", filepath.Join(f.data, "enroll-secret"), "--state", filepath.Join(f.dir, "agent"), "--interval", "2s",
		"--snapshot", "../testdata/hosts/linux-anydesk-rustdesk.txtar", "--config", cfg)
	logs = append(logs, ag)
	type hostRow struct {
		Hostname string `json:"hostname"`
		Online   bool   `json:"online"`
	}
	var hosts []string
	waitUntil(t, "8 hosts online at both replicas", 90*time.Second, func() bool {
		for _, addr := range []string{addrA, addrB} {
			out, err := f.cliAt(addr, "hosts")
			var hs []hostRow
			if err != nil || json.Unmarshal(out, &hs) != nil || len(hs) != 8 {
				return false
			}
			hosts = hosts[:0]
			for _, h := range hs {
				if !h.Online {
					return false
				}
				hosts = append(hosts, h.Hostname)
			}
		}
		return true
	}, logs...)
	onB := map[string]bool{}
	for _, h := range hosts {
		onB[h] = f.holder(h) == addrB
	}
	hunt := func(addr, timeout string) huntResult {
		t.Helper()
		out, err := f.cliAt(addr, "hunt", "--kind", "process", `process.name in ["anydesk", "gopls"]`, "--timeout", timeout)
		if err != nil {
			t.Fatalf("hunt at %s: %v\n%s\nA:\n%s\nB:\n%s", addr, err, out, a.p.log, b.p.log)
		}
		return parseHunt(t, out)
	}
	for _, addr := range []string{addrB, addrA} {
		start := time.Now()
		r := hunt(addr, "30s")
		t.Logf("hunt asked of %s: %s, summary %v", addr, time.Since(start), r.summary)
		if r.summary["asked"] != 8 || r.summary["answered"] != 8 || r.summary["failed"] != 0 || r.summary["timed_out"] != 0 || r.summary["matched"] != 8 {
			t.Errorf("hunt at %s: summary %v, errors %v; want 8 asked, answered and matched", addr, r.summary, r.errors)
		}
		for _, h := range hosts {
			want := []string{"anydesk"} // the real agent's
			if strings.HasPrefix(h, "ids-") {
				want = []string{"gopls"} // fleetsim's
			}
			if got := r.answers[h]; !slices.Equal(got, want) {
				t.Errorf("hunt at %s: %s (on b: %v) matched %v, want %v", addr, h, onB[h], got, want)
			}
		}
	}
	// b dies; asked at once (b still looks alive for a few seconds), a
	// hunt counts b's agents as failed, and ends at its time.
	b.kill()
	r := hunt(addrA, "6s")
	var failed []string
	for h, e := range r.errors {
		if !strings.Contains(e, "did not take the hunt") {
			t.Errorf("%s: error %q", h, e)
		}
		failed = append(failed, h)
	}
	sort.Strings(failed)
	var want []string
	for h, on := range onB {
		if on {
			want = append(want, h)
		}
	}
	sort.Strings(want)
	if r.summary["asked"] != 8 || r.summary["answered"] != 5 || r.summary["failed"] != 3 || r.summary["timed_out"] != 0 || !slices.Equal(failed, want) {
		t.Errorf("hunt with b dead: summary %v, failed %v; want 8 asked, 5 answered, %v failed", r.summary, failed, want)
	}
}
