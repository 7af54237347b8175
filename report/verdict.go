package report

import (
	"slices"
	"sort"
	"strconv"
	"strings"

	fwv1 "github.com/farmwatch/farmwatch/proto/farmwatch/v1"
)

// Verdict is what a helpdesk reads first:
//
//	REMOTE-CONTROLLED? likely: AnyDesk and Chrome Remote Desktop (unattended) running
//	OTHER SIGNS: possible: Astrill VPN and Korean input method found
//
// The first line weighs the findings of remote control: remote-access
// tools, remote services and hardware (ATT&CK T1219, T1021, T1133, T1200).
// The second, only when there are any, weighs the rest (VPN and proxy hops,
// keyboard, locale and time zone). "likely" when a standing finding is high
// or critical, "possible" when medium, "unlikely" when only low or info; the
// names are the labels of the standing findings, worst first, each with the
// qualifiers of the findings that named it; "running" when each of them is a
// running process, "found" when some are only installed or enabled.
func Verdict(rep *fwv1.Report) string {
	var control, other []*fwv1.Finding
	for _, f := range Standing(rep) {
		if remoteControl(f) {
			control = append(control, f)
		} else {
			other = append(other, f)
		}
	}
	failed := 0
	for _, s := range rep.Sensors {
		if !s.Ok {
			failed++
		}
	}
	suffix := ""
	if failed > 0 {
		suffix = " (incomplete: " + plural(failed, "sensor") + " failed)"
	}
	out := "REMOTE-CONTROLLED? " + weigh(control, "no sign found") + suffix
	if len(other) > 0 {
		out += "\nOTHER SIGNS: " + weigh(other, "")
	}
	return out
}

// remoteControl reports whether a finding is about control of the computer
// from elsewhere: remote-access software (T1219), remote services (T1021,
// T1133) or hardware added for it (T1200).
func remoteControl(f *fwv1.Finding) bool {
	for _, t := range f.Tags {
		for _, p := range []string{"T1219", "T1021", "T1133", "T1200"} {
			if t == p || strings.HasPrefix(t, p+".") {
				return true
			}
		}
	}
	return false
}

// weigh words a group of standing findings: "likely: A and B running".
func weigh(st []*fwv1.Finding, none string) string {
	if len(st) == 0 {
		return none
	}
	level := "unlikely"
	switch w := WorstOf(st); {
	case w >= fwv1.Severity_SEVERITY_HIGH:
		level = "likely"
	case w == fwv1.Severity_SEVERITY_MEDIUM:
		level = "possible"
	}
	type item struct {
		label   string
		quals   []string
		running bool // some finding of it is a running process
	}
	var items []*item
	byLabel := map[string]*item{}
	ordered := append([]*fwv1.Finding(nil), st...)
	sort.SliceStable(ordered, func(i, j int) bool { return ordered[i].Severity > ordered[j].Severity })
	for _, f := range ordered {
		if f.Scope == "host" || f.Label == "" {
			continue
		}
		it := byLabel[f.Label]
		if it == nil {
			it = &item{label: Clean(f.Label)}
			byLabel[f.Label] = it
			items = append(items, it)
		}
		if f.Scope == "process" {
			it.running = true
		}
		if q := Clean(f.Qualifier); q != "" && !slices.Contains(it.quals, q) {
			it.quals = append(it.quals, q)
		}
	}
	var names []string
	verb := " running"
	for _, it := range items {
		if !it.running {
			verb = " found"
		}
		n := it.label
		if len(it.quals) > 0 {
			sort.Strings(it.quals)
			n += " (" + strings.Join(it.quals, ", ") + ")"
		}
		names = append(names, n)
	}
	if len(names) == 0 {
		return level + ": " + Clean(ordered[0].Title)
	}
	return level + ": " + joinAnd(names) + verb
}

func joinAnd(ss []string) string {
	switch len(ss) {
	case 0:
		return ""
	case 1:
		return ss[0]
	}
	return strings.Join(ss[:len(ss)-1], ", ") + " and " + ss[len(ss)-1]
}

func plural(n int, s string) string {
	if n == 1 {
		return "1 " + s
	}
	return strconv.Itoa(n) + " " + s + "s"
}
