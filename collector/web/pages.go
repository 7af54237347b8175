package web

import (
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/farmwatch/farmwatch/collector/store"
	fwv1 "github.com/farmwatch/farmwatch/proto/farmwatch/v1"
	"github.com/farmwatch/farmwatch/report"
)

// pageData is what every page gets; Data is the page's own.
type pageData struct {
	Title   string
	S       *session
	CSRF    string // the form token (the session's, or the sign-in form's)
	Message string
	Live    bool // the page follows /events
	Back    string
	Data    any
}

func (c *Console) page(s *session, title string, data any) pageData {
	return pageData{Title: title, S: s, CSRF: s.csrf, Live: true, Data: data}
}

// hostRow is a host in the lists.
type hostRow struct {
	store.Host
	Online  bool
	Worst   fwv1.Severity
	Open    int // findings that count: open and untriaged
	Triaged int // open but acknowledged or expected
}

type overviewData struct {
	Hosts           []hostRow
	Online, Offline int
	BySeverity      []sevCount
	Triaged         int
	RulesVersion    string
	RulesErrors     []hostRow // hosts that refused the bundle
	Stale           []hostRow // hosts on another bundle
	SpoolDropped    uint64
	Farms           []*fwv1.Cluster
	Plot            *linePlot
}

type sevCount struct {
	Severity fwv1.Severity
	N        int
}

func (c *Console) overview(w http.ResponseWriter, r *http.Request, s *session) {
	ctx := r.Context()
	hosts, err := c.cfg.Store.Hosts(ctx)
	if err != nil {
		c.fail(w, r, s, http.StatusInternalServerError, "hosts not read", err)
		return
	}
	rows, err := c.cfg.Store.Findings(ctx, store.FindingFilter{All: true})
	if err != nil {
		c.fail(w, r, s, http.StatusInternalServerError, "findings not read", err)
		return
	}
	d := overviewData{RulesVersion: c.cfg.Fleet.RulesVersion()}
	byHost := map[string]*hostRow{}
	for _, h := range hosts {
		hr := hostRow{Host: h, Online: c.cfg.Fleet.Online(h.ID)}
		if hr.Online {
			d.Online++
		} else {
			d.Offline++
		}
		d.SpoolDropped += h.SpoolDropped
		d.Hosts = append(d.Hosts, hr)
	}
	for i := range d.Hosts {
		byHost[d.Hosts[i].ID] = &d.Hosts[i]
	}
	sev := map[fwv1.Severity]int{}
	for _, f := range rows {
		h := byHost[f.HostID]
		if h == nil || f.State != store.Open || f.Finding.GetSuppressedBy() != "" {
			continue
		}
		if !f.Counts() {
			h.Triaged++
			d.Triaged++
			continue
		}
		h.Open++
		sev[f.Finding.GetSeverity()]++
		h.Worst = max(h.Worst, f.Finding.GetSeverity())
	}
	for v := fwv1.Severity_SEVERITY_CRITICAL; v >= fwv1.Severity_SEVERITY_INFO; v-- {
		d.BySeverity = append(d.BySeverity, sevCount{v, sev[v]})
	}
	slices.SortStableFunc(d.Hosts, func(a, b hostRow) int {
		if a.Worst != b.Worst {
			return int(b.Worst - a.Worst)
		}
		return strings.Compare(a.Hostname, b.Hostname)
	})
	for _, h := range d.Hosts {
		if h.RulesError != "" {
			d.RulesErrors = append(d.RulesErrors, h)
		} else if d.RulesVersion != "" && h.RulesVersion != d.RulesVersion {
			d.Stale = append(d.Stale, h)
		}
	}
	if d.Farms, err = c.cfg.Store.Clusters(ctx, false); err != nil {
		c.fail(w, r, s, http.StatusInternalServerError, "farms not read", err)
		return
	}
	d.Plot = openOverTime(rows, c.cfg.Now(), 7*24*time.Hour, 56)
	c.render(w, http.StatusOK, "overview", c.page(s, "Overview", d))
}

// findingView is a finding with its evidence in words.
type findingView struct {
	store.FindingRow
	Evidence []string
}

type hostData struct {
	Host     hostRow
	Person   *fwv1.Person
	Verdict  []string
	Findings []findingView
	Changes  []*fwv1.ObservationChange
	Plot     *linePlot
	Activity *barPlot
	CanScan  bool
	Scan     *scanView
}

type scanView struct {
	Verdict  []string
	Findings []findingView
	Failed   []string
	Took     time.Duration
	Err      string
}

func (c *Console) hostPage(w http.ResponseWriter, r *http.Request, s *session) {
	c.showHost(w, r, s, nil)
}

func (c *Console) showHost(w http.ResponseWriter, r *http.Request, s *session, scan *scanView) {
	ctx := r.Context()
	h, err := c.cfg.Store.Host(ctx, r.PathValue("id"))
	if errors.Is(err, store.ErrNotFound) {
		c.fail(w, r, s, http.StatusNotFound, "no such host", nil)
		return
	}
	if err != nil {
		c.fail(w, r, s, http.StatusInternalServerError, "host not read", err)
		return
	}
	obs, err := c.cfg.Store.Observations(ctx, h.ID)
	if err != nil {
		c.fail(w, r, s, http.StatusInternalServerError, "observations not read", err)
		return
	}
	rows, err := c.cfg.Store.Findings(ctx, store.FindingFilter{HostID: h.ID, All: true})
	if err != nil {
		c.fail(w, r, s, http.StatusInternalServerError, "findings not read", err)
		return
	}
	changes, err := c.cfg.Store.Changes(ctx, h.ID, store.ChangeFilter{Limit: maxChangesShow})
	if err != nil {
		c.fail(w, r, s, http.StatusInternalServerError, "history not read", err)
		return
	}
	slices.Reverse(changes) // newest first
	d := hostData{Host: hostRow{Host: h, Online: c.cfg.Fleet.Online(h.ID)}, Changes: changes, Scan: scan,
		CanScan: allows(s.role, store.RoleHelpdesk)}
	d.Person = c.cfg.Fleet.Person(h.Hostname)
	byKey := map[string]*fwv1.Observation{}
	for _, o := range obs {
		byKey[o.GetKey()] = o
	}
	rep := &fwv1.Report{Host: h.Info, Observations: obs}
	slices.SortStableFunc(rows, byWorst)
	for _, f := range rows {
		if f.State == store.Open {
			rep.Findings = append(rep.Findings, f.Finding)
			if f.Counts() {
				d.Host.Open++
				d.Host.Worst = max(d.Host.Worst, f.Finding.GetSeverity())
			}
		}
		d.Findings = append(d.Findings, view(f, byKey))
	}
	d.Verdict = strings.Split(report.Verdict(rep), "\n")
	d.Plot = openOverTime(rows, c.cfg.Now(), 7*24*time.Hour, 56)
	tz := ""
	if d.Person != nil {
		tz = d.Person.GetTimezone()
	}
	for _, o := range obs {
		if a := o.GetActivity(); a != nil {
			d.Activity = activityPlot(a, tz)
			break
		}
	}
	c.render(w, http.StatusOK, "host", c.page(s, h.Hostname, d))
}

func byWorst(a, b store.FindingRow) int {
	if a.State != b.State {
		return strings.Compare(string(a.State), string(b.State)) // open before resolved
	}
	return int(b.Finding.GetSeverity() - a.Finding.GetSeverity())
}

func view(f store.FindingRow, byKey map[string]*fwv1.Observation) findingView {
	v := findingView{FindingRow: f}
	for _, k := range f.Finding.GetEvidence() {
		v.Evidence = append(v.Evidence, report.Describe(byKey[k], k))
	}
	return v
}

// scanNow asks the host's agent for a scan and shows the host page with
// its result.
func (c *Console) scanNow(w http.ResponseWriter, r *http.Request, s *session) {
	h, err := c.cfg.Store.Host(r.Context(), r.PathValue("id"))
	if err != nil {
		c.fail(w, r, s, http.StatusNotFound, "no such host", nil)
		return
	}
	start := c.cfg.Now()
	rep, err := c.cfg.Fleet.Scan(r.Context(), h.ID, c.cfg.ScanTimeout)
	sv := &scanView{Took: c.cfg.Now().Sub(start).Round(time.Millisecond)}
	if err != nil {
		sv.Err = err.Error()
	} else {
		c.cfg.Log.Info().Str("host_id", h.ID).Str("token", s.tokenID).Msg("console scan")
		byKey := map[string]*fwv1.Observation{}
		for _, o := range rep.GetObservations() {
			byKey[o.GetKey()] = o
		}
		sv.Verdict = strings.Split(rep.GetVerdict(), "\n")
		for _, f := range rep.GetFindings() {
			sv.Findings = append(sv.Findings, view(store.FindingRow{HostID: h.ID, Finding: f, State: store.Open}, byKey))
		}
		slices.SortStableFunc(sv.Findings, func(a, b findingView) int { return byWorst(a.FindingRow, b.FindingRow) })
		for _, st := range rep.GetSensors() {
			if !st.GetOk() {
				sv.Failed = append(sv.Failed, st.GetName()+": "+st.GetError())
			}
		}
	}
	c.showHost(w, r, s, sv)
}

type findingsData struct {
	Severity, Rule, State string
	Rules                 []string
	Rows                  []findingView
	Total                 int
	Back                  string
}

// The findings list's states: a finding's lifecycle and its triage.
var findingStates = []string{"open", "untriaged", "acknowledged", "expected", "resolved", "all"}

// maxFindingsShown bounds one findings page.
const maxFindingsShown = 1000

func (c *Console) findingsPage(w http.ResponseWriter, r *http.Request, s *session) {
	q := r.URL.Query()
	d := findingsData{Severity: q.Get("severity"), Rule: q.Get("rule"), State: q.Get("state")}
	if d.State == "" {
		d.State = "open"
	}
	if !slices.Contains(findingStates, d.State) {
		c.fail(w, r, s, http.StatusBadRequest, "state "+d.State+": want one of "+strings.Join(findingStates, ", "), nil)
		return
	}
	f := store.FindingFilter{All: d.State == "resolved" || d.State == "all"}
	if d.Severity != "" {
		sev, err := report.ParseSeverity(d.Severity)
		if err != nil {
			c.fail(w, r, s, http.StatusBadRequest, "severity", err)
			return
		}
		f.MinSeverity = sev
	}
	rows, err := c.cfg.Store.Findings(r.Context(), f)
	if err != nil {
		c.fail(w, r, s, http.StatusInternalServerError, "findings not read", err)
		return
	}
	rules := map[string]bool{}
	slices.SortStableFunc(rows, byWorst)
	for _, row := range rows {
		rules[row.Finding.GetRule()] = true
		if d.Rule != "" && row.Finding.GetRule() != d.Rule || !stateMatches(d.State, row) {
			continue
		}
		d.Total++
		if len(d.Rows) < maxFindingsShown {
			d.Rows = append(d.Rows, view(row, nil))
		}
	}
	for k := range rules {
		d.Rules = append(d.Rules, k)
	}
	slices.Sort(d.Rules)
	d.Back = r.URL.RequestURI()
	c.render(w, http.StatusOK, "findings", c.page(s, "Findings", d))
}

func stateMatches(state string, r store.FindingRow) bool {
	switch state {
	case "open":
		return r.State == store.Open
	case "untriaged":
		return r.Counts()
	case "acknowledged", "expected":
		return r.State == store.Open && string(r.TriageState()) == state
	case "resolved":
		return r.State == store.Resolved
	}
	return true
}

// triage records a person's judgement of a finding and goes back to the
// page the form was on.
func (c *Console) triage(w http.ResponseWriter, r *http.Request, s *session) {
	hostID, findingID := r.PostFormValue("host"), r.PostFormValue("finding")
	if hostID == "" || findingID == "" {
		c.fail(w, r, s, http.StatusBadRequest, "triage: the form names no finding", nil)
		return
	}
	st, err := store.ParseTriageState(r.PostFormValue("state"))
	if err != nil {
		c.fail(w, r, s, http.StatusBadRequest, "triage", err)
		return
	}
	comment := strings.TrimSpace(r.PostFormValue("comment"))
	if len(comment) > store.MaxTriageComment {
		c.fail(w, r, s, http.StatusBadRequest, "triage: the comment is too long", nil)
		return
	}
	t := store.Triage{HostID: hostID, FindingID: findingID, State: st, Comment: comment, By: s.who(), At: c.cfg.Now()}
	if err := c.cfg.Store.TriageFinding(r.Context(), t); errors.Is(err, store.ErrNotFound) {
		c.fail(w, r, s, http.StatusNotFound, "triage: no such finding", nil)
		return
	} else if err != nil {
		c.fail(w, r, s, http.StatusInternalServerError, "triage not recorded", err)
		return
	}
	c.cfg.Log.Info().Str("host_id", hostID).Str("finding", findingID).Str("state", string(st)).Str("token", s.tokenID).Msg("finding triaged")
	http.Redirect(w, r, localPath(r.PostFormValue("back"), "/host/"+url.PathEscape(hostID)), http.StatusSeeOther)
}

// localPath is p when it is a path on this site, else def: a form cannot
// send a person elsewhere.
func localPath(p, def string) string {
	u, err := url.Parse(p)
	if p == "" || err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || !strings.HasPrefix(p, "/") ||
		strings.HasPrefix(p, "//") || strings.ContainsAny(p, "\\\r\n") {
		return def
	}
	return p
}

// rowData is what a finding's row needs.
type rowData struct {
	F         findingView
	CSRF      string
	Back      string
	Host      bool // name the host
	CanTriage bool
}

func row(p pageData, f findingView, showHost bool) rowData {
	back := p.Back
	if d, ok := p.Data.(findingsData); ok {
		back = d.Back
	} else if f.HostID != "" {
		back = "/host/" + url.PathEscape(f.HostID)
	}
	return rowData{F: f, CSRF: p.CSRF, Back: back, Host: showHost, CanTriage: p.S != nil && allows(p.S.role, store.RoleHelpdesk)}
}
