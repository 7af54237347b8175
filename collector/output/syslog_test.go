package output

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
)

// rfc5424 is the header of RFC 5424 (PRI VERSION TIMESTAMP HOSTNAME
// APP-NAME PROCID MSGID) and one structured data element.
var rfc5424 = regexp.MustCompile(`^<(\d{1,3})>1 (\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z) ([!-~]{1,255}) ([!-~]{1,48}) ([!-~]{1,128}) ([!-~]{1,32}) \[farmwatch@32473( [a-z_]+="(?:[^"\\\]]|\\["\\\]])*")*\] \x{feff}(.*)$`)

func TestFormatSyslog(t *testing.T) {
	f := kvm()
	f.Label = `evil"] [x y="z"] \`
	e := Event{Kind: Opened, HostID: "h1", Hostname: "host\nname]", FindingID: `ipkvm|usb/1-2`, Finding: f, FirstSeen: t0}
	msg := string(FormatSyslog(e, "coll ector", 42, t0))
	m := rfc5424.FindStringSubmatch(msg)
	if m == nil {
		t.Fatalf("not RFC 5424: %q", msg)
	}
	if m[1] != "130" || m[3] != "collector" || m[4] != "farmwatch" || m[5] != "42" || m[6] != "finding" {
		t.Fatalf("header %q", m[1:7])
	}
	for _, want := range []string{`event="new"`, `host="host\\x0aname\]"`, `rule="ipkvm-usb-and-display"`, `severity="critical"`, `tags="T1200"`, `first_seen="2026-03-01T12:00:00Z"`} {
		if !strings.Contains(msg, want) {
			t.Errorf("lacks %s: %q", want, msg)
		}
	}
	if strings.Contains(m[8], "\n") || !strings.Contains(m[8], `evil"] [x y="z"] \`) {
		t.Errorf("message %q", m[8])
	}
	e.Kind = Resolved
	if !strings.HasPrefix(string(FormatSyslog(e, "", 1, t0)), "<133>1 ") { // local0.notice; "-" for no host
		t.Error("a resolved finding is not notice")
	}
	if got := string(FormatSyslog(e, "", 1, t0)); !strings.Contains(got, "Z - farmwatch 1 finding [") {
		t.Errorf("empty hostname: %q", got)
	}
}

func TestParseSyslog(t *testing.T) {
	for in, want := range map[string]string{"tcp://siem.example:6514": "tcp siem.example:6514", "udp://127.0.0.1:514": "udp 127.0.0.1:514", "tls://[::1]:6514": "tls [::1]:6514"} {
		n, a, err := ParseSyslog(in)
		if err != nil || n+" "+a != want {
			t.Errorf("%s: %s %s %v", in, n, a, err)
		}
	}
	for _, bad := range []string{"", "syslog.example:514", "http://x:514", "tcp://x", "tcp://x:514/path", "udp://:"} {
		if _, _, err := ParseSyslog(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func readFrame(r *bufio.Reader) (string, error) {
	var n int
	if _, err := fmt.Fscanf(r, "%d ", &n); err != nil {
		return "", err
	}
	b := make([]byte, n)
	_, err := io.ReadFull(r, b)
	return string(b), err
}

// TestSyslogStream: TCP and TLS receivers get octet-counted RFC 5424
// frames; a receiver that comes up late gets what waited; a full queue's
// drops are counted.
func TestSyslogStream(t *testing.T) {
	ts := httptest.NewUnstartedServer(nil)
	ts.StartTLS()
	defer ts.Close()
	pool := x509.NewCertPool()
	pool.AddCert(ts.Certificate())
	for _, network := range []string{"tcp", "tls"} {
		t.Run(network, func(t *testing.T) {
			reserve, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			addr := reserve.Addr().String()
			reserve.Close() // down at first
			reg := prometheus.NewRegistry()
			m, _ := NewMetrics(reg)
			s := &Syslog{Network: network, Addr: addr, Log: zerolog.Nop(), Metrics: m, Host: "c1", q: make(chan []byte, 3),
				TLS: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}
			f := kvm()
			for i := range 5 {
				f.Label = fmt.Sprintf("n%d", i)
				s.Send(Event{Kind: Opened, Hostname: "h", Finding: f}, t0)
			}
			if d := metric(t, reg, "farmwatch_output_dropped_total"); d != 2 {
				t.Fatalf("dropped %v, want 2", d)
			}
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan struct{})
			go func() { s.Run(ctx); close(done) }()
			defer func() { cancel(); <-done }()
			time.Sleep(50 * time.Millisecond)
			var ln net.Listener
			if network == "tls" {
				ln, err = tls.Listen("tcp", addr, ts.TLS)
			} else {
				ln, err = net.Listen("tcp", addr)
			}
			if err != nil {
				t.Skipf("the port was taken meanwhile: %v", err)
			}
			defer ln.Close()
			conn, err := ln.Accept()
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			conn.SetReadDeadline(time.Now().Add(20 * time.Second))
			r := bufio.NewReader(conn)
			for i := range 3 {
				msg, err := readFrame(r)
				if err != nil {
					t.Fatal(err)
				}
				if !rfc5424.MatchString(msg) || !strings.Contains(msg, fmt.Sprintf("n%d", i)) {
					t.Fatalf("frame %d: %q", i, msg)
				}
			}
		})
	}
}
