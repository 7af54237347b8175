package web

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/farmwatch/farmwatch/collector/pki"
	"github.com/farmwatch/farmwatch/collector/store"
)

// The cookies. The __Host- prefix makes browsers refuse them unless they
// are Secure, for path / and without a domain: no other host or path can
// set or shadow them.
const (
	sessionCookie = "__Host-farmwatch-session"
	loginCookie   = "__Host-farmwatch-login" // the sign-in form's CSRF value
)

// session is one sign-in. The token's secret is never kept: its hash is,
// so each request can see that the token is still valid (a revoked or
// expired token ends its sessions at once).
type session struct {
	id        string
	csrf      string
	tokenHash []byte
	tokenID   string
	name      string
	role      store.Role
	created   time.Time
	expires   time.Time
}

// sessions are the console's sign-ins, in memory: a collector restart
// signs everyone out.
type sessions struct {
	mu  sync.Mutex
	max int
	m   map[string]*session
}

func newSessions(max int) *sessions { return &sessions{max: max, m: map[string]*session{}} }

func randomToken() string {
	b := make([]byte, 32)
	rand.Read(b) // never fails (crypto/rand)
	return base64.RawURLEncoding.EncodeToString(b)
}

func (ss *sessions) add(s *session, now time.Time) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	for id, o := range ss.m {
		if !now.Before(o.expires) {
			delete(ss.m, id)
		}
	}
	for len(ss.m) >= ss.max { // the oldest goes
		var old *session
		for _, o := range ss.m {
			if old == nil || o.created.Before(old.created) {
				old = o
			}
		}
		delete(ss.m, old.id)
	}
	ss.m[s.id] = s
}

func (ss *sessions) get(id string, now time.Time) *session {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	s := ss.m[id]
	if s != nil && !now.Before(s.expires) {
		delete(ss.m, id)
		return nil
	}
	return s
}

func (ss *sessions) drop(id string) {
	ss.mu.Lock()
	delete(ss.m, id)
	ss.mu.Unlock()
}

// rank orders the roles as the fleet API does.
var rank = map[store.Role]int{store.RoleViewer: 1, store.RoleHelpdesk: 2, store.RoleAdmin: 3}

func allows(have, want store.Role) bool { return rank[have] > 0 && rank[have] >= rank[want] }

// errNoSession: the request has no live session.
var errNoSession = errors.New("not signed in")

// current is the request's session, checked against the token store.
func (c *Console) current(r *http.Request) (*session, error) {
	ck, err := r.Cookie(sessionCookie)
	if err != nil || ck.Value == "" {
		return nil, errNoSession
	}
	now := c.cfg.Now()
	s := c.sessions.get(ck.Value, now)
	if s == nil {
		return nil, errNoSession
	}
	tok, err := c.cfg.Store.TokenByHash(r.Context(), s.tokenHash)
	if errors.Is(err, store.ErrNotFound) || (err == nil && !tok.Valid(now)) {
		c.sessions.drop(s.id)
		return nil, errNoSession
	}
	if err != nil {
		return nil, err
	}
	return s, nil
}

// with wraps a handler that needs a session of at least role want. GETs
// without a session go to the sign-in page; POSTs must carry the
// session's CSRF token.
func (c *Console) with(want store.Role, h func(http.ResponseWriter, *http.Request, *session)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		s, err := c.current(r)
		if err != nil {
			if !errors.Is(err, errNoSession) {
				c.cfg.Log.Error().Err(err).Msg("session not checked")
				http.Error(w, "the session could not be checked", http.StatusInternalServerError)
				return
			}
			if r.Method == http.MethodGet && r.URL.Path != "/events" {
				http.Redirect(w, r, "/login", http.StatusSeeOther)
				return
			}
			http.Error(w, "sign in first", http.StatusUnauthorized)
			return
		}
		if r.Method == http.MethodPost {
			r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
			if err := r.ParseForm(); err != nil {
				c.fail(w, r, s, http.StatusBadRequest, "the form was refused", err)
				return
			}
			if !sameToken(r.PostFormValue("csrf"), s.csrf) {
				c.fail(w, r, s, http.StatusForbidden, "the form's CSRF token is missing or wrong: reload the page and try again", nil)
				return
			}
		}
		if !allows(s.role, want) {
			c.fail(w, r, s, http.StatusForbidden, "this needs the "+string(want)+" role; you signed in as "+string(s.role), nil)
			return
		}
		h(w, r, s)
	}
}

func sameToken(got, want string) bool {
	return got != "" && subtle.ConstantTimeCompare([]byte(got), []byte(want)) == 1
}

func (c *Console) setCookie(w http.ResponseWriter, name, value string, expires time.Time) {
	http.SetCookie(w, &http.Cookie{Name: name, Value: value, Path: "/", Expires: expires, MaxAge: maxAge(expires, c.cfg.Now()),
		Secure: true, HttpOnly: true, SameSite: http.SameSiteStrictMode})
}

func maxAge(expires, now time.Time) int {
	if s := int(expires.Sub(now) / time.Second); s > 0 {
		return s
	}
	return -1 // delete it
}

// loginPage shows the sign-in form, with a fresh CSRF value in a cookie
// and in the form (a site cannot sign a person in under its own token).
func (c *Console) loginPage(w http.ResponseWriter, r *http.Request) {
	v := randomToken()
	c.setCookie(w, loginCookie, v, c.cfg.Now().Add(time.Hour))
	c.render(w, http.StatusOK, "login", pageData{Title: "Sign in", CSRF: v})
}

// login signs a person in with a fleet API token (form field token).
func (c *Console) login(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	refuse := func(code int, msg string) {
		v := randomToken()
		c.setCookie(w, loginCookie, v, c.cfg.Now().Add(time.Hour))
		c.render(w, code, "login", pageData{Title: "Sign in", CSRF: v, Message: msg})
	}
	if err := r.ParseForm(); err != nil {
		refuse(http.StatusBadRequest, "the form was refused: "+err.Error())
		return
	}
	ck, err := r.Cookie(loginCookie)
	if err != nil || !sameToken(r.PostFormValue("csrf"), ck.Value) {
		refuse(http.StatusForbidden, "the sign-in form's CSRF token is missing or wrong: try again")
		return
	}
	secret := strings.TrimSpace(r.PostFormValue("token"))
	if secret == "" {
		refuse(http.StatusUnauthorized, "a token is required")
		return
	}
	now := c.cfg.Now()
	tok, err := c.cfg.Store.TokenByHash(r.Context(), pki.Hash(secret))
	switch {
	case errors.Is(err, store.ErrNotFound), err == nil && !tok.Revoked.IsZero(), err == nil && tok.Expired(now):
		c.cfg.Log.Warn().Str("peer", r.RemoteAddr).Msg("console sign-in refused")
		refuse(http.StatusUnauthorized, "that token is not valid (unknown, revoked or expired)")
		return
	case err != nil:
		c.cfg.Log.Error().Err(err).Msg("token lookup failed")
		refuse(http.StatusInternalServerError, "the token could not be checked")
		return
	case rank[tok.Role] == 0:
		refuse(http.StatusForbidden, "that token has no role the console knows")
		return
	}
	expires := now.Add(c.cfg.SessionTTL)
	if !tok.Expires.IsZero() && tok.Expires.Before(expires) {
		expires = tok.Expires
	}
	s := &session{id: randomToken(), csrf: randomToken(), tokenHash: tok.Hash, tokenID: tok.ID, name: tok.Name,
		role: tok.Role, created: now, expires: expires}
	c.sessions.add(s, now)
	if now.Sub(tok.LastUsed) >= time.Minute {
		if err := c.cfg.Store.TouchToken(r.Context(), tok.ID, now); err != nil {
			c.cfg.Log.Warn().Err(err).Str("token", tok.ID).Msg("token use not recorded")
		}
	}
	c.cfg.Log.Info().Str("token", tok.ID).Str("role", string(tok.Role)).Str("peer", r.RemoteAddr).Msg("console sign-in")
	c.setCookie(w, loginCookie, "", now) // used
	c.setCookie(w, sessionCookie, s.id, expires)
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

func (c *Console) logout(w http.ResponseWriter, r *http.Request, s *session) {
	c.sessions.drop(s.id)
	c.setCookie(w, sessionCookie, "", c.cfg.Now())
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}

// who is how a triage records its author: the token's name and id.
func (s *session) who() string { return s.name + " (" + s.tokenID + ")" }

// Name is the signed-in token's name, for the page header.
func (s *session) Name() string { return s.name }

// Role is the signed-in token's role.
func (s *session) Role() store.Role { return s.role }
