package main

import (
	"bytes"
	"strings"
	"testing"

	fwv1 "github.com/farmwatch/farmwatch/proto/farmwatch/v1"
	"github.com/farmwatch/farmwatch/report"
)

// TestTerminalInjection: hostnames, process names and EDID strings with
// escape sequences once reached the operator's terminal raw, and a forged
// "clean" row was drawn over a high finding. Every table printer escapes
// them now.
func TestTerminalInjection(t *testing.T) {
	evil := "laptop\x1b[1A\x1b[2K\rSEVERITY none  clean-host\n\u202egpj.exe\xff"
	proc := &fwv1.Observation{Key: "process/1", Kind: &fwv1.Observation_Process{Process: &fwv1.Process{Pid: 1, Name: evil, Exe: "/tmp/" + evil}}}
	disp := &fwv1.Observation{Key: "display/1", Kind: &fwv1.Observation_Display{Display: &fwv1.Display{Connector: "HDMI-1",
		Edid: &fwv1.Edid{Manufacturer: "PIK", MonitorName: "\x1b]0;owned\x07"}}}}
	finding := &fwv1.Finding{Rule: "remote-access-tool", Severity: fwv1.Severity_SEVERITY_HIGH, Title: "Remote-access tool running",
		Label: evil, Message: evil, Evidence: []string{"process/1", "display/1"}}
	var out bytes.Buffer
	if err := printHosts(&out, "table", []*fwv1.HostSummary{{Hostname: evil, Os: evil, EgressIp: evil, Worst: fwv1.Severity_SEVERITY_HIGH, Findings: 1, AgentVersion: evil}}); err != nil {
		t.Fatal(err)
	}
	if err := printFindings(&out, "table", []*fwv1.FleetFinding{{Hostname: evil, Finding: finding, State: "open"}}); err != nil {
		t.Fatal(err)
	}
	if err := printChanges(&out, "table", &fwv1.ListChangesResponse{Hostname: evil, Changes: []*fwv1.ObservationChange{
		{Op: fwv1.ObservationChange_OP_ADDED, Kind: "process", Key: "process/1", Observation: proc},
		{Op: fwv1.ObservationChange_OP_ADDED, Kind: "display", Key: "display/1", Observation: disp}}}); err != nil {
		t.Fatal(err)
	}
	rep := &fwv1.Report{Host: &fwv1.HostInfo{Hostname: evil, Os: "linux"}, Observations: []*fwv1.Observation{proc, disp}, Findings: []*fwv1.Finding{finding},
		Sensors: []*fwv1.SensorStatus{{Name: "x", Error: evil}}, RuleErrors: []string{evil}}
	rep.Verdict = report.Verdict(rep)
	if err := report.Table(&out, rep, report.TableOptions{}); err != nil {
		t.Fatal(err)
	}
	s := out.String()
	for _, bad := range []string{"\x1b", "\r", "\x07", "\u202e", "\xff"} {
		if strings.Contains(s, bad) {
			t.Errorf("output carries %q raw:\n%s", bad, s)
		}
	}
	for _, line := range strings.Split(s, "\n") {
		if strings.HasPrefix(line, "SEVERITY none") {
			t.Errorf("a forged row stands on its own line: %q", line)
		}
	}
	if !strings.Contains(s, `\x1b[1A`) {
		t.Errorf("the escape is not shown escaped:\n%s", s)
	}
}
