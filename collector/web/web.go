// Package web is the collector's console for people: server-rendered pages
// (html/template, embedded assets, no front-end build) served over HTTPS
// with the collector's certificate by `serve --web ADDR`.
//
// A person signs in at /login with a fleet API token; the roles are the
// fleet API's (a viewer reads, a helpdesk also scans and triages, an admin
// does everything). The session is an HttpOnly, Secure, SameSite=Strict
// cookie that expires; every form carries the session's CSRF token; every
// page sends a strict Content-Security-Policy (scripts and styles from
// this origin only, none inline) and renders what agents sent through
// html/template's contextual escaping. Without a session no fleet data is
// shown. Pages update live over server-sent events (/events, fed by the
// collector's watch stream) where JavaScript runs, and work without it.
package web

import (
	"bytes"
	"context"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"time"

	"github.com/farmwatch/farmwatch/collector/store"
	fwv1 "github.com/farmwatch/farmwatch/proto/farmwatch/v1"
	"github.com/rs/zerolog"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// Fleet is what the console needs of the collector's server besides the
// store: who is connected, live scans, the watch stream and the rule
// bundle it pushes, the roster. *server.Server is one.
type Fleet interface {
	Online(hostID string) bool
	Scan(ctx context.Context, hostID string, timeout time.Duration) (*fwv1.Report, error)
	Watch(ctx context.Context, min fwv1.Severity, send func(store.FindingRow) error) error
	RulesVersion() string
	// Person is the roster's person of a host (nil: none).
	Person(hostname string) *fwv1.Person
}

// Config is what a Console needs.
type Config struct {
	Store store.Store
	Fleet Fleet
	Log   zerolog.Logger
	// Now is the clock; time.Now when nil.
	Now func() time.Time
	// SessionTTL is how long a sign-in lasts; 8 hours when zero.
	SessionTTL time.Duration
	// MaxSessions bounds the sessions kept; the oldest goes past it.
	// 10000 when zero.
	MaxSessions int
	// ScanTimeout bounds a "scan now"; 30 s when zero.
	ScanTimeout time.Duration
}

// Limits of what the console accepts and keeps.
const (
	maxFormBytes   = 16 << 10 // a form post
	maxLiveStreams = 64       // /events streams open at once, in all
	maxChangesShow = 200      // history lines on a host page
)

// Console serves the pages.
type Console struct {
	cfg      Config
	sessions *sessions
	pages    map[string]*template.Template
	live     chan struct{} // a slot per open /events stream
}

// New makes a Console.
func New(c Config) (*Console, error) {
	if c.Store == nil || c.Fleet == nil {
		return nil, errors.New("web: a store and a fleet are required")
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.SessionTTL <= 0 {
		c.SessionTTL = 8 * time.Hour
	}
	if c.MaxSessions <= 0 {
		c.MaxSessions = 10000
	}
	if c.ScanTimeout <= 0 {
		c.ScanTimeout = 30 * time.Second
	}
	pages, err := parsePages()
	if err != nil {
		return nil, err
	}
	return &Console{cfg: c, sessions: newSessions(c.MaxSessions), pages: pages, live: make(chan struct{}, maxLiveStreams)}, nil
}

// parsePages parses each page with the shared layout.
func parsePages() (map[string]*template.Template, error) {
	names, err := fs.Glob(templateFS, "templates/*.html")
	if err != nil {
		return nil, err
	}
	out := map[string]*template.Template{}
	for _, n := range names {
		base := n[len("templates/") : len(n)-len(".html")]
		if base == "layout" || base == "parts" {
			continue
		}
		t, err := template.New(base).Funcs(funcs).ParseFS(templateFS, "templates/layout.html", "templates/parts.html", n)
		if err != nil {
			return nil, fmt.Errorf("web: template %s: %w", n, err)
		}
		out[base] = t
	}
	return out, nil
}

// Handler is the console's routes, each behind the security headers.
func (c *Console) Handler() http.Handler {
	mux := http.NewServeMux()
	static, _ := fs.Sub(staticFS, "static")
	mux.Handle("GET /static/", http.StripPrefix("/static/", http.FileServerFS(static)))
	mux.HandleFunc("GET /login", c.loginPage)
	mux.HandleFunc("POST /login", c.login)
	mux.HandleFunc("POST /logout", c.with(store.RoleViewer, c.logout))
	mux.HandleFunc("GET /{$}", c.with(store.RoleViewer, c.overview))
	mux.HandleFunc("GET /host/{id}", c.with(store.RoleViewer, c.hostPage))
	mux.HandleFunc("POST /host/{id}/scan", c.with(store.RoleHelpdesk, c.scanNow))
	mux.HandleFunc("GET /farms", c.with(store.RoleViewer, c.farmsPage))
	mux.HandleFunc("GET /findings", c.with(store.RoleViewer, c.findingsPage))
	mux.HandleFunc("POST /triage", c.with(store.RoleHelpdesk, c.triage))
	mux.HandleFunc("GET /events", c.with(store.RoleViewer, c.events))
	return secure(mux)
}

// csp allows this origin's scripts, styles and images and nothing inline;
// no frame may hold the pages and forms post only here.
const csp = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; " +
	"form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

// secure sets the headers every answer carries.
func secure(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd.Set("Content-Security-Policy", csp)
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("X-Frame-Options", "DENY")
		hd.Set("Referrer-Policy", "no-referrer")
		hd.Set("Cross-Origin-Opener-Policy", "same-origin")
		hd.Set("Strict-Transport-Security", "max-age=31536000")
		hd.Set("Cache-Control", "no-store")
		h.ServeHTTP(w, r)
	})
}

// render writes page name with data, or a plain error when it fails (the
// page is rendered to a buffer first, so no half page is sent).
func (c *Console) render(w http.ResponseWriter, code int, name string, data any) {
	t := c.pages[name]
	if t == nil {
		http.Error(w, "no page "+name, http.StatusInternalServerError)
		return
	}
	var b bytes.Buffer
	if err := t.ExecuteTemplate(&b, "layout", data); err != nil {
		c.cfg.Log.Error().Err(err).Str("page", name).Msg("page not rendered")
		http.Error(w, "the page could not be rendered", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(code)
	w.Write(b.Bytes())
}

// fail shows a failure to a signed-in person (never fleet data).
func (c *Console) fail(w http.ResponseWriter, r *http.Request, s *session, code int, what string, err error) {
	if err != nil {
		c.cfg.Log.Warn().Err(err).Str("path", r.URL.Path).Msg(what)
	}
	msg := what
	if err != nil && code < 500 {
		msg += ": " + err.Error()
	}
	c.render(w, code, "error", pageData{Title: http.StatusText(code), S: s, Message: msg})
}
