package output

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/url"
	"os"
	"strings"
	"time"

	fwv1 "github.com/farmwatch/farmwatch/proto/farmwatch/v1"
	"github.com/farmwatch/farmwatch/report"
	"github.com/rs/zerolog"
)

// Syslog sends one RFC 5424 message per event to a syslog receiver over
// UDP (RFC 5426, one datagram each), TCP (RFC 6587 octet counting) or TLS
// (RFC 5425). Messages wait in a bounded memory queue while the receiver
// is unreachable; what the bound drops is counted.
type Syslog struct {
	Network string // udp, tcp or tls
	Addr    string
	TLS     *tls.Config // for tls
	Log     zerolog.Logger
	Metrics *Metrics
	Host    string // this collector's name in the messages

	q chan []byte
}

// syslogQueue bounds the messages waiting for the receiver.
const syslogQueue = 10000

// maxDatagram bounds a UDP message (RFC 5426 asks receivers for 2048
// octets at least; larger ones are cut).
const maxDatagram = 2048

// ParseSyslog reads tcp://HOST:PORT, tls://HOST:PORT or udp://HOST:PORT.
func ParseSyslog(raw string) (network, addr string, err error) {
	u, err := url.Parse(raw)
	if err != nil {
		return "", "", fmt.Errorf("syslog %q: %w", raw, err)
	}
	switch u.Scheme {
	case "tcp", "tls", "udp":
	default:
		return "", "", fmt.Errorf("syslog %q: want tcp://, tls:// or udp://HOST:PORT", raw)
	}
	if _, port, err := net.SplitHostPort(u.Host); err != nil || port == "" || u.Path != "" {
		return "", "", fmt.Errorf("syslog %q: want %s://HOST:PORT", raw, u.Scheme)
	}
	return u.Scheme, u.Host, nil
}

func (s *Syslog) name() string { return "syslog " + s.Network + "://" + s.Addr }

// Send queues the message of e; a full queue drops it, counted.
func (s *Syslog) Send(e Event, at time.Time) {
	msg := FormatSyslog(e, s.Host, os.Getpid(), at)
	select {
	case s.q <- msg:
	default:
		s.Metrics.drop(s.name(), 1)
		s.Log.Error().Str("output", s.name()).Msg("syslog queue full: event dropped")
	}
}

// Run sends until ctx ends, reconnecting with backoff.
func (s *Syslog) Run(ctx context.Context) {
	var conn net.Conn
	defer func() {
		if conn != nil {
			conn.Close()
		}
	}()
	backoff := time.Second
	var pending []byte
	for {
		if pending == nil {
			select {
			case <-ctx.Done():
				return
			case pending = <-s.q:
			}
		}
		if conn == nil {
			c, err := s.dial(ctx)
			if err != nil {
				s.Metrics.failed(s.name())
				s.Log.Warn().Err(err).Str("output", s.name()).Dur("retry_in", backoff).Msg("syslog receiver unreachable")
				select {
				case <-ctx.Done():
					return
				case <-time.After(backoff):
				}
				backoff = min(backoff*2, time.Minute)
				continue
			}
			conn, backoff = c, time.Second
		}
		frame := pending
		if s.Network != "udp" {
			frame = append([]byte(fmt.Sprintf("%d ", len(pending))), pending...)
		} else if len(frame) > maxDatagram {
			frame = frame[:maxDatagram]
		}
		conn.SetWriteDeadline(time.Now().Add(10 * time.Second))
		if _, err := conn.Write(frame); err != nil {
			s.Metrics.failed(s.name())
			s.Log.Warn().Err(err).Str("output", s.name()).Msg("syslog write failed: reconnecting")
			conn.Close()
			conn = nil
			continue // pending is sent again on the new connection
		}
		s.Metrics.sent(s.name())
		pending = nil
	}
}

func (s *Syslog) dial(ctx context.Context) (net.Conn, error) {
	d := &net.Dialer{Timeout: 10 * time.Second}
	switch s.Network {
	case "tls":
		cfg := s.TLS
		if cfg == nil {
			cfg = &tls.Config{MinVersion: tls.VersionTLS12}
		}
		return (&tls.Dialer{NetDialer: d, Config: cfg}).DialContext(ctx, "tcp", s.Addr)
	case "udp":
		return d.DialContext(ctx, "udp", s.Addr)
	}
	return d.DialContext(ctx, "tcp", s.Addr)
}

// syslogSD is the structured data element's id: a private one under the
// IANA enterprise number 32473, which RFC 5612 reserves for documentation
// and examples, until the project has its own.
const syslogSD = "farmwatch@32473"

// syslogSeverity maps a finding's severity to syslog's: critical is
// crit (2), high err (3), medium warning (4), low notice (5), info info
// (6); a resolved finding is notice.
func syslogSeverity(e Event) int {
	if e.Kind == Resolved {
		return 5
	}
	switch e.Finding.GetSeverity() {
	case fwv1.Severity_SEVERITY_CRITICAL:
		return 2
	case fwv1.Severity_SEVERITY_HIGH:
		return 3
	case fwv1.Severity_SEVERITY_MEDIUM:
		return 4
	case fwv1.Severity_SEVERITY_LOW:
		return 5
	}
	return 6
}

// FormatSyslog is e as one RFC 5424 message of facility local0 (16).
func FormatSyslog(e Event, host string, pid int, at time.Time) []byte {
	f := e.Finding
	msgid := "finding"
	if e.Cluster != nil {
		msgid = "cluster"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "<%d>1 %s %s farmwatch %d %s ", 16*8+syslogSeverity(e), at.UTC().Format("2006-01-02T15:04:05.000000Z"),
		header(host), pid, msgid)
	b.WriteString("[" + syslogSD)
	param := func(k, v string) {
		if v != "" {
			b.WriteString(" " + k + `="` + sdEscape(v) + `"`)
		}
	}
	param("event", string(e.Kind))
	param("host", e.Hostname)
	param("host_id", e.HostID)
	param("rule", f.GetRule())
	param("severity", report.SeverityName(f.GetSeverity()))
	param("finding", e.FindingID)
	param("triage", e.Triage)
	param("suppressed_by", f.GetSuppressedBy())
	param("tags", strings.Join(f.GetTags(), ","))
	if !e.FirstSeen.IsZero() {
		param("first_seen", e.FirstSeen.UTC().Format(time.RFC3339))
	}
	b.WriteString("] \ufeff")
	title := f.GetTitle()
	if f.GetLabel() != "" {
		title += ": " + f.GetLabel()
	}
	text := fmt.Sprintf("%s %s finding on %s: %s", e.Kind, report.SeverityName(f.GetSeverity()), e.Hostname, title)
	if e.Cluster != nil {
		text = fmt.Sprintf("%s %s farm cluster %s: %s", e.Kind, report.SeverityName(f.GetSeverity()), e.FindingID, title)
	}
	b.WriteString(report.Clean(text))
	return []byte(b.String())
}

// header is a HOSTNAME field: printable US-ASCII without spaces, at most
// 255 octets, "-" when empty.
func header(s string) string {
	var b strings.Builder
	for _, r := range s {
		if r > 32 && r < 127 && b.Len() < 255 {
			b.WriteRune(r)
		}
	}
	if b.Len() == 0 {
		return "-"
	}
	return b.String()
}

// sdEscape escapes a PARAM-VALUE (RFC 5424 6.3.3: '"', '\' and ']'),
// with control characters made visible.
func sdEscape(s string) string {
	s = report.Clean(s)
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`, `]`, `\]`)
	return r.Replace(s)
}
