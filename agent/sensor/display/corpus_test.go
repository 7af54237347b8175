package display

import (
	"encoding/csv"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/farmwatch/farmwatch/agent/edid"
	fwv1 "github.com/farmwatch/farmwatch/proto/farmwatch/v1"
	"github.com/farmwatch/farmwatch/report"
	"github.com/farmwatch/farmwatch/rules"
)

const corpusDir = "../../../testdata/edid"

// corpusCase is one EDID of the corpus with what it must give.
type corpusCase struct {
	name     string // file, for messages
	category string
	raw      []byte
}

// expectation of a category: a finding required, none allowed, or reported only.
type expectation int

const (
	mustFlag expectation = iota
	mustNotFlag
	reportOnly
)

func expect(category string) expectation {
	switch {
	case strings.HasPrefix(category, "fp_trap_"), category == "monitor", category == "laptop_panel", category == "analog":
		return mustNotFlag
	case category == "kvm_switch_console", category == "av_infrastructure_ambiguous":
		return reportOnly
	}
	return mustFlag // ip_kvm, capture_dongle, dummy_headless_emulator, linux_kernel_generated, virtual_vm, edid_kvm/*
}

func loadCorpus(t *testing.T) []corpusCase {
	t.Helper()
	var out []corpusCase
	files, err := filepath.Glob(filepath.Join(corpusDir, "edid_kvm", "*", "*"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no edid_kvm files: %v", err)
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasSuffix(f, ".bin") {
			if b, err = edid.DecodeHex(string(b)); err != nil {
				t.Fatalf("%s: %v", f, err)
			}
		}
		rel, _ := filepath.Rel(corpusDir, f)
		out = append(out, corpusCase{name: rel, category: "edid_kvm/" + filepath.Base(filepath.Dir(f)), raw: b})
	}
	for _, m := range []string{"edid_monitors/manifest.csv", "edid_suspect/manifest.csv"} {
		fh, err := os.Open(filepath.Join(corpusDir, m))
		if err != nil {
			t.Fatal(err)
		}
		recs, err := csv.NewReader(fh).ReadAll()
		fh.Close()
		if err != nil {
			t.Fatalf("%s: %v", m, err)
		}
		col := map[string]int{}
		for i, k := range recs[0] {
			col[k] = i
		}
		for _, r := range recs[1:] {
			b, err := edid.DecodeHex(r[col["edid_hex"]])
			if err != nil {
				t.Fatalf("%s %s: %v", m, r[col["file"]], err)
			}
			out = append(out, corpusCase{name: filepath.Dir(m) + "/" + r[col["file"]], category: r[col["category"]], raw: b})
		}
	}
	return out
}

// TestCorpus runs every EDID of testdata/edid through the parser and the
// built-in rules, as the display of an HDMI connector, and prints a
// confusion matrix per category. It fails when a real monitor or panel, or
// a false-positive trap, gives a finding, or when a KVM, capture, dummy,
// kernel-generated or virtual-machine EDID gives none. The ambiguous
// categories are printed only.
func TestCorpus(t *testing.T) {
	set, err := rules.Load(rules.Builtin(), rules.Options{})
	if err != nil {
		t.Fatal(err)
	}
	type row struct{ flagged, clean int }
	matrix := map[string]*row{}
	byRule := map[string]map[string]int{}
	for _, c := range loadCorpus(t) {
		d := &fwv1.Display{Connector: "card1-HDMI-A-1", Status: "connected", Enabled: true, Adapter: "card1", Driver: "i915", Edid: Edid(c.raw)}
		obs := []*fwv1.Observation{{Key: DisplayKey(d), Kind: &fwv1.Observation_Display{Display: d}}}
		res := set.Evaluate(&fwv1.HostInfo{Os: "linux"}, obs)
		if len(res.Errors) > 0 {
			t.Errorf("%s: rule errors: %v", c.name, res.Errors)
		}
		var hits []string
		for _, f := range res.Findings {
			hits = append(hits, f.Rule+"("+report.SeverityName(f.Severity)+")")
			if byRule[c.category] == nil {
				byRule[c.category] = map[string]int{}
			}
			byRule[c.category][f.Rule]++
		}
		r := matrix[c.category]
		if r == nil {
			r = &row{}
			matrix[c.category] = r
		}
		if len(hits) > 0 {
			r.flagged++
		} else {
			r.clean++
		}
		switch expect(c.category) {
		case mustFlag:
			if len(hits) == 0 {
				t.Errorf("%s (%s, %s %q): no finding, want one", c.name, c.category, d.Edid.Manufacturer, d.Edid.MonitorName)
			}
		case mustNotFlag:
			if len(hits) > 0 {
				t.Errorf("%s (%s, %s %q): findings %v, want none", c.name, c.category, d.Edid.Manufacturer, d.Edid.MonitorName, hits)
			}
		}
	}
	cats := make([]string, 0, len(matrix))
	for c := range matrix {
		cats = append(cats, c)
	}
	sort.Strings(cats)
	var sb strings.Builder
	fmt.Fprintf(&sb, "\n%-30s %-9s %7s %7s  %s\n", "category", "expected", "flagged", "clean", "rules")
	for _, c := range cats {
		want := map[expectation]string{mustFlag: "finding", mustNotFlag: "none", reportOnly: "report"}[expect(c)]
		var rs []string
		for r, n := range byRule[c] {
			rs = append(rs, fmt.Sprintf("%s:%d", r, n))
		}
		sort.Strings(rs)
		fmt.Fprintf(&sb, "%-30s %-9s %7d %7d  %s\n", c, want, matrix[c].flagged, matrix[c].clean, strings.Join(rs, " "))
	}
	t.Log(sb.String())
}
