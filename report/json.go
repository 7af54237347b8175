package report

import (
	"bytes"
	"encoding/json"
	"fmt"

	fwv1 "github.com/farmwatch/farmwatch/proto/farmwatch/v1"
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
		out.Worst = SeverityName(w)
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
			Rule: f.Rule, Severity: SeverityName(f.Severity), Title: f.Title, Label: f.Label, Qualifier: f.Qualifier,
			Message: f.Message, Evidence: ev, Tags: tags, Scope: f.Scope, SuppressedBy: f.SuppressedBy,
		})
	}
	for _, o := range rep.Observations {
		k, msg, ok := kinds.Of(o)
		if !ok {
			continue
		}
		kind := k.Name
		b, err := msgJSON(msg)
		if err != nil {
			return nil, fmt.Errorf("encode %s: %w", o.Key, err)
		}
		hm := map[string]any{"kind": kind, "key": o.Key, "sensor": o.Sensor}
		if o.Truncated {
			hm["truncated"] = true // cut to the wire's limits
		}
		head, _ := json.Marshal(hm)
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
