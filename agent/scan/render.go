package scan

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	fwv1 "github.com/farmwatch/farmwatch/proto/farmwatch/v1"
	"github.com/farmwatch/farmwatch/rules"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
)

// jsonReport is the JSON contract of `scan --format json` (DESIGN.md).
type jsonReport struct {
	Host         json.RawMessage   `json:"host"`
	Verdict      string            `json:"verdict"`
	Worst        string            `json:"worst"`
	Findings     []jsonFinding     `json:"findings"`
	Observations []json.RawMessage `json:"observations"`
	Sensors      []json.RawMessage `json:"sensors"`
	RuleErrors   []string          `json:"rule_errors"`
}

type jsonFinding struct {
	Rule         string   `json:"rule"`
	Severity     string   `json:"severity"`
	Title        string   `json:"title"`
	Label        string   `json:"label,omitempty"`
	Qualifier    string   `json:"qualifier,omitempty"`
	Message      string   `json:"message,omitempty"`
	Evidence     []string `json:"evidence"`
	Tags         []string `json:"tags"`
	Scope        string   `json:"scope"`
	SuppressedBy string   `json:"suppressed_by,omitempty"`
}

var pj = protojson.MarshalOptions{UseProtoNames: true}

// msgJSON is protojson with its deliberately unstable spacing removed.
func msgJSON(m proto.Message) (json.RawMessage, error) {
	b, err := pj.Marshal(m)
	if err != nil {
		return nil, err
	}
	var c bytes.Buffer
	if err := json.Compact(&c, b); err != nil {
		return nil, err
	}
	return c.Bytes(), nil
}

// JSON renders a report as one indented JSON object.
func JSON(rep *fwv1.Report) ([]byte, error) {
	hb, err := msgJSON(rep.Host)
	if err != nil {
		return nil, fmt.Errorf("encode host: %w", err)
	}
	out := jsonReport{Host: hb, Verdict: rep.Verdict, Worst: "none", Findings: []jsonFinding{}, Observations: []json.RawMessage{}, Sensors: []json.RawMessage{}, RuleErrors: rep.RuleErrors}
	if w := Worst(rep); w != fwv1.Severity_SEVERITY_UNSPECIFIED {
		out.Worst = rules.SeverityName(w)
	}
	if out.RuleErrors == nil {
		out.RuleErrors = []string{}
	}
	for _, f := range rep.Findings {
		ev, tags := f.Evidence, f.Tags
		if ev == nil {
			ev = []string{}
		}
		if tags == nil {
			tags = []string{}
		}
		out.Findings = append(out.Findings, jsonFinding{
			Rule: f.Rule, Severity: rules.SeverityName(f.Severity), Title: f.Title, Label: f.Label, Qualifier: f.Qualifier,
			Message: f.Message, Evidence: ev, Tags: tags, Scope: f.Scope, SuppressedBy: f.SuppressedBy,
		})
	}
	for _, o := range rep.Observations {
		kind, msg := rules.KindOf(o)
		if kind == "" {
			continue
		}
		b, err := msgJSON(msg)
		if err != nil {
			return nil, fmt.Errorf("encode %s: %w", o.Key, err)
		}
		head, _ := json.Marshal(map[string]string{"kind": kind, "key": o.Key, "sensor": o.Sensor})
		// Splice: {"kind":..,"key":..,"sensor":..} + the typed fields.
		obj := append(head[:len(head)-1:len(head)-1], ',')
		if len(b) > 2 {
			obj = append(obj, b[1:]...)
		} else {
			obj = append(obj[:len(obj)-1], '}')
		}
		out.Observations = append(out.Observations, obj)
	}
	for _, s := range rep.Sensors {
		b, err := msgJSON(s)
		if err != nil {
			return nil, err
		}
		out.Sensors = append(out.Sensors, b)
	}
	b, err := json.MarshalIndent(out, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

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
	b.WriteString(c(bold+vc, rep.Verdict) + "\n")
	h := rep.Host
	when := ""
	if h.GetCaptured() != nil {
		when = h.Captured.AsTime().UTC().Format("2006-01-02 15:04 UTC")
	}
	fmt.Fprintf(&b, "%s\n", c(dim, fmt.Sprintf("host %s (%s), %s, %s; %d observations", h.GetHostname(), h.GetOs(), sourceWords(h.GetSource()), when, len(rep.Observations))))
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
		sev := strings.ToUpper(rules.SeverityName(f.Severity))
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
		fmt.Fprintf(&b, "  %s %s\n", c(bold+sc, fmt.Sprintf("%-8s", sev)), title)
		for _, f := range g {
			if f.Message != "" {
				fmt.Fprintf(&b, "           %s\n", f.Message)
			}
			for _, k := range f.Evidence {
				fmt.Fprintf(&b, "           %s\n", Describe(byKey[k], k))
			}
		}
		meta := "rule " + f.Rule
		if len(f.Tags) > 0 {
			meta += " · " + strings.Join(f.Tags, ", ")
		}
		fmt.Fprintf(&b, "           %s\n", c(dim, meta))
	}
	if len(suppressed) > 0 {
		b.WriteString("\nSanctioned (suppressed by an exception):\n")
		for _, f := range suppressed {
			title := f.Title
			if f.Label != "" {
				title += ": " + f.Label
			}
			fmt.Fprintf(&b, "  %-8s %s [%s]\n", strings.ToLower(rules.SeverityName(f.Severity)), title, f.SuppressedBy)
			for _, k := range f.Evidence {
				fmt.Fprintf(&b, "           %s\n", Describe(byKey[k], k))
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
			fmt.Fprintf(&b, "  %s\n", f)
		}
	}
	if len(rep.RuleErrors) > 0 {
		b.WriteString("\n" + c(yellow, "Rule errors:") + "\n")
		for _, e := range rep.RuleErrors {
			fmt.Fprintf(&b, "  %s\n", e)
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

// Describe says in words what an observation is, for the evidence lines.
func Describe(o *fwv1.Observation, key string) string {
	if o == nil {
		return key
	}
	switch k := o.Kind.(type) {
	case *fwv1.Observation_Process:
		p := k.Process
		var parts []string
		s := fmt.Sprintf("process %s (pid %d)", p.Name, p.Pid)
		if p.Exe != "" {
			s += " " + p.Exe
		}
		parts = append(parts, s)
		if p.Username != "" {
			parts = append(parts, "user "+p.Username)
		}
		if p.StartTime != nil {
			parts = append(parts, "since "+p.StartTime.AsTime().UTC().Format(time.DateTime)+" UTC")
		}
		if p.ParentName != "" {
			parts = append(parts, "parent "+p.ParentName+" ("+strconv.Itoa(int(p.Ppid))+")")
		}
		if p.OriginalFilename != "" && !strings.EqualFold(p.OriginalFilename, p.Name) {
			parts = append(parts, "original file name "+p.OriginalFilename)
		}
		if p.BundleId != "" {
			parts = append(parts, "bundle "+p.BundleId)
		}
		return strings.Join(parts, ", ")
	case *fwv1.Observation_Service:
		s := k.Service
		parts := []string{fmt.Sprintf("%s %s", serviceWord(s.Manager), s.Name)}
		var st []string
		if s.State != "" {
			st = append(st, s.State)
		}
		if s.Enabled {
			st = append(st, "enabled")
		}
		if s.StartMode != "" && s.StartMode != "enabled" {
			st = append(st, "start "+s.StartMode)
		}
		if len(st) > 0 {
			parts[0] += " (" + strings.Join(st, ", ") + ")"
		}
		if s.Exe != "" {
			parts = append(parts, s.Exe)
		}
		if s.Username != "" {
			parts = append(parts, "as "+s.Username)
		}
		if s.Path != "" {
			parts = append(parts, "from "+s.Path)
		}
		return strings.Join(parts, ", ")
	case *fwv1.Observation_UsbDevice:
		u := k.UsbDevice
		s := fmt.Sprintf("USB device %04x:%04x", u.VendorId, u.ProductId)
		if n := strings.TrimSpace(u.Manufacturer + " " + u.Product); n != "" {
			s += " " + n
		}
		if u.Serial != "" {
			s += ", serial " + u.Serial
		}
		if u.BusPath != "" {
			s += ", at " + u.BusPath
		}
		return s
	case *fwv1.Observation_Display:
		d := k.Display
		s := "display " + d.Connector
		if d.Status != "" {
			s += " (" + d.Status + ")"
		}
		if e := d.Edid; e != nil {
			s += fmt.Sprintf(", EDID %s %04x %q", e.Manufacturer, e.ProductCode, e.MonitorName)
			if e.SerialNumber != 0 {
				s += fmt.Sprintf(" serial %08x", e.SerialNumber)
			}
		}
		if d.Driver != "" {
			s += ", driver " + d.Driver
		}
		return s
	case *fwv1.Observation_Driver:
		d := k.Driver
		return strings.ReplaceAll(d.Type, "_", " ") + " " + d.Name
	case *fwv1.Observation_NetInterface:
		n := k.NetInterface
		return fmt.Sprintf("interface %s (%s)", n.Name, n.Type)
	case *fwv1.Observation_Route:
		r := k.Route
		s := "route " + r.Destination + " via " + r.Interface
		if r.Gateway != "" {
			s += " gateway " + r.Gateway
		}
		return s
	case *fwv1.Observation_ProxySetting:
		p := k.ProxySetting
		return fmt.Sprintf("proxy %s from %s", firstNonEmpty(p.Url, p.Host), p.Source)
	case *fwv1.Observation_Neighbor:
		n := k.Neighbor
		return fmt.Sprintf("neighbour %s %s on %s", n.Ip, n.Mac, n.Interface)
	case *fwv1.Observation_KeyboardLayout:
		l := k.KeyboardLayout
		s := "keyboard " + firstNonEmpty(l.InputMethod, l.Layout)
		if l.Username != "" {
			s += " of " + l.Username
		}
		if l.Source != "" {
			s += " (" + l.Source + ")"
		}
		return s
	case *fwv1.Observation_Locale:
		l := k.Locale
		who := firstNonEmpty(l.Username, "system")
		return fmt.Sprintf("locale of %s: %s, time zone %s", who, l.Lang, l.Timezone)
	}
	kind, _ := rules.KindOf(o)
	return kind + " " + key
}

func firstNonEmpty(ss ...string) string {
	for _, s := range ss {
		if s != "" {
			return s
		}
	}
	return ""
}

func serviceWord(m string) string {
	switch m {
	case "systemd":
		return "systemd unit"
	case "launchd":
		return "launchd job"
	case "scm":
		return "Windows service"
	case "setting":
		return "setting"
	}
	return "service"
}
