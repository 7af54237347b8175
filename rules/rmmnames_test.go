package rules

import (
	"bufio"
	"fmt"
	"os"
	"sort"
	"strings"
	"testing"

	fwv1 "github.com/farmwatch/farmwatch/proto/farmwatch/v1"
	"go.yaml.in/yaml/v3"
)

// The remote-access name measurement. testdata/rmmnames/remote.tsv holds real
// process names of remote-access tools per OS, collected from public
// detection content and packaging (each row names its source) that the
// lists in rmm_lists.yaml were not generated from; about 30 % of them are
// held out (the split column, fixed by a hash of os and name before any rule
// was written for them). testdata/rmmnames/benign.tsv holds common processes
// of each OS that are not remote-access tools. The test reports the flag rate
// per OS and split and fails on any benign name flagged, on a held-out rate
// below the floor, and on a held-out name written into rmmgen/extra.yaml
// (held-out names must be caught by product-level patterns, not listed).
//
// Re-run: go test ./rules -run TestRemoteAccessNames -v

// rmmNameRules are the rules whose findings count as "flagged".
var rmmNameRules = map[string]bool{"remote-access-tool": true, "crd-unattended": true, "crd-pin-setup": true}

// rmmHoldoutFloor is the held-out flag rate (all OSes) this branch reached
// (156 of 158; 138 of 158 before the product stems); a change that loses
// any of it fails.
const rmmHoldoutFloor = 0.98

type nameRow struct{ os, name, vendor, split, source string }

func readNameRows(t *testing.T, path string, cols int) []nameRow {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []nameRow
	sc := bufio.NewScanner(f)
	for ln := 1; sc.Scan(); ln++ {
		l := sc.Text()
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		p := strings.Split(l, "\t")
		if len(p) < cols {
			t.Fatalf("%s:%d: want %d tab-separated columns, got %d", path, ln, cols, len(p))
		}
		r := nameRow{os: p[0], name: p[1]}
		if cols >= 5 {
			r.vendor, r.split, r.source = p[2], p[3], p[4]
		}
		switch r.os {
		case "windows", "darwin", "linux":
		default:
			t.Fatalf("%s:%d: os %q", path, ln, r.os)
		}
		out = append(out, r)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// flagged reports whether a process of this bare name (no path, no version
// resource: the least the agent may know) is flagged, and the label.
func flagged(t *testing.T, s *Set, osName, name string) (bool, string) {
	t.Helper()
	obs := []*fwv1.Observation{{Key: "process/1", Kind: &fwv1.Observation_Process{Process: &fwv1.Process{Pid: 1, Name: name, Username: "alice"}}}}
	res := s.Evaluate(&fwv1.HostInfo{Os: osName}, obs)
	if len(res.Errors) > 0 {
		t.Fatalf("%s %q: %v", osName, name, res.Errors)
	}
	for _, f := range res.Findings {
		if rmmNameRules[f.Rule] {
			return true, f.Label
		}
	}
	return false, ""
}

func TestRemoteAccessNames(t *testing.T) {
	s, err := Load(Builtin(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	remote := readNameRows(t, "testdata/rmmnames/remote.tsv", 5)
	benign := readNameRows(t, "testdata/rmmnames/benign.tsv", 2)

	type tally struct{ hit, all int }
	rates := map[string]*tally{}
	var misses []string
	for _, r := range remote {
		ok, _ := flagged(t, s, r.os, r.name)
		for _, k := range []string{r.split + " " + r.os, r.split + " all"} {
			if rates[k] == nil {
				rates[k] = &tally{}
			}
			rates[k].all++
			if ok {
				rates[k].hit++
			}
		}
		if !ok {
			misses = append(misses, fmt.Sprintf("%s %s %q (%s)", r.split, r.os, r.name, r.vendor))
		}
	}
	keys := make([]string, 0, len(rates))
	for k := range rates {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		r := rates[k]
		t.Logf("%-16s %3d/%3d flagged (%.1f %%)", k, r.hit, r.all, 100*float64(r.hit)/float64(r.all))
	}
	for _, m := range misses {
		t.Logf("missed: %s", m)
	}

	fp := 0
	for _, r := range benign {
		if ok, label := flagged(t, s, r.os, r.name); ok {
			fp++
			t.Errorf("benign %s process %q flagged as %s", r.os, r.name, label)
		}
	}
	t.Logf("benign: %d of %d flagged", fp, len(benign))

	if h := rates["holdout all"]; h == nil || float64(h.hit)/float64(h.all) < rmmHoldoutFloor {
		t.Errorf("held-out flag rate below the floor %.3f", rmmHoldoutFloor)
	}

	// Held-out names must be caught by product-level patterns, not written
	// into the curated supplement. Four were listed there before the split
	// was drawn (main at 8a4dd38) and stay.
	before := map[string]bool{"krfb": true, "nxserver.bin": true, "x11vnc": true, "xrdp": true}
	raw, err := os.ReadFile("rmmgen/extra.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var extra struct {
		Entries []struct {
			ProcessNames      []string `yaml:"process_names"`
			OriginalFilenames []string `yaml:"original_filenames"`
		} `yaml:"entries"`
	}
	if err := yaml.Unmarshal(raw, &extra); err != nil {
		t.Fatal(err)
	}
	listed := map[string]bool{}
	for _, e := range extra.Entries {
		for _, n := range append(e.ProcessNames, e.OriginalFilenames...) {
			listed[strings.ToLower(n)] = true
		}
	}
	for _, r := range remote {
		if n := strings.ToLower(r.name); r.split == "holdout" && listed[n] && !before[n] {
			t.Errorf("held-out name %q (%s) is listed in rmmgen/extra.yaml: held-out names must be caught by product-level patterns", r.name, r.os)
		}
	}
}
