package report

import (
	"fmt"
	"io"
	"strings"

	fwv1 "github.com/farmwatch/farmwatch/proto/farmwatch/v1"
)

// TableOptions change the table rendering.
type TableOptions struct {
	Color bool
	Rule  string // only this rule's findings (--explain)
}

const (
	reset  = "\x1b[0m"
	bold   = "\x1b[1m"
	dim    = "\x1b[2m"
	red    = "\x1b[31m"
	yellow = "\x1b[33m"
	green  = "\x1b[32m"
	cyan   = "\x1b[36m"
)

// Table renders a report for people: the verdict, then the findings by
// severity with their evidence described in words, then what was
// suppressed, then how each sensor ran.
func Table(w io.Writer, rep *fwv1.Report, o TableOptions) error {
	c := func(code, s string) string {
		if !o.Color {
			return s
		}
		return code + s + reset
	}
	var b strings.Builder
	vc := green
	switch w := Worst(rep); {
	case w >= fwv1.Severity_SEVERITY_HIGH:
		vc = red
	case w == fwv1.Severity_SEVERITY_MEDIUM:
		vc = yellow
	}
	for _, line := range strings.Split(rep.Verdict, "\n") {
		b.WriteString(c(bold+vc, Clean(line)) + "\n")
	}
	h := rep.Host
	when := ""
	if h.GetCaptured() != nil {
		when = h.Captured.AsTime().UTC().Format("2006-01-02 15:04 UTC")
	}
	fmt.Fprintf(&b, "%s\n", c(dim, Clean(fmt.Sprintf("host %s (%s), %s, %s; %d observations", h.GetHostname(), h.GetOs(), sourceWords(h.GetSource()), when, len(rep.Observations)))))
	byKey := map[string]*fwv1.Observation{}
	for _, ob := range rep.Observations {
		byKey[ob.Key] = ob
	}
	var standing, suppressed []*fwv1.Finding
	for _, f := range rep.Findings {
		if o.Rule != "" && f.Rule != o.Rule {
			continue
		}
		if f.SuppressedBy == "" {
			standing = append(standing, f)
		} else {
			suppressed = append(suppressed, f)
		}
	}
	if len(standing) > 0 {
		b.WriteString("\nWhy:\n")
	}
	for _, g := range group(standing) {
		f := g[0]
		sev := strings.ToUpper(SeverityName(f.Severity))
		sc := dim
		switch {
		case f.Severity >= fwv1.Severity_SEVERITY_HIGH:
			sc = red
		case f.Severity == fwv1.Severity_SEVERITY_MEDIUM:
			sc = yellow
		}
		title := f.Title
		if f.Label != "" {
			title += ": " + f.Label
		}
		fmt.Fprintf(&b, "  %s %s\n", c(bold+sc, fmt.Sprintf("%-8s", sev)), Clean(title))
		for _, f := range g {
			if f.Message != "" {
				fmt.Fprintf(&b, "           %s\n", Clean(f.Message))
			}
			for _, k := range f.Evidence {
				fmt.Fprintf(&b, "           %s\n", Clean(Describe(byKey[k], k)))
			}
		}
		meta := "rule " + f.Rule
		if len(f.Tags) > 0 {
			meta += " · " + strings.Join(f.Tags, ", ")
		}
		fmt.Fprintf(&b, "           %s\n", c(dim, Clean(meta)))
	}
	if len(suppressed) > 0 {
		b.WriteString("\nSanctioned (suppressed by an exception):\n")
		for _, f := range suppressed {
			title := f.Title
			if f.Label != "" {
				title += ": " + f.Label
			}
			fmt.Fprintf(&b, "  %-8s %s [%s]\n", strings.ToLower(SeverityName(f.Severity)), Clean(title), Clean(f.SuppressedBy))
			for _, k := range f.Evidence {
				fmt.Fprintf(&b, "           %s\n", Clean(Describe(byKey[k], k)))
			}
		}
	}
	var failed []string
	for _, s := range rep.Sensors {
		if !s.Ok {
			failed = append(failed, s.Name+": "+s.Error)
		}
	}
	if len(failed) > 0 {
		b.WriteString("\n" + c(yellow, "Sensors that failed (the scan is incomplete):") + "\n")
		for _, f := range failed {
			fmt.Fprintf(&b, "  %s\n", Clean(f))
		}
	}
	if len(rep.RuleErrors) > 0 {
		b.WriteString("\n" + c(yellow, "Rule errors:") + "\n")
		for _, e := range rep.RuleErrors {
			fmt.Fprintf(&b, "  %s\n", Clean(e))
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// group gathers findings of one rule about one thing (AnyDesk's service
// process and its tray process) under one heading, in first-seen order.
func group(fs []*fwv1.Finding) [][]*fwv1.Finding {
	var out [][]*fwv1.Finding
	at := map[string]int{}
	for _, f := range fs {
		k := f.Rule + "\x00" + f.Label
		if i, ok := at[k]; ok {
			out[i] = append(out[i], f)
			continue
		}
		at[k] = len(out)
		out = append(out, []*fwv1.Finding{f})
	}
	return out
}

func sourceWords(s string) string {
	switch {
	case s == "live":
		return "scanned live"
	case strings.HasPrefix(s, "snapshot:"):
		return "from snapshot " + strings.TrimPrefix(s, "snapshot:")
	case strings.HasPrefix(s, "root:"):
		return "from directory " + strings.TrimPrefix(s, "root:")
	}
	return s
}
