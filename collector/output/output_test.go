package output

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/farmwatch/farmwatch/collector/store"
	"github.com/farmwatch/farmwatch/collector/store/sqlite"
	fwv1 "github.com/farmwatch/farmwatch/proto/farmwatch/v1"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func kvm() *fwv1.Finding {
	return &fwv1.Finding{Rule: "ipkvm-usb-and-display", Severity: fwv1.Severity_SEVERITY_CRITICAL, Title: "IP-KVM attached", Label: "PiKVM",
		Evidence: []string{"usb/1-2", "display/card0-HDMI-A-1"}, Tags: []string{"T1200"}, Message: "keyboard and capture agree"}
}

func TestOCSF(t *testing.T) {
	e := Event{Kind: Opened, At: t0, HostID: "h1", Hostname: "pikvm-host", OS: "linux", EgressIP: "198.51.100.7", FindingID: "f1",
		Finding: kvm(), FirstSeen: t0.Add(-time.Minute), LastSeen: t0}
	b, err := json.Marshal(ToOCSF(e, "v1.2.3"))
	if err != nil {
		t.Fatal(err)
	}
	var o map[string]any
	json.Unmarshal(b, &o)
	get := func(path string) any {
		var cur any = o
		for _, p := range strings.Split(path, ".") {
			m, ok := cur.(map[string]any)
			if !ok {
				return nil
			}
			cur = m[p]
		}
		return cur
	}
	for path, want := range map[string]any{
		"class_uid": 2004.0, "category_uid": 2.0, "activity_id": 1.0, "type_uid": 200401.0, "severity_id": 5.0, "severity": "Critical",
		"status_id": 1.0, "time": float64(t0.UnixMilli()), "finding_info.uid": "h1/f1", "finding_info.title": "IP-KVM attached: PiKVM",
		"finding_info.analytic.uid": "ipkvm-usb-and-display", "finding_info.first_seen_time": float64(t0.Add(-time.Minute).UnixMilli()),
		"metadata.product.name": "farmwatch", "metadata.product.version": "v1.2.3", "metadata.version": "1.1.0",
		"device.hostname": "pikvm-host", "device.ip": "198.51.100.7",
	} {
		if got := get(path); got != want {
			t.Errorf("%s = %v, want %v", path, got, want)
		}
	}
	res, _ := o["resources"].([]any)
	if len(res) != 1 || res[0].(map[string]any)["name"] != "pikvm-host" || res[0].(map[string]any)["uid"] != "h1" {
		t.Errorf("resources %v", o["resources"])
	}
	at, _ := get("finding_info.attacks").([]any)
	if len(at) != 1 || at[0].(map[string]any)["technique"].(map[string]any)["uid"] != "T1200" {
		t.Errorf("attacks %v", get("finding_info.attacks"))
	}
	// Resolved closes; acknowledged is in progress; expected is suppressed.
	for _, c := range []struct {
		kind           Kind
		triage         string
		act, status    int
		actName, sName string
	}{{Resolved, "", 3, 4, "Close", "Resolved"}, {Changed, "acknowledged", 2, 2, "Update", "In Progress"}, {Changed, "expected", 2, 3, "Update", "Suppressed"}} {
		e.Kind, e.Triage = c.kind, c.triage
		o := ToOCSF(e, "")
		if o.ActivityID != c.act || o.ActivityName != c.actName || o.TypeUID != 200400+c.act || o.StatusID != c.status || o.Status != c.sName {
			t.Errorf("%s %s: %+v", c.kind, c.triage, o)
		}
	}
	cl := &fwv1.Cluster{Id: "c-9", Severity: fwv1.Severity_SEVERITY_HIGH, DistinctPeople: 2, State: "open",
		Members: []*fwv1.ClusterMember{{HostId: "a", Hostname: "ha"}, {HostId: "b", Hostname: "hb"}}, Signals: []*fwv1.Signal{{Kind: "egress_ip", Value: "198.51.100.7"}}}
	co := ToOCSF(Event{Kind: Opened, At: t0, FindingID: "c-9", Cluster: cl, Finding: clusterFinding(cl)}, "")
	if co.FindingInfo.UID != "cluster/c-9" || len(co.Resources) != 2 || co.SeverityID != 4 || co.FindingInfo.Title != "Farm cluster: 2 hosts of 2 people" || co.Device != nil {
		t.Errorf("cluster event %+v", co)
	}
}

func TestQueue(t *testing.T) {
	dir := t.TempDir()
	q, err := OpenQueue(dir, 3)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		n, err := q.Put([]byte{byte('a' + i)})
		if err != nil || (i < 3 && n != 0) || (i >= 3 && n != 1) {
			t.Fatalf("put %d: dropped %d, %v", i, n, err)
		}
	}
	if q.Len() != 3 || q.Dropped() != 2 {
		t.Fatalf("len %d dropped %d", q.Len(), q.Dropped())
	}
	seq, b, ok, err := q.Peek()
	if !ok || err != nil || string(b) != "c" {
		t.Fatalf("peek %d %q %v %v", seq, b, ok, err)
	}
	if err := q.Done(seq); err != nil {
		t.Fatal(err)
	}
	// A crash mid-write leaves a .tmp file: gone at the next open; the
	// messages on disk stay, in order.
	os.WriteFile(filepath.Join(dir, "00000000000000000099.msg.tmp"), []byte("half"), 0o600)
	q2, err := OpenQueue(dir, 3)
	if err != nil {
		t.Fatal(err)
	}
	if _, b, _, _ := q2.Peek(); string(b) != "d" || q2.Len() != 2 {
		t.Fatalf("reopened: %q len %d", b, q2.Len())
	}
	if _, err := os.Stat(filepath.Join(dir, "00000000000000000099.msg.tmp")); !os.IsNotExist(err) {
		t.Fatal("the half-written message was kept")
	}
	if _, err := q2.Put(make([]byte, MaxMessageBytes+1)); err == nil {
		t.Fatal("an oversized message was queued")
	}
	os.WriteFile(filepath.Join(dir, "x.msg"), nil, 0o600)
	if _, err := OpenQueue(dir, 3); err == nil || !strings.Contains(err.Error(), "x.msg") {
		t.Fatalf("a stray file: %v", err)
	}
	if _, err := OpenQueue(t.TempDir(), 0); err == nil {
		t.Fatal("a queue of 0 was made")
	}
}

// receiver is a local webhook receiver that checks signatures.
type receiver struct {
	mu     sync.Mutex
	bodies [][]byte
	bad    int
	secret []byte
}

func (r *receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	b, _ := io.ReadAll(req.Body)
	r.mu.Lock()
	defer r.mu.Unlock()
	if !Verify(r.secret, b, req.Header.Get(SignatureHeader)) || req.Header.Get("Content-Type") != "application/json" {
		r.bad++
		http.Error(w, "bad signature", http.StatusUnauthorized)
		return
	}
	r.bodies = append(r.bodies, b)
}

func (r *receiver) got() [][]byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([][]byte(nil), r.bodies...)
}

func waitFor(t *testing.T, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("%s never happened", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func metric(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	sum := 0.0
	for _, mf := range mfs {
		if mf.GetName() == name {
			for _, m := range mf.GetMetric() {
				sum += m.GetCounter().GetValue() + m.GetGauge().GetValue()
			}
		}
	}
	return sum
}

// TestWebhookReceiverDown: while the receiver's port is closed, events
// wait on disk and deliveries are retried; when it comes back every one
// arrives, in order, signed.
func TestWebhookReceiverDown(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // down
	reg := prometheus.NewRegistry()
	m, _ := NewMetrics(reg)
	q, err := OpenQueue(t.TempDir(), 100)
	if err != nil {
		t.Fatal(err)
	}
	secret := []byte("s3cret")
	w := &Webhook{URL: "http://" + addr + "/hook", Secret: secret, Queue: q, Client: &http.Client{Timeout: 2 * time.Second},
		Log: zerolog.Nop(), Metrics: m, MinBackoff: 10 * time.Millisecond, MaxBackoff: 50 * time.Millisecond}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { w.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	for i := range 20 {
		q.Put([]byte(`{"n":` + string(rune('a'+i)) + `}`))
	}
	waitFor(t, "failed attempts counted", func() bool { return metric(t, reg, "farmwatch_output_failures_total") >= 3 })
	if q.Len() != 20 {
		t.Fatalf("while down, %d queued", q.Len())
	}
	rcv := &receiver{secret: secret}
	ln, err = net.Listen("tcp", addr) // back
	if err != nil {
		t.Skipf("the port was taken meanwhile: %v", err)
	}
	srv := &http.Server{Handler: rcv}
	go srv.Serve(ln)
	defer srv.Close()
	waitFor(t, "every event delivered", func() bool { return len(rcv.got()) == 20 })
	for i, b := range rcv.got() {
		if string(b) != `{"n":`+string(rune('a'+i))+`}` {
			t.Fatalf("delivery %d is %s: out of order", i, b)
		}
	}
	if rcv.bad != 0 || q.Len() != 0 || metric(t, reg, "farmwatch_output_sent_total") != 20 {
		t.Fatalf("bad %d, left %d", rcv.bad, q.Len())
	}
	// A wrong secret: refused by the receiver, kept and retried, not lost.
	w2 := *w
	w2.Secret = []byte("wrong")
	if err := w2.post(ctx, []byte("{}")); err == nil || !strings.Contains(err.Error(), "401") {
		t.Fatalf("wrong signature: %v", err)
	}
}

func TestSign(t *testing.T) {
	// The HMAC-SHA256 test vector of RFC 4231, case 2.
	if got := Sign([]byte("Jefe"), []byte("what do ya want for nothing?")); got != "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843" {
		t.Fatalf("Sign = %s", got)
	}
	if Verify([]byte("k"), []byte("body"), Sign([]byte("k"), []byte("body!"))) {
		t.Fatal("a signature of another body verified")
	}
}

func TestCheckURL(t *testing.T) {
	for _, u := range []string{"https://siem.example/hook", "http://127.0.0.1:8080/x"} {
		if err := CheckURL(u); err != nil {
			t.Errorf("%s: %v", u, err)
		}
	}
	for _, u := range []string{"", "ftp://x/", "https://", "/relative", "file:///etc/passwd", "http://[::1"} {
		if err := CheckURL(u); err == nil {
			t.Errorf("%q accepted", u)
		}
	}
	if r := redact("https://user:pw@siem.example/hook?token=abc"); r != "https://siem.example/hook" {
		t.Errorf("redact = %s", r)
	}
}

// TestOutputs: the store's findings become events: none for what was open
// at the first start, then new, changed (triaged), resolved; and what
// happens while the outputs are stopped is sent when they start again.
func TestOutputs(t *testing.T) {
	ctx := context.Background()
	st, err := sqlite.Open(ctx, ":memory:")
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.PutHost(ctx, store.Host{ID: "h1", Hostname: "pikvm-host", OS: "linux", Info: &fwv1.HostInfo{Hostname: "pikvm-host"}, NodeKeyHash: []byte("k"), EnrolledAt: t0, LastSeen: t0}); err != nil {
		t.Fatal(err)
	}
	seq := uint64(0)
	apply := func(fs ...*fwv1.Finding) {
		t.Helper()
		seq++
		if _, err := st.ApplyMessage(ctx, "h1", seq, store.Apply{Findings: fs, FindingsSet: true, Seen: time.Now()}); err != nil {
			t.Fatal(err)
		}
	}
	old := &fwv1.Finding{Rule: "remote-access-tool", Severity: fwv1.Severity_SEVERITY_HIGH, Title: "AnyDesk", Evidence: []string{"process/1@0"}}
	apply(old)

	rcv := &receiver{secret: []byte("k")}
	srv := &http.Server{Handler: rcv}
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	go srv.Serve(ln)
	defer srv.Close()
	slog, _ := net.ListenPacket("udp", "127.0.0.1:0")
	defer slog.Close()
	dir := t.TempDir()
	start := func() (stop func()) {
		q, err := OpenQueue(filepath.Join(dir, "hook"), 100)
		if err != nil {
			t.Fatal(err)
		}
		o := &Outputs{Store: st, Log: zerolog.Nop(), StateFile: filepath.Join(dir, "state.json"), Every: 20 * time.Millisecond,
			Webhooks: []*Webhook{{URL: "http://" + ln.Addr().String(), Secret: []byte("k"), Queue: q, Client: http.DefaultClient, Log: zerolog.Nop(), MinBackoff: time.Millisecond}},
			Syslogs:  []*Syslog{{Network: "udp", Addr: slog.LocalAddr().String(), Log: zerolog.Nop(), Host: "collector-1"}}}
		c, cancel := context.WithCancel(ctx)
		done := make(chan error)
		go func() { done <- o.Run(c) }()
		return func() {
			cancel()
			if err := <-done; err != nil {
				t.Error(err)
			}
		}
	}
	activities := func() []string {
		var out []string
		for _, b := range rcv.got() {
			var o OCSF
			json.Unmarshal(b, &o)
			out = append(out, o.ActivityName+" "+o.FindingInfo.Analytic.UID)
		}
		return out
	}
	stop := start()
	waitFor(t, "the state file", func() bool { _, err := os.Stat(filepath.Join(dir, "state.json")); return err == nil })
	apply(old, kvm())
	waitFor(t, "the new finding sent", func() bool { return len(rcv.got()) == 1 })
	buf := make([]byte, 4096)
	slog.SetReadDeadline(time.Now().Add(10 * time.Second))
	n, _, err := slog.ReadFrom(buf)
	if err != nil || !strings.HasPrefix(string(buf[:n]), "<130>1 ") || !strings.Contains(string(buf[:n]), `rule="ipkvm-usb-and-display"`) {
		t.Fatalf("syslog datagram %q: %v", buf[:n], err)
	}
	rows, _ := st.Findings(ctx, store.FindingFilter{HostID: "h1"})
	for _, r := range rows {
		if r.Finding.GetRule() == "ipkvm-usb-and-display" {
			st.TriageFinding(ctx, store.Triage{HostID: "h1", FindingID: r.ID, State: store.Acknowledged, By: "alice", At: t0})
		}
	}
	waitFor(t, "the triage sent", func() bool { return len(rcv.got()) == 2 })
	apply(kvm())
	waitFor(t, "the resolution sent", func() bool { return len(rcv.got()) == 3 })
	stop()
	// While stopped: the tool comes back and the KVM goes.
	apply(old)
	stop = start()
	waitFor(t, "what happened while stopped", func() bool { return len(rcv.got()) == 5 })
	stop()
	want := []string{"Create ipkvm-usb-and-display", "Update ipkvm-usb-and-display", "Close remote-access-tool"}
	got := activities()
	for i, w := range want {
		if got[i] != w {
			t.Fatalf("events %v, want %v first", got, want)
		}
	}
	rest := strings.Join(got[3:], ";")
	if !strings.Contains(rest, "Create remote-access-tool") || !strings.Contains(rest, "Close ipkvm-usb-and-display") {
		t.Fatalf("events after the restart: %v", got[3:])
	}
}

// TestFullQueueCounted: events past a webhook queue's bound drop the
// oldest, and /metrics counts them.
func TestFullQueueCounted(t *testing.T) {
	reg := prometheus.NewRegistry()
	m, _ := NewMetrics(reg)
	q, _ := OpenQueue(t.TempDir(), 2)
	o := &Outputs{Log: zerolog.Nop(), Metrics: m, Webhooks: []*Webhook{{URL: "http://127.0.0.1:1/", Queue: q}}}
	for range 5 {
		o.emit(Event{Kind: Opened, At: t0, HostID: "h", Finding: kvm()})
	}
	if d := metric(t, reg, "farmwatch_output_dropped_total"); d != 3 || q.Len() != 2 || q.Dropped() != 3 {
		t.Fatalf("dropped %v, queued %d", d, q.Len())
	}
}
