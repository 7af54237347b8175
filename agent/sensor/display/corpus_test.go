package display

import (
	"encoding/csv"
	"fmt"
	"os"
	"path/filepath"
	"slices"
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

// categoryWant is what the built-in display rules must say of every EDID of
// a corpus category, each given as the display of a connected HDMI
// connector. Every category of the corpus has one (corpusWant); a category
// without one fails the test.
type categoryWant struct {
	// flaggedBy: each EDID gives a finding of one of these rules; none:
	// the category need not be flagged.
	flaggedBy []string
	// labelPrefix: the label of that finding starts with it.
	labelPrefix string
	// alsoAllowed: rules that may fire besides flaggedBy; no other may.
	alsoAllowed []string
	// atMost: no finding above this severity.
	atMost fwv1.Severity
}

// ruleless: a real display; no finding at all.
var ruleless = categoryWant{}

// kvmProject is an EDID that an IP-KVM project ships: edid-kvm-identity
// names the product; edid-capture-bridge may add the TC358743 bridge its
// EDID comes from, and edid-malformed a hand-edited EDID (its description
// names BliKVM's).
func kvmProject(product string) categoryWant {
	return categoryWant{flaggedBy: []string{"edid-kvm-identity"}, labelPrefix: product,
		alsoAllowed: []string{"edid-capture-bridge", "edid-malformed"}, atMost: fwv1.Severity_SEVERITY_HIGH}
}

// notAMonitor: a capture dongle, dummy plug, kernel-generated or virtual
// machine EDID, each named in edid-capture-bridge's description; only that
// rule, at its medium severity.
var notAMonitor = categoryWant{flaggedBy: []string{"edid-capture-bridge"}, atMost: fwv1.Severity_SEVERITY_MEDIUM}

// avPath: a KVM switch, splitter, matrix or extender. They are ambiguous
// (testdata/edid/PROVENANCE.md): offices use them too. edid-av-path is the
// rule for them ("context for the other findings, not a verdict alone",
// low; its list's sources are these linuxhw EDIDs): each is flagged by it,
// by no other rule, and never above low.
var avPath = categoryWant{flaggedBy: []string{"edid-av-path"}, atMost: fwv1.Severity_SEVERITY_LOW}

// corpusWant holds every category of testdata/edid: the manifests'
// category column, and edid_kvm/<project> for the KVM projects' files.
var corpusWant = map[string]categoryWant{
	"monitor":                    ruleless,
	"laptop_panel":               ruleless,
	"analog":                     ruleless,
	"fp_trap_gpu_default_panel":  ruleless,
	"fp_trap_tc358743_lookalike": ruleless,
	// edid_suspect/manifest_structural.csv: real panels behind a bridge
	// chip (its id, a mode for a name, the TC358743 serial), monitors with
	// a bad extension checksum or a week past 54, a TV on an AV maker's id.
	"fp_trap_bridge_panel":  ruleless,
	"fp_trap_bad_extension": ruleless,
	"fp_trap_av_maker_id":   ruleless,
	// An HDMI receiver chip's default EDID (Lontium), named by the chip.
	"bridge_chip_default":         notAMonitor,
	"kvm_switch_console":          avPath,
	"av_infrastructure_ambiguous": avPath,
	"capture_dongle":              notAMonitor,
	"dummy_headless_emulator":     notAMonitor,
	"linux_kernel_generated":      notAMonitor,
	"virtual_vm":                  notAMonitor,
	// linuxhw EDIDs of IP-KVMs: PiKVM's LNX/TSB 0x8888 and ADV-KVM-IP.
	"ip_kvm":             {flaggedBy: []string{"edid-kvm-identity"}, alsoAllowed: []string{"edid-capture-bridge"}, atMost: fwv1.Severity_SEVERITY_HIGH},
	"edid_kvm/pikvm":     kvmProject("PiKVM"),
	"edid_kvm/glkvm":     kvmProject("PiKVM"), // GL.iNet ships PiKVM's EDIDs
	"edid_kvm/tinypilot": kvmProject("TinyPilot"),
	"edid_kvm/jetkvm":    kvmProject("JetKVM"),
	"edid_kvm/nanokvm":   kvmProject("NanoKVM"),
	"edid_kvm/blikvm":    kvmProject("BliKVM"),
}

// check returns what is wrong with the findings of one EDID.
func (w categoryWant) check(fs []*fwv1.Finding) []string {
	var bad []string
	flagged := false
	for _, f := range fs {
		switch {
		case slices.Contains(w.flaggedBy, f.Rule):
			if strings.HasPrefix(f.Label, w.labelPrefix) {
				flagged = true
			} else {
				bad = append(bad, fmt.Sprintf("%s labelled %q, want %s", f.Rule, f.Label, w.labelPrefix))
			}
		case slices.Contains(w.alsoAllowed, f.Rule):
		default:
			bad = append(bad, fmt.Sprintf("%s fired, want only %v", f.Rule, append(slices.Clone(w.flaggedBy), w.alsoAllowed...)))
		}
		if f.Severity > w.atMost {
			bad = append(bad, fmt.Sprintf("%s at %s, want at most %s", f.Rule, report.SeverityName(f.Severity), report.SeverityName(w.atMost)))
		}
	}
	if len(w.flaggedBy) > 0 && !flagged {
		bad = append(bad, fmt.Sprintf("not flagged by %v", w.flaggedBy))
	}
	return bad
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
	for _, m := range []string{"edid_monitors/manifest.csv", "edid_suspect/manifest.csv", "edid_suspect/manifest_structural.csv"} {
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
// built-in rules, as the display of an HDMI connector, checks each against
// its category's corpusWant, and prints a confusion matrix per category.
// A category of the corpus without an expectation fails, and so does an
// expectation without EDIDs or naming a rule that rules/display.yaml lacks.
func TestCorpus(t *testing.T) {
	set, err := rules.Load(rules.Builtin(), rules.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for cat, w := range corpusWant {
		for _, id := range append(slices.Clone(w.flaggedBy), w.alsoAllowed...) {
			if r := set.Rule(id); r == nil || r.File != "builtin:display.yaml" {
				t.Errorf("category %s: %s is not a rule of rules/display.yaml", cat, id)
			}
		}
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
		for _, f := range res.Findings {
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
		if len(res.Findings) > 0 {
			r.flagged++
		} else {
			r.clean++
		}
		w, ok := corpusWant[c.category]
		if !ok {
			t.Errorf("%s: category %q has no expectation in corpusWant", c.name, c.category)
			continue
		}
		for _, b := range w.check(res.Findings) {
			t.Errorf("%s (%s, %s %q): %s", c.name, c.category, d.Edid.Manufacturer, d.Edid.MonitorName, b)
		}
	}
	for cat := range corpusWant {
		if matrix[cat] == nil {
			t.Errorf("category %s has an expectation but no EDID in the corpus", cat)
		}
	}
	cats := make([]string, 0, len(matrix))
	for c := range matrix {
		cats = append(cats, c)
	}
	sort.Strings(cats)
	var sb strings.Builder
	fmt.Fprintf(&sb, "\n%-30s %-22s %7s %7s  %s\n", "category", "expected", "flagged", "clean", "rules")
	for _, c := range cats {
		want := "none"
		if w := corpusWant[c]; len(w.flaggedBy) > 0 {
			want = strings.Join(w.flaggedBy, ",")
		}
		var rs []string
		for r, n := range byRule[c] {
			rs = append(rs, fmt.Sprintf("%s:%d", r, n))
		}
		sort.Strings(rs)
		fmt.Fprintf(&sb, "%-30s %-22s %7d %7d  %s\n", c, want, matrix[c].flagged, matrix[c].clean, strings.Join(rs, " "))
	}
	t.Log(sb.String())
}

// TestCorpusWantCatchesFaults shows that each part of a category's
// expectation fails when the findings break it.
func TestCorpusWantCatchesFaults(t *testing.T) {
	f := func(rule string, sev fwv1.Severity, label string) *fwv1.Finding {
		return &fwv1.Finding{Rule: rule, Severity: sev, Label: label}
	}
	high, medium, low := fwv1.Severity_SEVERITY_HIGH, fwv1.Severity_SEVERITY_MEDIUM, fwv1.Severity_SEVERITY_LOW
	for _, c := range []struct {
		name string
		want categoryWant
		fs   []*fwv1.Finding
		ok   bool
	}{
		{"pikvm as pikvm", corpusWant["edid_kvm/pikvm"], []*fwv1.Finding{f("edid-kvm-identity", high, "PiKVM"), f("edid-capture-bridge", medium, "x")}, true},
		{"kvm not flagged", corpusWant["edid_kvm/pikvm"], nil, false},
		{"kvm flagged only by an allowed rule", corpusWant["edid_kvm/pikvm"], []*fwv1.Finding{f("edid-capture-bridge", medium, "")}, false},
		{"kvm named as another product", corpusWant["edid_kvm/pikvm"], []*fwv1.Finding{f("edid-kvm-identity", high, "TinyPilot")}, false},
		{"kvm flagged by a rule not meant for it", corpusWant["ip_kvm"], []*fwv1.Finding{f("edid-kvm-identity", high, "IP-KVM"), f("clamshell", low, "")}, false},
		{"monitor flagged", corpusWant["monitor"], []*fwv1.Finding{f("edid-malformed", low, "")}, false},
		{"switch as context", corpusWant["kvm_switch_console"], []*fwv1.Finding{f("edid-av-path", low, "KVM switch")}, true},
		{"switch unflagged", corpusWant["kvm_switch_console"], nil, false},
		{"switch above low", corpusWant["kvm_switch_console"], []*fwv1.Finding{f("edid-av-path", medium, "KVM switch")}, false},
		{"switch as an ip-kvm", corpusWant["av_infrastructure_ambiguous"], []*fwv1.Finding{f("edid-av-path", low, "HDMI matrix"), f("edid-kvm-identity", high, "IP-KVM")}, false},
		{"dongle above medium", corpusWant["capture_dongle"], []*fwv1.Finding{f("edid-capture-bridge", high, "")}, false},
	} {
		if bad := c.want.check(c.fs); (len(bad) == 0) != c.ok {
			t.Errorf("%s: check says %v, want ok %v", c.name, bad, c.ok)
		}
	}
}
