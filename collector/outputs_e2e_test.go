package main

import (
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/farmwatch/farmwatch/collector/output"
)

// hookReceiver is a webhook receiver on a fixed local address that can
// be stopped and started again.
type hookReceiver struct {
	t      *testing.T
	addr   string
	secret []byte
	mu     sync.Mutex
	events []output.OCSF
	bad    int
	srv    *http.Server
}

func (h *hookReceiver) start() {
	h.t.Helper()
	ln, err := net.Listen("tcp", h.addr)
	if err != nil {
		h.t.Fatalf("receiver: %v", err)
	}
	h.srv = &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		h.mu.Lock()
		defer h.mu.Unlock()
		var o output.OCSF
		if !output.Verify(h.secret, b, r.Header.Get(output.SignatureHeader)) || json.Unmarshal(b, &o) != nil {
			h.bad++
			http.Error(w, "refused", http.StatusUnauthorized)
			return
		}
		h.events = append(h.events, o)
	})}
	go h.srv.Serve(ln)
}

func (h *hookReceiver) stop() { h.srv.Close() }

// has says whether an event of rule on host with activity act arrived.
func (h *hookReceiver) has(act, rule, host string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, e := range h.events {
		if e.ActivityName == act && e.FindingInfo.Analytic.UID == rule && len(e.Resources) > 0 && e.Resources[0].Name == host && e.ClassUID == 2004 {
			return true
		}
	}
	return false
}

// TestOutputsEndToEnd: the real collector posts signed OCSF findings to a
// webhook and RFC 5424 to syslog; findings made while the receiver is down
// and the collector is killed (-9) and restarted arrive when the receiver
// is back.
func TestOutputsEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binaries")
	}
	f := newFleet(t)
	secretFile := filepath.Join(f.dir, "hook.secret")
	os.WriteFile(secretFile, []byte("hook-secret\n"), 0o600)
	rcv := &hookReceiver{t: t, addr: freeAddr(t), secret: []byte("hook-secret")}
	rcv.start()
	slog, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer slog.Close()
	maddr := freeAddr(t)
	args := []string{"--metrics", maddr, "--webhook", "http://" + rcv.addr + "/farmwatch", "--webhook-secret-file", secretFile,
		"--syslog", "udp://" + slog.LocalAddr().String()}
	f.serve(args...)
	state := filepath.Join(f.data, "outputs", "state.json")
	waitUntil(t, "the outputs' first look", 20*time.Second, func() bool { _, err := os.Stat(state); return err == nil }, f.srv)
	startProc(t, f.agent, f.agentArgs("a-pikvm", "--snapshot", "../testdata/hosts/linux-pikvm-v4plus.txtar", "--hostname", "pikvm-host")...)
	waitUntil(t, "the PiKVM finding at the webhook", 30*time.Second, func() bool {
		return rcv.has("Create", "ipkvm-usb-and-display", "pikvm-host")
	}, f.srv)
	buf := make([]byte, 4096)
	slog.SetReadDeadline(time.Now().Add(10 * time.Second))
	got := ""
	for !strings.Contains(got, "ipkvm-usb-and-display") {
		n, _, err := slog.ReadFrom(buf)
		if err != nil {
			t.Fatalf("syslog: %v (last %q)", err, got)
		}
		got = string(buf[:n])
	}
	if !strings.HasPrefix(got, "<130>1 ") || !strings.Contains(got, `[farmwatch@32473 event="new" host="pikvm-host"`) {
		t.Fatalf("syslog message %q", got)
	}

	// findings --format ocsf prints what the webhook gets.
	cmd := exec.Command(f.collector, "findings", "--format", "ocsf", "--token-file", filepath.Join(f.data, "admin.token"))
	cmd.Env = f.env
	out, err := cmd.Output()
	var objs []output.OCSF
	if err != nil || json.Unmarshal(out, &objs) != nil || len(objs) == 0 {
		t.Fatalf("findings --format ocsf: %v\n%s", err, out)
	}
	found := false
	for _, o := range objs {
		found = found || (o.ClassUID == 2004 && o.TypeUID == 200401 && o.FindingInfo.Analytic.UID == "ipkvm-usb-and-display" && o.SeverityID == 5 &&
			o.Resources[0].Name == "pikvm-host" && o.Metadata.Product.Name == "farmwatch")
	}
	if !found {
		t.Fatalf("findings --format ocsf lacks the PiKVM finding:\n%s", out)
	}
	cmd = exec.Command(f.collector, "hosts", "--format", "ocsf", "--token-file", filepath.Join(f.data, "admin.token"))
	cmd.Env = f.env
	if b, err := cmd.CombinedOutput(); err == nil || !strings.Contains(string(b), "--format ocsf is for findings") {
		t.Fatalf("hosts --format ocsf: %v %s", err, b)
	}

	// The receiver goes down; a new host's findings come; the collector
	// is killed and started again; the receiver comes back.
	rcv.stop()
	startProc(t, f.agent, f.agentArgs("a-anydesk", "--snapshot", "../testdata/hosts/linux-anydesk-rustdesk.txtar", "--hostname", "anydesk-host")...)
	waitUntil(t, "the new host's findings queued", 30*time.Second, func() bool {
		ents, _ := filepath.Glob(filepath.Join(f.data, "outputs", "webhook-*", "*.msg"))
		return len(ents) > 0
	}, f.srv)
	f.kill()
	f.serve(args...)
	time.Sleep(time.Second)
	rcv.start()
	defer rcv.stop()
	waitUntil(t, "the queued findings delivered", 60*time.Second, func() bool {
		return rcv.has("Create", "remote-access-tool", "anydesk-host")
	}, f.srv)
	rcv.mu.Lock()
	bad := rcv.bad
	rcv.mu.Unlock()
	if bad != 0 {
		t.Fatalf("%d deliveries had a bad signature or body", bad)
	}
	m := httpGet(t, "http://"+maddr+"/metrics")
	if !strings.Contains(m, "farmwatch_output_sent_total{output=\"webhook http://"+rcv.addr+"/farmwatch\"}") {
		t.Fatalf("metrics:\n%s", grepLines(m, "farmwatch_output"))
	}
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
