// Package report is what a scan's result looks like to people and tools,
// the same in both binaries: the verdict a helpdesk reads first, the order
// and names of severities, the JSON contract of `scan --format json`, the
// table with each finding's evidence described in words. The verdict is
// computed here and only here.
package report

import (
	"fmt"

	"github.com/farmwatch/farmwatch/observation"
	fwv1 "github.com/farmwatch/farmwatch/proto/farmwatch/v1"
)

// kinds names the kinds of observation, for the JSON and the descriptions.
var kinds = observation.Kinds()

// severities in order, as rule files, --fail-on and --severity spell them.
var severities = []struct {
	name string
	sev  fwv1.Severity
}{
	{"info", fwv1.Severity_SEVERITY_INFO},
	{"low", fwv1.Severity_SEVERITY_LOW},
	{"medium", fwv1.Severity_SEVERITY_MEDIUM},
	{"high", fwv1.Severity_SEVERITY_HIGH},
	{"critical", fwv1.Severity_SEVERITY_CRITICAL},
}

// ParseSeverity parses "info" ... "critical".
func ParseSeverity(s string) (fwv1.Severity, error) {
	for _, v := range severities {
		if v.name == s {
			return v.sev, nil
		}
	}
	return 0, fmt.Errorf("severity %q: want info, low, medium, high or critical", s)
}

// SeverityName is the lowercase name of a severity ("high"), or
// "unspecified".
func SeverityName(s fwv1.Severity) string {
	for _, v := range severities {
		if v.sev == s {
			return v.name
		}
	}
	return "unspecified"
}

// Standing returns the findings that no exception suppressed.
func Standing(rep *fwv1.Report) []*fwv1.Finding {
	var out []*fwv1.Finding
	for _, f := range rep.GetFindings() {
		if f.SuppressedBy == "" {
			out = append(out, f)
		}
	}
	return out
}

// Worst returns the highest severity among standing findings.
func Worst(rep *fwv1.Report) fwv1.Severity {
	return WorstOf(rep.GetFindings())
}

// WorstOf returns the highest severity among the findings that no
// exception suppressed; SEVERITY_UNSPECIFIED when there are none.
func WorstOf(fs []*fwv1.Finding) fwv1.Severity {
	w := fwv1.Severity_SEVERITY_UNSPECIFIED
	for _, f := range fs {
		if f.GetSuppressedBy() == "" && f.GetSeverity() > w {
			w = f.GetSeverity()
		}
	}
	return w
}
