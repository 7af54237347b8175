package web

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"html/template"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/farmwatch/farmwatch/collector/store"
	fwv1 "github.com/farmwatch/farmwatch/proto/farmwatch/v1"
	"github.com/farmwatch/farmwatch/report"
)

// liveEvent is an /events "finding" event's data: JSON, which the page's
// script shows as text, never as HTML.
type liveEvent struct {
	HostID   string `json:"host_id"`
	Hostname string `json:"hostname"`
	Rule     string `json:"rule"`
	Severity string `json:"severity"`
	Title    string `json:"title"`
}

// How often /events looks for other changes (resolved, triaged, hosts
// coming and going) and sends a keep-alive.
const (
	changeEvery    = 2 * time.Second
	keepAliveEvery = 20 * time.Second
)

// events streams server-sent events: "finding" for each finding that
// opens (the collector's watch stream), "changed" when the fleet's state
// changed otherwise. It ends when the session does.
func (c *Console) events(w http.ResponseWriter, r *http.Request, s *session) {
	select {
	case c.live <- struct{}{}:
		defer func() { <-c.live }()
	default:
		http.Error(w, "too many live streams open: reload later", http.StatusServiceUnavailable)
		return
	}
	fl, ok := w.(http.Flusher)
	if !ok {
		http.Error(w, "streaming is not supported here", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	fmt.Fprint(w, "retry: 5000\n\n")
	fl.Flush()

	ctx, cancel := context.WithDeadline(r.Context(), s.expires)
	defer cancel()
	found := make(chan store.FindingRow)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // the watch; ends with ctx
		defer wg.Done()
		err := c.cfg.Fleet.Watch(ctx, fwv1.Severity_SEVERITY_UNSPECIFIED, func(row store.FindingRow) error {
			select {
			case found <- row:
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		})
		if err != nil && ctx.Err() == nil {
			c.cfg.Log.Warn().Err(err).Msg("console watch ended")
		}
		cancel()
	}()
	defer wg.Wait()
	defer cancel()

	change := time.NewTicker(changeEvery)
	defer change.Stop()
	alive := time.NewTicker(keepAliveEvery)
	defer alive.Stop()
	last := c.fingerprint(ctx)
	send := func(event string, data []byte) bool {
		if _, err := fmt.Fprintf(w, "event: %s\ndata: %s\n\n", event, data); err != nil {
			return false
		}
		fl.Flush()
		return true
	}
	for {
		select {
		case <-ctx.Done():
			return
		case row := <-found:
			b, _ := json.Marshal(liveEvent{HostID: row.HostID, Hostname: report.Clean(row.Hostname), Rule: row.Finding.GetRule(),
				Severity: report.SeverityName(row.Finding.GetSeverity()), Title: report.Clean(row.Finding.GetTitle())})
			if !send("finding", b) {
				return
			}
		case <-change.C:
			if _, err := c.current(r); err != nil { // signed out, or the token revoked
				send("signedout", []byte("{}"))
				return
			}
			if fp := c.fingerprint(ctx); fp != "" && fp != last {
				last = fp
				if !send("changed", []byte("{}")) {
					return
				}
			}
		case <-alive.C:
			if _, err := fmt.Fprint(w, ": alive\n\n"); err != nil {
				return
			}
			fl.Flush()
		}
	}
}

// fingerprint sums up what the pages show: hosts, their state, findings
// and their triage. "" when the store cannot be read.
func (c *Console) fingerprint(ctx context.Context) string {
	hs, err := c.cfg.Store.Hosts(ctx)
	if err != nil {
		return ""
	}
	rows, err := c.cfg.Store.Findings(ctx, store.FindingFilter{})
	if err != nil {
		return ""
	}
	hash := sha256.New()
	for _, h := range hs {
		fmt.Fprintf(hash, "h %s %t %s %s %s %d\n", h.ID, c.cfg.Fleet.Online(h.ID), h.Hostname, h.RulesVersion, h.RulesError, h.SpoolDropped)
	}
	for _, r := range rows {
		fmt.Fprintf(hash, "f %s %s %s %s %d\n", r.HostID, r.ID, r.State, r.TriageState(), r.Triage.At.UnixNano())
	}
	return hex.EncodeToString(hash.Sum(nil))
}

// funcs are the templates' helpers.
var funcs = template.FuncMap{
	"sev":    func(s fwv1.Severity) string { return report.SeverityName(s) },
	"sevcls": func(s fwv1.Severity) string { return "sev-" + report.SeverityName(s) },
	"when": func(t time.Time) string {
		if t.IsZero() {
			return "never"
		}
		return t.UTC().Format("2006-01-02 15:04:05 UTC")
	},
	"ts": func(t interface{ AsTime() time.Time }) string { return t.AsTime().UTC().Format("2006-01-02 15:04:05") },
	"op": func(o fwv1.ObservationChange_Op) string {
		return strings.ToLower(strings.TrimPrefix(o.String(), "OP_"))
	},
	"describe": report.Describe,
	"clean":    report.Clean,
	"title": func(f *fwv1.Finding) string {
		if f.GetLabel() != "" {
			return f.GetTitle() + ": " + f.GetLabel()
		}
		return f.GetTitle()
	},
	"allows": func(s *session, role string) bool { return s != nil && allows(s.role, store.Role(role)) },
	"pct": func(n, of uint32) string {
		if of == 0 {
			return "0%"
		}
		return fmt.Sprintf("%d%%", n*100/of)
	},
	"add":      func(a, b int) int { return a + b },
	"mod":      func(a, b int) int { return a % b },
	"list":     func(s ...string) []string { return s },
	"row":      row,
	"notriage": func(r rowData) rowData { r.CanTriage = false; return r },
}
