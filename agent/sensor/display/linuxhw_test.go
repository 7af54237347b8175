package display

import (
	"bufio"
	"encoding/csv"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/farmwatch/farmwatch/agent/edid"
	fwv1 "github.com/farmwatch/farmwatch/proto/farmwatch/v1"
	"github.com/farmwatch/farmwatch/rules"
)

// linuxhwCommit is the linuxhw/EDID commit the reviewed list was made on.
const linuxhwCommit = "cc83e52221a9a6d98632f00b54be64fd0bee0394"

// TestLinuxhw runs every EDID of a linuxhw/EDID checkout (CC-BY-4.0; the
// collection hw-probe users upload, 141,906 EDIDs at linuxhwCommit) through
// the parser and the built-in display rules, as TestCorpus does, to count
// false positives on real monitors and laptop panels. It runs only when
// FARMWATCH_LINUXHW names either a checkout of github.com/linuxhw/EDID (its
// Digital/ and Analog/ trees) or a file of "PATH<TAB>HEX" lines made from
// one.
//
// Every EDID the rules flag must be in testdata/edid/linuxhw_flagged.csv,
// the list of the flagged EDIDs reviewed by hand, each with what it is
// (capture, bridge, converter, kvm, av, dummy, virtual, kernel) and never
// "monitor": a new rule that flags a real display fails here, and one
// that flags a device not yet reviewed fails until it is reviewed.
// FARMWATCH_LINUXHW_OUT, when set, names a file the flagged EDIDs are
// written to in that list's format, for the review.
func TestLinuxhw(t *testing.T) {
	src := os.Getenv("FARMWATCH_LINUXHW")
	if src == "" {
		t.Skip("FARMWATCH_LINUXHW is not set (a checkout of github.com/linuxhw/EDID, or PATH<TAB>HEX lines)")
	}
	set, err := rules.Load(rules.Builtin(), rules.Options{})
	if err != nil {
		t.Fatal(err)
	}
	reviewed := readReviewed(t)
	var flagged [][]string
	total, flaggedN, fp := 0, 0, 0
	byRule := map[string]int{}
	eachLinuxhw(t, src, func(path string, raw []byte) {
		total++
		d := &fwv1.Display{Connector: "card1-HDMI-A-1", Status: "connected", Enabled: true, Adapter: "card1", Driver: "i915", Edid: Edid(raw)}
		obs := []*fwv1.Observation{{Key: DisplayKey(d), Kind: &fwv1.Observation_Display{Display: d}}}
		res := set.Evaluate(&fwv1.HostInfo{Os: "linux"}, obs)
		if len(res.Errors) > 0 {
			t.Errorf("%s: rule errors: %v", path, res.Errors)
		}
		if len(res.Findings) == 0 {
			return
		}
		flaggedN++
		var rs []string
		for _, f := range res.Findings {
			rs = append(rs, f.Rule)
			byRule[f.Rule]++
		}
		sort.Strings(rs)
		what, ok := reviewed[path]
		switch {
		case !ok:
			t.Errorf("%s (%s %q): flagged by %v, not reviewed in testdata/edid/linuxhw_flagged.csv", path, d.Edid.Manufacturer, d.Edid.MonitorName, rs)
			what = "?"
		case what == "monitor":
			fp++
			t.Errorf("%s (%s %q): a real display, flagged by %v", path, d.Edid.Manufacturer, d.Edid.MonitorName, rs)
		}
		flagged = append(flagged, []string{path, what, d.Edid.Manufacturer, d.Edid.MonitorName, strings.Join(rs, " ")})
	})
	if total == 0 {
		t.Fatalf("no EDIDs in %s", src)
	}
	t.Logf("linuxhw/EDID: %d EDIDs, %d flagged (%v), %d of them real displays", total, flaggedN, byRule, fp)
	if out := os.Getenv("FARMWATCH_LINUXHW_OUT"); out != "" {
		sort.Slice(flagged, func(i, j int) bool { return flagged[i][0] < flagged[j][0] })
		f, err := os.Create(out)
		if err != nil {
			t.Fatal(err)
		}
		w := csv.NewWriter(f)
		w.Write([]string{"path", "what", "manufacturer", "name", "rules"})
		w.WriteAll(flagged)
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

// readReviewed reads testdata/edid/linuxhw_flagged.csv: path to what.
func readReviewed(t *testing.T) map[string]string {
	t.Helper()
	f, err := os.Open(filepath.Join(corpusDir, "linuxhw_flagged.csv"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r := csv.NewReader(f)
	r.Comment = '#'
	recs, err := r.ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, rec := range recs[1:] {
		out[rec[0]] = rec[1]
	}
	return out
}

// linuxhwFile matches the path of one EDID in the linuxhw tree.
var linuxhwFile = regexp.MustCompile(`^(Digital|Analog)/[^/]+/[^/]+/[0-9A-F]{12}$`)

// eachLinuxhw calls fn with each EDID of src: a linuxhw checkout, or a file
// of PATH<TAB>HEX lines. Files without a full block are skipped.
func eachLinuxhw(t *testing.T, src string, fn func(path string, raw []byte)) {
	t.Helper()
	st, err := os.Stat(src)
	if err != nil {
		t.Fatal(err)
	}
	one := func(path, text string) {
		raw, err := edid.DecodeHex(linuxhwHex(text))
		if err != nil || len(raw) < edid.BlockSize {
			return
		}
		fn(path, raw)
	}
	if !st.IsDir() {
		f, err := os.Open(src)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		sc := bufio.NewScanner(f)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			if p, h, ok := strings.Cut(sc.Text(), "\t"); ok {
				one(p, h)
			}
		}
		if err := sc.Err(); err != nil {
			t.Fatal(err)
		}
		return
	}
	err = filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		rel = filepath.ToSlash(rel)
		if !linuxhwFile.MatchString(rel) {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		one(rel, string(b))
		return nil
	})
	if err != nil {
		t.Fatal(fmt.Errorf("walk %s: %w", src, err))
	}
}

// linuxhwHex is the hex dump of a linuxhw file: the lines before the
// "----" that starts edid-decode's text, less the "edid-decode (hex):"
// title; a line of PATH<TAB>HEX is returned as it is.
func linuxhwHex(text string) string {
	if i := strings.Index(text, "----"); i >= 0 {
		text = text[:i]
	}
	return strings.Replace(text, "edid-decode (hex):", "", 1)
}
