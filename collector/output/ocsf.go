// Package output sends the collector's finding events to the tools people
// already run: webhooks (OCSF Detection Finding JSON signed with HMAC-SHA256,
// through a bounded on-disk queue with retries) and syslog (RFC 5424 over
// UDP, TCP or TLS). Events are found by comparing the store's findings and
// farm clusters with what was last sent (a state file), so a finding that
// opened, changed or resolved while the collector was down is still sent.
package output

import (
	"strconv"
	"strings"
	"time"

	fwv1 "github.com/farmwatch/farmwatch/proto/farmwatch/v1"
	"github.com/farmwatch/farmwatch/report"
)

// Kind is what happened to a finding or a cluster.
type Kind string

// The kinds of events.
const (
	Opened   Kind = "new"
	Changed  Kind = "changed"
	Resolved Kind = "resolved"
)

// Event is one finding or farm cluster that opened, changed or resolved.
type Event struct {
	Kind      Kind
	At        time.Time
	HostID    string // "" for a cluster
	Hostname  string
	OS        string
	EgressIP  string
	FindingID string // the store's id of the finding, or the cluster's id
	Finding   *fwv1.Finding
	Cluster   *fwv1.Cluster // set for a cluster's event
	Triage    string        // acknowledged, expected, or ""
	FirstSeen time.Time
	LastSeen  time.Time
}

// OCSF is an event as an OCSF Detection Finding (class 2004, schema
// 1.1.0): https://schema.ocsf.io/1.1.0/classes/detection_finding.
type OCSF struct {
	ClassUID     int              `json:"class_uid"`
	ClassName    string           `json:"class_name"`
	CategoryUID  int              `json:"category_uid"`
	CategoryName string           `json:"category_name"`
	ActivityID   int              `json:"activity_id"`
	ActivityName string           `json:"activity_name"`
	TypeUID      int              `json:"type_uid"`
	TypeName     string           `json:"type_name"`
	Time         int64            `json:"time"` // ms since the epoch
	SeverityID   int              `json:"severity_id"`
	Severity     string           `json:"severity"`
	StatusID     int              `json:"status_id"`
	Status       string           `json:"status"`
	Message      string           `json:"message,omitempty"`
	FindingInfo  OCSFFindingInfo  `json:"finding_info"`
	Resources    []OCSFResource   `json:"resources"`
	Device       *OCSFDevice      `json:"device,omitempty"`
	Metadata     OCSFMetadata     `json:"metadata"`
	Unmapped     map[string]any   `json:"unmapped,omitempty"`
	Evidences    []map[string]any `json:"evidences,omitempty"`
}

// OCSFFindingInfo is the finding_info object.
type OCSFFindingInfo struct {
	UID           string       `json:"uid"`
	Title         string       `json:"title"`
	Desc          string       `json:"desc,omitempty"`
	Types         []string     `json:"types,omitempty"`
	FirstSeenTime int64        `json:"first_seen_time,omitempty"`
	LastSeenTime  int64        `json:"last_seen_time,omitempty"`
	Analytic      OCSFAnalytic `json:"analytic"`
	Attacks       []OCSFAttack `json:"attacks,omitempty"`
}

// OCSFAnalytic names the rule.
type OCSFAnalytic struct {
	UID    string `json:"uid"`
	Name   string `json:"name"`
	TypeID int    `json:"type_id"` // 1: Rule
	Type   string `json:"type"`
}

// OCSFAttack is one MITRE ATT&CK technique.
type OCSFAttack struct {
	Technique struct {
		UID string `json:"uid"`
	} `json:"technique"`
	Version string `json:"version"`
}

// OCSFResource is one host a finding is about.
type OCSFResource struct {
	UID  string `json:"uid"`
	Name string `json:"name"`
	Type string `json:"type"`
}

// OCSFDevice is the host of a host's finding.
type OCSFDevice struct {
	UID      string `json:"uid"`
	Hostname string `json:"hostname"`
	IP       string `json:"ip,omitempty"`
	TypeID   int    `json:"type_id"` // 0: Unknown
	OS       struct {
		Name string `json:"name"`
	} `json:"os"`
}

// OCSFMetadata is the metadata object.
type OCSFMetadata struct {
	Version string `json:"version"`
	Product struct {
		Name       string `json:"name"`
		VendorName string `json:"vendor_name"`
		Version    string `json:"version,omitempty"`
	} `json:"product"`
	UID string `json:"uid,omitempty"`
}

// The OCSF numbers this package uses.
const (
	ocsfClassDetectionFinding = 2004
	ocsfCategoryFindings      = 2
	ocsfSchema                = "1.1.0"
)

var ocsfActivities = map[Kind]struct {
	id   int
	name string
}{Opened: {1, "Create"}, Changed: {2, "Update"}, Resolved: {3, "Close"}}

// ocsfSeverity maps a severity to OCSF's severity_id and its name.
func ocsfSeverity(s fwv1.Severity) (int, string) {
	switch s {
	case fwv1.Severity_SEVERITY_INFO:
		return 1, "Informational"
	case fwv1.Severity_SEVERITY_LOW:
		return 2, "Low"
	case fwv1.Severity_SEVERITY_MEDIUM:
		return 3, "Medium"
	case fwv1.Severity_SEVERITY_HIGH:
		return 4, "High"
	case fwv1.Severity_SEVERITY_CRITICAL:
		return 5, "Critical"
	}
	return 0, "Unknown"
}

// ocsfStatus is the finding's status: New, In Progress (acknowledged),
// Suppressed (expected, or an exception's), Resolved.
func ocsfStatus(e Event) (int, string) {
	switch {
	case e.Kind == Resolved:
		return 4, "Resolved"
	case e.Triage == "expected" || e.Finding.GetSuppressedBy() != "":
		return 3, "Suppressed"
	case e.Triage == "acknowledged":
		return 2, "In Progress"
	}
	return 1, "New"
}

func ms(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

// ToOCSF maps an event to an OCSF Detection Finding; version is the
// collector's.
func ToOCSF(e Event, version string) OCSF {
	act := ocsfActivities[e.Kind]
	f := e.Finding
	o := OCSF{ClassUID: ocsfClassDetectionFinding, ClassName: "Detection Finding", CategoryUID: ocsfCategoryFindings, CategoryName: "Findings",
		ActivityID: act.id, ActivityName: act.name, TypeUID: ocsfClassDetectionFinding*100 + act.id, TypeName: "Detection Finding: " + act.name,
		Time: ms(e.At), Message: f.GetMessage()}
	o.SeverityID, o.Severity = ocsfSeverity(f.GetSeverity())
	o.StatusID, o.Status = ocsfStatus(e)
	title := f.GetTitle()
	if f.GetLabel() != "" {
		title += ": " + f.GetLabel()
	}
	o.FindingInfo = OCSFFindingInfo{UID: e.HostID + "/" + e.FindingID, Title: title, Desc: f.GetMessage(), Types: []string{f.GetRule()},
		FirstSeenTime: ms(e.FirstSeen), LastSeenTime: ms(e.LastSeen),
		Analytic: OCSFAnalytic{UID: f.GetRule(), Name: f.GetRule(), TypeID: 1, Type: "Rule"}}
	for _, tag := range f.GetTags() {
		var a OCSFAttack
		a.Technique.UID, a.Version = tag, "v15"
		o.FindingInfo.Attacks = append(o.FindingInfo.Attacks, a)
	}
	o.Metadata.Version = ocsfSchema
	o.Metadata.Product.Name, o.Metadata.Product.VendorName, o.Metadata.Product.Version = "farmwatch", "farmwatch", version
	o.Metadata.UID = o.FindingInfo.UID + "@" + string(e.Kind) + "@" + e.At.UTC().Format(time.RFC3339Nano)
	o.Unmapped = map[string]any{"farmwatch_event": string(e.Kind), "evidence": f.GetEvidence(), "scope": f.GetScope()}
	if f.GetSuppressedBy() != "" {
		o.Unmapped["suppressed_by"] = f.GetSuppressedBy()
	}
	if e.Triage != "" {
		o.Unmapped["triage"] = e.Triage
	}
	if cl := e.Cluster; cl != nil {
		o.FindingInfo.UID = "cluster/" + cl.GetId()
		for _, m := range cl.GetMembers() {
			o.Resources = append(o.Resources, OCSFResource{UID: m.GetHostId(), Name: m.GetHostname(), Type: "host"})
		}
		var sig []map[string]any
		for _, s := range cl.GetSignals() {
			sig = append(sig, map[string]any{"kind": s.GetKind(), "value": s.GetValue(), "hosts": s.GetHosts()})
		}
		o.Unmapped["signals"], o.Unmapped["people"] = sig, cl.GetPeople()
		return o
	}
	o.Resources = []OCSFResource{{UID: e.HostID, Name: e.Hostname, Type: "host"}}
	o.Device = &OCSFDevice{UID: e.HostID, Hostname: e.Hostname, IP: e.EgressIP}
	o.Device.OS.Name = e.OS
	return o
}

// clusterFinding is the finding a cluster's event carries: the cluster's
// severity, and a title that says what it is.
func clusterFinding(cl *fwv1.Cluster) *fwv1.Finding {
	rule := "farm-cluster"
	if fs := cl.GetFindings(); len(fs) > 0 {
		rule = fs[0].GetRule()
	}
	kinds := []string{}
	for _, s := range cl.GetSignals() {
		kinds = append(kinds, s.GetKind())
	}
	return &fwv1.Finding{Rule: rule, Severity: cl.GetSeverity(), Scope: "fleet",
		Title: "Farm cluster", Label: report.Clean(plural(len(cl.GetMembers()), "host") + " of " + plural(int(cl.GetDistinctPeople()), "person")),
		Message: "shared: " + strings.Join(kinds, ", "), Evidence: []string{"cluster/" + cl.GetId()}}
}

func plural(n int, s string) string {
	if n == 1 {
		return "1 " + s
	}
	if s == "person" {
		return strconv.Itoa(n) + " people"
	}
	return strconv.Itoa(n) + " " + s + "s"
}
