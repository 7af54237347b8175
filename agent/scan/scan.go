// Package scan runs sensors and rules over one host and renders the result
// for people (a verdict first, then why) and for tools (JSON). It is what
// `farmwatch-agent scan` prints, live or on a snapshot.
package scan

import (
	"context"
	"fmt"
	"time"

	"github.com/farmwatch/farmwatch/agent/host"
	"github.com/farmwatch/farmwatch/agent/sensor"
	"github.com/farmwatch/farmwatch/limits"
	fwv1 "github.com/farmwatch/farmwatch/proto/farmwatch/v1"
	"github.com/farmwatch/farmwatch/report"
	"github.com/farmwatch/farmwatch/rules"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// Scanner scans hosts with a fixed list of sensors and rules.
type Scanner struct {
	Sensors []sensor.Sensor
	Rules   *rules.Set
	Timeout time.Duration   // per sensor
	Org     *fwv1.OrgPolicy // the organisation's expectations, for rules
}

// HostInfo describes h for the report.
func HostInfo(h *host.Host) *fwv1.HostInfo {
	m := h.Meta()
	return &fwv1.HostInfo{
		Os: h.OS(), Hostname: h.Hostname(), OsVersion: m.OSVersion, Arch: m.Arch, Kernel: m.Kernel,
		Captured: timestamppb.New(h.Captured()), Source: h.Source(),
	}
}

// Scan runs the sensors on h and the rules on what they saw.
func (s *Scanner) Scan(ctx context.Context, h *host.Host) *fwv1.Report {
	rep := s.Sense(ctx, h)
	s.Judge(rep)
	return rep
}

// Sense runs the sensors on h: the report of what they saw, within the
// wire's limits, not yet judged. The rules are not used, so a caller may
// load them meanwhile.
func (s *Scanner) Sense(ctx context.Context, h *host.Host) *fwv1.Report {
	timeout := s.Timeout
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	results := sensor.Run(ctx, h, s.Sensors, timeout)
	rep := &fwv1.Report{Host: HostInfo(h), Observations: latest(sensor.Observations(results))}
	for _, r := range results {
		rep.Sensors = append(rep.Sensors, r.Status())
	}
	// What the rules judge is what the collector gets: within the wire's
	// limits, every cut marked.
	limits.Clamp(rep.Host)
	for _, o := range rep.Observations {
		limits.ClampObservation(o)
	}
	if n := len(rep.Observations); n > limits.HostObservations {
		rep.Observations = rep.Observations[:limits.HostObservations]
		rep.Sensors = append(rep.Sensors, &fwv1.SensorStatus{Name: "limits",
			Error: fmt.Sprintf("%d observations, over the limit of %d: the rest were left out", n, limits.HostObservations)})
	}
	return rep
}

// latest keeps one observation of each key: the last one of a run of equal
// keys, which is the one of the later sensor (Observations keeps the
// sensors' order among equal keys). A process seen ending (procevent) thus
// replaces the same process listed running a moment before.
func latest(obs []*fwv1.Observation) []*fwv1.Observation {
	out := obs[:0]
	for i, o := range obs {
		if i+1 < len(obs) && obs[i+1].Key == o.Key {
			continue
		}
		out = append(out, o)
	}
	return out
}

// Judge runs the rules on a report's observations and sets its findings,
// rule errors and verdict.
func (s *Scanner) Judge(rep *fwv1.Report) {
	res := s.Rules.EvaluateOrg(rep.Host, s.Org, rep.Observations)
	for _, f := range res.Findings {
		limits.Clamp(f)
	}
	rep.Findings = res.Findings
	rep.RuleErrors = limits.Strings(res.Errors)
	rep.Verdict = report.Verdict(rep)
}
