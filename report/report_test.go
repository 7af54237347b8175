package report

import (
	"encoding/json"
	"strings"
	"testing"

	fwv1 "github.com/farmwatch/farmwatch/proto/farmwatch/v1"
)

func f(rule, scope, label, qual string, sev fwv1.Severity) *fwv1.Finding {
	return &fwv1.Finding{Rule: rule, Scope: scope, Label: label, Qualifier: qual, Severity: sev, Title: rule + " title", Evidence: []string{"process/1@0"}, Tags: []string{"T1219"}}
}

func TestVerdict(t *testing.T) {
	high, med, low := fwv1.Severity_SEVERITY_HIGH, fwv1.Severity_SEVERITY_MEDIUM, fwv1.Severity_SEVERITY_LOW
	cases := []struct {
		name     string
		findings []*fwv1.Finding
		failed   bool
		want     string
	}{
		{"clean", nil, false, "REMOTE-CONTROLLED? no sign found"},
		{"clean but a sensor failed", nil, true, "REMOTE-CONTROLLED? no sign found (incomplete: 1 sensor failed)"},
		{"the issue's example", []*fwv1.Finding{
			f("remote-access-multiple-vendors", "host", "AnyDesk and Chrome Remote Desktop", "", high),
			f("remote-access-tool", "process", "AnyDesk", "", med),
			f("crd-unattended", "process", "Chrome Remote Desktop", "unattended", high),
			f("remote-access-tool", "process", "Chrome Remote Desktop", "", med),
		}, false, "REMOTE-CONTROLLED? likely: Chrome Remote Desktop (unattended) and AnyDesk running"},
		{"possible", []*fwv1.Finding{f("remote-access-tool", "process", "TeamViewer", "", med)}, false, "REMOTE-CONTROLLED? possible: TeamViewer running"},
		{"installed only", []*fwv1.Finding{f("rdp-enabled", "service", "Windows Remote Desktop", "enabled", low)}, false, "REMOTE-CONTROLLED? unlikely: Windows Remote Desktop (enabled) found"},
		{"other signs on their own line", []*fwv1.Finding{
			f("remote-access-tool", "process", "AnyDesk", "", med),
			{Rule: "astrill-vpn-client", Scope: "process", Label: "Astrill VPN", Severity: high, Tags: []string{"T1090"}},
			{Rule: "korean-input-method", Scope: "keyboard_layout", Label: "Korean IME", Severity: high},
		}, false, "REMOTE-CONTROLLED? possible: AnyDesk running\nOTHER SIGNS: likely: Astrill VPN and Korean IME found"},
		{"only other signs", []*fwv1.Finding{{Rule: "proxy-off-host", Scope: "proxy_setting", Label: "http proxy", Severity: med, Tags: []string{"T1090"}}}, false, "REMOTE-CONTROLLED? no sign found\nOTHER SIGNS: possible: http proxy found"},
		{"suppressed do not count", []*fwv1.Finding{{Rule: "remote-access-tool", Scope: "process", Label: "TeamViewer", Severity: high, SuppressedBy: "it"}}, false, "REMOTE-CONTROLLED? no sign found"},
	}
	for _, c := range cases {
		rep := &fwv1.Report{Findings: c.findings, Sensors: []*fwv1.SensorStatus{{Name: "remoteaccess", Ok: !c.failed}}}
		if got := Verdict(rep); got != c.want {
			t.Errorf("%s: verdict %q, want %q", c.name, got, c.want)
		}
	}
}

// TestJSONContract checks the fields DESIGN.md promises to scripts.
func TestJSONContract(t *testing.T) {
	rep := &fwv1.Report{
		Host: &fwv1.HostInfo{Os: "linux", Hostname: "box"},
		Observations: []*fwv1.Observation{{Key: "process/1@0", Sensor: "remoteaccess", Kind: &fwv1.Observation_Process{Process: &fwv1.Process{Pid: 1, Name: "anydesk", Exe: "/usr/bin/anydesk"}}},
			{Key: "service/systemd/x.service", Kind: &fwv1.Observation_Service{Service: &fwv1.Service{}}}},
		Findings: []*fwv1.Finding{f("remote-access-tool", "process", "AnyDesk", "", fwv1.Severity_SEVERITY_MEDIUM)},
	}
	b, err := JSON(rep)
	if err != nil {
		t.Fatal(err)
	}
	var v struct {
		Host         map[string]any   `json:"host"`
		Observations []map[string]any `json:"observations"`
		Findings     []map[string]any `json:"findings"`
		RuleErrors   []string         `json:"rule_errors"`
	}
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("%v\n%s", err, b)
	}
	if v.Host["os"] != "linux" || v.Host["hostname"] != "box" {
		t.Errorf("host = %v", v.Host)
	}
	o := v.Observations[0]
	if o["kind"] != "process" || o["key"] != "process/1@0" || o["name"] != "anydesk" || o["exe"] != "/usr/bin/anydesk" || o["pid"] != float64(1) {
		t.Errorf("observation = %v", o)
	}
	if e := v.Observations[1]; e["kind"] != "service" || e["key"] != "service/systemd/x.service" {
		t.Errorf("empty observation = %v (want kind and key still there)", e)
	}
	fd := v.Findings[0]
	if fd["rule"] != "remote-access-tool" || fd["severity"] != "medium" || fd["title"] == "" || len(fd["evidence"].([]any)) != 1 {
		t.Errorf("finding = %v", fd)
	}
	if v.RuleErrors == nil {
		t.Error("rule_errors must be an array, not null")
	}
	if strings.Contains(string(b), "  ,") || !json.Valid(b) {
		t.Errorf("malformed JSON:\n%s", b)
	}
}
