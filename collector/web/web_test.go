package web

import (
	"context"
	"crypto/tls"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/farmwatch/farmwatch/collector/pki"
	"github.com/farmwatch/farmwatch/collector/server"
	"github.com/farmwatch/farmwatch/collector/store"
	"github.com/farmwatch/farmwatch/collector/store/sqlite"
	fwv1 "github.com/farmwatch/farmwatch/proto/farmwatch/v1"
	"github.com/rs/zerolog"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// clock is a test clock the console and the server share.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// hostile strings, as an agent could send them.
const (
	evilHost    = `<script>alert("host")</script>`
	evilProcess = `"><img src=x onerror=alert(1)>`
	evilEdid    = `</svg><script>alert('edid')</script>`
	evilTitle   = `<iframe src=//evil>`
)

type env struct {
	t      *testing.T
	st     store.Store
	clk    *clock
	srv    *httptest.Server
	tokens map[store.Role]string
	hostID string
}

func newEnv(t *testing.T) *env {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, ":memory:")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	clk := &clock{now: t0}
	fl, err := server.New(server.Config{Store: st, EnrollSecret: "s", Now: clk.Now, Log: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	con, err := New(Config{Store: st, Fleet: fl, Now: clk.Now, SessionTTL: time.Hour, Log: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, st: st, clk: clk, tokens: map[store.Role]string{}, hostID: "h-evil"}
	for _, r := range []store.Role{store.RoleViewer, store.RoleHelpdesk, store.RoleAdmin} {
		secret := "secret-of-" + string(r)
		if err := st.PutToken(ctx, store.Token{Hash: pki.Hash(secret), Name: "t-" + string(r), Role: r, Created: t0}); err != nil {
			t.Fatal(err)
		}
		e.tokens[r] = secret
	}
	// A host whose agent sent hostile strings in every field shown.
	h := store.Host{ID: e.hostID, Hostname: evilHost, OS: "linux", Info: &fwv1.HostInfo{Os: "linux", Hostname: evilHost},
		NodeKeyHash: []byte("k"), EnrolledAt: t0, LastSeen: t0, AgentVersion: evilTitle}
	if err := st.PutHost(ctx, h); err != nil {
		t.Fatal(err)
	}
	proc := &fwv1.Observation{Key: "process/1@0", Kind: &fwv1.Observation_Process{Process: &fwv1.Process{Pid: 1, Name: evilProcess, Exe: "/tmp/" + evilProcess}}}
	disp := &fwv1.Observation{Key: "display/card0-HDMI-A-1", Kind: &fwv1.Observation_Display{Display: &fwv1.Display{Connector: "card0-HDMI-A-1",
		Status: "connected", Edid: &fwv1.Edid{Manufacturer: "LNX", MonitorName: evilEdid, MonitorSerial: evilEdid}}}}
	fs := []*fwv1.Finding{
		{Rule: "remote-access-tool", Severity: fwv1.Severity_SEVERITY_HIGH, Title: evilTitle, Label: evilProcess, Evidence: []string{"process/1@0"}, Tags: []string{"T1219"}},
		{Rule: "edid-kvm-identity", Severity: fwv1.Severity_SEVERITY_CRITICAL, Title: "IP-KVM display", Label: evilEdid, Message: evilEdid, Evidence: []string{"display/card0-HDMI-A-1"}, Tags: []string{"T1200"}},
	}
	if _, err := st.ApplyMessage(ctx, e.hostID, 1, store.Apply{Full: true, Upserted: []*fwv1.Observation{proc, disp}, Findings: fs, FindingsSet: true, Seen: t0}); err != nil {
		t.Fatal(err)
	}
	e.srv = httptest.NewTLSServer(con.Handler())
	t.Cleanup(e.srv.Close)
	return e
}

// client is a browser-like client: a cookie jar, no redirects followed.
func (e *env) client() *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{Jar: jar, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

func (e *env) do(c *http.Client, method, path string, form url.Values) (*http.Response, string) {
	e.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, _ := http.NewRequest(method, e.srv.URL+path, body)
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := c.Do(req)
	if err != nil {
		e.t.Fatalf("%s %s: %v", method, path, err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, string(b)
}

var csrfRE = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

func csrfOf(t *testing.T, page string) string {
	t.Helper()
	m := csrfRE.FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no csrf field in:\n%s", page)
	}
	return m[1]
}

// signIn signs c in with role's token and returns the session's CSRF token.
func (e *env) signIn(c *http.Client, role store.Role) string {
	e.t.Helper()
	_, page := e.do(c, "GET", "/login", nil)
	resp, body := e.do(c, "POST", "/login", url.Values{"token": {e.tokens[role]}, "csrf": {csrfOf(e.t, page)}})
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/" {
		e.t.Fatalf("sign in as %s: %d %s\n%s", role, resp.StatusCode, resp.Header.Get("Location"), body)
	}
	resp, body = e.do(c, "GET", "/", nil)
	if resp.StatusCode != 200 {
		e.t.Fatalf("overview after sign-in: %d\n%s", resp.StatusCode, body)
	}
	return csrfOf(e.t, body)
}

func (e *env) findingID(rule string) string {
	e.t.Helper()
	rows, err := e.st.Findings(context.Background(), store.FindingFilter{HostID: e.hostID})
	if err != nil {
		e.t.Fatal(err)
	}
	for _, r := range rows {
		if r.Finding.GetRule() == rule {
			return r.ID
		}
	}
	e.t.Fatalf("no finding of %s", rule)
	return ""
}

func (e *env) triage(rule string) store.Triage {
	e.t.Helper()
	rows, _ := e.st.Findings(context.Background(), store.FindingFilter{HostID: e.hostID})
	for _, r := range rows {
		if r.Finding.GetRule() == rule {
			return r.Triage
		}
	}
	return store.Triage{}
}

// TestNoSessionNoData: without a session every page goes to the sign-in
// page and nothing of the fleet is in any answer.
func TestNoSessionNoData(t *testing.T) {
	e := newEnv(t)
	c := e.client()
	for _, p := range []string{"/", "/host/" + e.hostID, "/findings", "/findings?state=all"} {
		resp, body := e.do(c, "GET", p, nil)
		if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/login" {
			t.Errorf("GET %s without a session: %d %s", p, resp.StatusCode, resp.Header.Get("Location"))
		}
		if strings.Contains(body, "alert") || strings.Contains(body, e.hostID) {
			t.Errorf("GET %s without a session shows fleet data:\n%s", p, body)
		}
	}
	for _, p := range []string{"/events"} {
		if resp, _ := e.do(c, "GET", p, nil); resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("GET %s without a session: %d", p, resp.StatusCode)
		}
	}
	form := url.Values{"host": {e.hostID}, "finding": {e.findingID("remote-access-tool")}, "state": {"acknowledged"}, "csrf": {"x"}}
	for _, p := range []string{"/triage", "/host/" + e.hostID + "/scan", "/logout"} {
		if resp, _ := e.do(c, "POST", p, form); resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("POST %s without a session: %d", p, resp.StatusCode)
		}
	}
	if tr := e.triage("remote-access-tool"); tr.State != "" {
		t.Fatalf("a triage without a session was stored: %+v", tr)
	}
	// A made-up session cookie is no session.
	u, _ := url.Parse(e.srv.URL)
	c.Jar.SetCookies(u, []*http.Cookie{{Name: sessionCookie, Value: randomToken(), Path: "/"}})
	if resp, _ := e.do(c, "GET", "/", nil); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("a forged session cookie: %d", resp.StatusCode)
	}
}

// TestSignIn: a wrong, revoked or missing token is refused with no data;
// the cookie is HttpOnly, Secure, SameSite=Strict, host-only and expires;
// the sign-in form needs its own CSRF value.
func TestSignIn(t *testing.T) {
	e := newEnv(t)
	c := e.client()
	_, page := e.do(c, "GET", "/login", nil)
	csrf := csrfOf(t, page)
	for name, form := range map[string]url.Values{
		"wrong token": {"token": {"nope"}, "csrf": {csrf}},
		"no token":    {"csrf": {csrf}},
		"no csrf":     {"token": {e.tokens[store.RoleAdmin]}},
		"wrong csrf":  {"token": {e.tokens[store.RoleAdmin]}, "csrf": {csrf + "x"}},
	} {
		resp, body := e.do(c, "POST", "/login", form)
		if resp.StatusCode == http.StatusSeeOther || strings.Contains(body, "alert") {
			t.Errorf("%s: %d\n%s", name, resp.StatusCode, body)
		}
		for _, ck := range resp.Cookies() {
			if ck.Name == sessionCookie && ck.Value != "" {
				t.Errorf("%s: a session cookie was set", name)
			}
		}
		_, page = e.do(c, "GET", "/login", nil)
		csrf = csrfOf(t, page)
	}
	// A sign-in from another site's form: no login cookie of ours.
	other := e.client()
	if resp, _ := e.do(other, "POST", "/login", url.Values{"token": {e.tokens[store.RoleAdmin]}, "csrf": {csrf}}); resp.StatusCode != http.StatusForbidden {
		t.Errorf("sign-in without the form's cookie: %d", resp.StatusCode)
	}
	resp, _ := e.do(c, "POST", "/login", url.Values{"token": {e.tokens[store.RoleViewer]}, "csrf": {csrf}})
	var sess *http.Cookie
	for _, ck := range resp.Cookies() {
		if ck.Name == sessionCookie {
			sess = ck
		}
	}
	if sess == nil || !sess.Secure || !sess.HttpOnly || sess.SameSite != http.SameSiteStrictMode || sess.Path != "/" || sess.Domain != "" ||
		sess.MaxAge != int(time.Hour/time.Second) || !strings.HasPrefix(sess.Name, "__Host-") {
		t.Fatalf("session cookie %+v", sess)
	}
	if !strings.Contains(resp.Header.Get("Content-Security-Policy"), "script-src 'self'") {
		t.Fatalf("no CSP on the sign-in answer: %v", resp.Header)
	}
}

// TestSecurityHeaders: every answer, page or asset, has the strict CSP
// and no inline script or style is in any page.
func TestSecurityHeaders(t *testing.T) {
	e := newEnv(t)
	c := e.client()
	e.signIn(c, store.RoleAdmin)
	for _, p := range []string{"/login", "/", "/host/" + e.hostID, "/findings?state=all", "/static/style.css", "/static/live.js", "/nope"} {
		resp, body := e.do(c, "GET", p, nil)
		if got := resp.Header.Get("Content-Security-Policy"); got != csp {
			t.Errorf("%s: CSP %q", p, got)
		}
		if resp.Header.Get("X-Content-Type-Options") != "nosniff" || resp.Header.Get("X-Frame-Options") != "DENY" {
			t.Errorf("%s: headers %v", p, resp.Header)
		}
		if strings.Contains(body, "<script>") || strings.Contains(body, " style=") || strings.Contains(body, "<style") {
			t.Errorf("%s has inline script or style:\n%s", p, body)
		}
	}
}

// TestEscaping: hostile hostnames, process names, EDID strings and titles
// are shown as text on every page.
func TestEscaping(t *testing.T) {
	e := newEnv(t)
	c := e.client()
	e.signIn(c, store.RoleAdmin)
	for _, p := range []string{"/", "/host/" + e.hostID, "/findings", "/findings?state=all"} {
		resp, body := e.do(c, "GET", p, nil)
		if resp.StatusCode != 200 {
			t.Fatalf("%s: %d\n%s", p, resp.StatusCode, body)
		}
		for _, raw := range []string{evilHost, evilProcess, evilEdid, evilTitle, "<script>", "<img", "<iframe", "</svg><script>"} {
			if strings.Contains(body, raw) {
				t.Errorf("%s renders %q unescaped", p, raw)
			}
		}
	}
	_, host := e.do(c, "GET", "/host/"+e.hostID, nil)
	for _, want := range []string{"&lt;script&gt;alert(&#34;host&#34;)&lt;/script&gt;", "&#34;&gt;&lt;img src=x onerror=alert(1)&gt;",
		"&lt;/svg&gt;&lt;script&gt;alert(&#39;edid&#39;)&lt;/script&gt;", "&lt;iframe src=//evil&gt;"} {
		if !strings.Contains(host, want) {
			t.Errorf("the host page lacks the escaped %s", want)
		}
	}
}

// TestCSRF: a form post without the session's CSRF token, or with
// another's, changes nothing.
func TestCSRF(t *testing.T) {
	e := newEnv(t)
	c := e.client()
	csrf := e.signIn(c, store.RoleHelpdesk)
	other := e.client()
	otherCSRF := e.signIn(other, store.RoleHelpdesk)
	id := e.findingID("remote-access-tool")
	form := func(tok string) url.Values {
		v := url.Values{"host": {e.hostID}, "finding": {id}, "state": {"acknowledged"}, "comment": {"x"}}
		if tok != "" {
			v.Set("csrf", tok)
		}
		return v
	}
	for name, f := range map[string]url.Values{"missing": form(""), "wrong": form("x" + csrf), "another session's": form(otherCSRF)} {
		if resp, _ := e.do(c, "POST", "/triage", f); resp.StatusCode != http.StatusForbidden {
			t.Errorf("%s CSRF token: %d", name, resp.StatusCode)
		}
		if resp, _ := e.do(c, "POST", "/logout", f); resp.StatusCode != http.StatusForbidden {
			t.Errorf("%s CSRF token on sign-out: %d", name, resp.StatusCode)
		}
	}
	if tr := e.triage("remote-access-tool"); tr.State != "" {
		t.Fatalf("a triage without its CSRF token was stored: %+v", tr)
	}
	resp, _ := e.do(c, "POST", "/triage", form(csrf))
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("triage with the CSRF token: %d", resp.StatusCode)
	}
	if tr := e.triage("remote-access-tool"); tr.State != store.Acknowledged || tr.By != "t-helpdesk ("+store.TokenID(pki.Hash(e.tokens[store.RoleHelpdesk]))+")" || !tr.At.Equal(t0) {
		t.Fatalf("triage stored as %+v", tr)
	}
}

// TestRoles: a viewer reads but may not triage or scan; a helpdesk may.
func TestRoles(t *testing.T) {
	e := newEnv(t)
	viewer := e.client()
	vcsrf := e.signIn(viewer, store.RoleViewer)
	id := e.findingID("edid-kvm-identity")
	triage := url.Values{"host": {e.hostID}, "finding": {id}, "state": {"expected"}, "comment": {"lab"}, "csrf": {vcsrf}}
	if resp, body := e.do(viewer, "POST", "/triage", triage); resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "needs the helpdesk role") {
		t.Fatalf("viewer triage: %d\n%s", resp.StatusCode, body)
	}
	if resp, _ := e.do(viewer, "POST", "/host/"+e.hostID+"/scan", url.Values{"csrf": {vcsrf}}); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("viewer scan: %d", resp.StatusCode)
	}
	if _, body := e.do(viewer, "GET", "/host/"+e.hostID, nil); strings.Contains(body, `action="/triage"`) || strings.Contains(body, `id="scan-now"`) {
		t.Fatal("a viewer is offered triage or scan forms")
	}
	if tr := e.triage("edid-kvm-identity"); tr.State != "" {
		t.Fatalf("a viewer's triage was stored: %+v", tr)
	}
	hd := e.client()
	hcsrf := e.signIn(hd, store.RoleHelpdesk)
	triage.Set("csrf", hcsrf)
	triage.Set("back", "https://evil.example/")
	resp, _ := e.do(hd, "POST", "/triage", triage)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/host/"+e.hostID {
		t.Fatalf("helpdesk triage: %d to %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	// The host is not connected: the scan is refused with why, not a 403.
	resp, body := e.do(hd, "POST", "/host/"+e.hostID+"/scan", url.Values{"csrf": {hcsrf}})
	if resp.StatusCode != 200 || !strings.Contains(body, "The scan failed") || !strings.Contains(body, "not connected") {
		t.Fatalf("helpdesk scan of an offline host: %d\n%s", resp.StatusCode, body)
	}
	// Expected leaves the open counts and stays listed.
	_, ov := e.do(hd, "GET", "/", nil)
	if !regexp.MustCompile(`<div class="n">0</div>open critical`).MatchString(ov) || !regexp.MustCompile(`<div class="n">1</div>triaged, still open`).MatchString(ov) {
		t.Fatalf("overview counts after triage:\n%s", ov)
	}
	_, list := e.do(hd, "GET", "/findings?state=expected", nil)
	if !strings.Contains(list, "expected by t-helpdesk") || !strings.Contains(list, "1 finding(s)") {
		t.Fatalf("expected findings list:\n%s", list)
	}
}

// TestSessionEnds: a session ends at its expiry, at sign-out, and when
// its token is revoked.
func TestSessionEnds(t *testing.T) {
	e := newEnv(t)
	c := e.client()
	e.signIn(c, store.RoleViewer)
	e.clk.add(59 * time.Minute)
	if resp, _ := e.do(c, "GET", "/", nil); resp.StatusCode != 200 {
		t.Fatalf("before expiry: %d", resp.StatusCode)
	}
	e.clk.add(time.Minute)
	if resp, body := e.do(c, "GET", "/", nil); resp.StatusCode != http.StatusSeeOther || strings.Contains(body, e.hostID) {
		t.Fatalf("after expiry: %d", resp.StatusCode)
	}

	csrf := e.signIn(c, store.RoleViewer)
	if resp, _ := e.do(c, "POST", "/logout", url.Values{"csrf": {csrf}}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign out: %d", resp.StatusCode)
	}
	if resp, _ := e.do(c, "GET", "/", nil); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("after sign-out: %d", resp.StatusCode)
	}

	e.signIn(c, store.RoleViewer)
	if _, err := e.st.RevokeToken(context.Background(), store.TokenID(pki.Hash(e.tokens[store.RoleViewer])), e.clk.Now()); err != nil {
		t.Fatal(err)
	}
	if resp, _ := e.do(c, "GET", "/findings", nil); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("after the token was revoked: %d", resp.StatusCode)
	}
}

// TestBadInput: filters and forms that name nothing are refused with what
// was wrong; oversized forms are refused.
func TestBadInput(t *testing.T) {
	e := newEnv(t)
	c := e.client()
	csrf := e.signIn(c, store.RoleAdmin)
	for p, want := range map[string]string{
		"/findings?state=gone":    "state gone",
		"/findings?severity=dire": "dire",
		"/host/nope":              "no such host",
	} {
		resp, body := e.do(c, "GET", p, nil)
		if resp.StatusCode < 400 || !strings.Contains(body, want) {
			t.Errorf("%s: %d\n%s", p, resp.StatusCode, body)
		}
	}
	for name, f := range map[string]url.Values{
		"no finding":   {"csrf": {csrf}, "host": {e.hostID}, "state": {"acknowledged"}},
		"other host":   {"csrf": {csrf}, "host": {"nope-host"}, "finding": {e.findingID("remote-access-tool")}, "state": {"acknowledged"}},
		"bad state":    {"csrf": {csrf}, "host": {e.hostID}, "finding": {e.findingID("remote-access-tool")}, "state": {"dismissed"}},
		"long comment": {"csrf": {csrf}, "host": {e.hostID}, "finding": {e.findingID("remote-access-tool")}, "state": {"expected"}, "comment": {strings.Repeat("x", store.MaxTriageComment+1)}},
		"huge form":    {"csrf": {csrf}, "host": {e.hostID}, "finding": {e.findingID("remote-access-tool")}, "state": {"expected"}, "pad": {strings.Repeat("x", maxFormBytes)}},
	} {
		if resp, _ := e.do(c, "POST", "/triage", f); resp.StatusCode < 400 {
			t.Errorf("%s: %d", name, resp.StatusCode)
		}
	}
	if tr := e.triage("remote-access-tool"); tr.State != "" {
		t.Fatalf("a bad triage was stored: %+v", tr)
	}
}

func TestLocalPath(t *testing.T) {
	for in, want := range map[string]string{
		"/findings?state=open": "/findings?state=open",
		"/host/a%2Fb":          "/host/a%2Fb",
		"":                     "/def",
		"//evil.example/":      "/def",
		"https://evil/":        "/def",
		"/\\evil":              "/def",
		"javascript:alert(1)":  "/def",
		"/a\r\nSet-Cookie: x":  "/def",
	} {
		if got := localPath(in, "/def"); got != want {
			t.Errorf("localPath(%q) = %q, want %q", in, got, want)
		}
	}
}
