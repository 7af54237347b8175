package main

import (
	"context"
	"crypto/tls"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/farmwatch/farmwatch/credential"
	fwv1 "github.com/farmwatch/farmwatch/proto/farmwatch/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
)

// TestStalledCallsBounded (problem 5): the real collector, attacked on its
// agent port by 40 calls that each claim a large message, send what the
// collector lets them and stall, plus connections that never finish their
// handshake. Its memory stays within 50 MB of idle; a legitimate agent
// enrols, connects and is listed while they stall; every one of them is
// eventually dropped. A test of a bound: it asserts no duration.
func TestStalledCallsBounded(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the collector")
	}
	if runtime.GOOS != "linux" {
		t.Skip("reads the collector's memory from /proc/PID/status (Linux)")
	}
	dir := t.TempDir()
	collector := build(t, dir, "./collector", "farmwatch-collector")
	data := filepath.Join(dir, "data")
	if out, err := exec.Command(collector, "init", "--data", data).CombinedOutput(); err != nil {
		t.Fatalf("init: %v\n%s", err, out)
	}
	addr := freeAddr(t)
	srv := startProc(t, collector, "serve", "--data", data, "--listen", addr, "--metrics", "")
	env := append(os.Environ(), "FARMWATCH_COLLECTOR="+addr, "FARMWATCH_CA="+filepath.Join(data, "ca.crt"))
	hosts := func() (string, error) {
		cmd := exec.Command(collector, "hosts", "--token-file", filepath.Join(data, "admin.token"), "--format", "json")
		cmd.Env = env
		out, err := cmd.Output()
		return string(out), err
	}
	waitUntil(t, "the collector serving", 30*time.Second, func() bool { _, err := hosts(); return err == nil }, srv)
	secret, err := credential.ReadSecret(filepath.Join(data, "enroll-secret"))
	if err != nil {
		t.Fatal(err)
	}
	tlsCfg, err := credential.ClientTLS(filepath.Join(data, "ca.crt"))
	if err != nil {
		t.Fatal(err)
	}
	tlsCfg.ServerName = "localhost"
	pid := srv.cmd.Process.Pid
	time.Sleep(time.Second) // settle after start
	idle := vmRSS(t, pid)

	const mib = 1 << 20
	var attackers []*h2Attacker
	add := func(n int, what, method string, md []string, claim, send int) {
		for range n {
			attackers = append(attackers, startH2Attacker(t, addr, tlsCfg, what, method, md, claim, send))
		}
	}
	// Claims of 16 MiB (over the 320 KiB limit) and just under it.
	add(10, "enroll, wrong secret", "/farmwatch.v1.AgentService/Enroll", []string{"authorization", credential.Enroll("fwe_wrong")}, 16*mib, 16*mib)
	add(10, "enroll, the secret", "/farmwatch.v1.AgentService/Enroll", []string{"authorization", credential.Enroll(secret)}, 300<<10, 300<<10-1)
	add(10, "connect, forged key", "/farmwatch.v1.AgentService/Connect",
		[]string{"x-farmwatch-host", "3f0c3f2e-0000-4000-8000-000000000000", "authorization", credential.Node("fwn_forged")}, 16*mib, 16*mib)
	// Headers that never end: 8 MiB of metadata, and no END_HEADERS.
	add(10, "endless headers", "/farmwatch.v1.AgentService/Enroll", []string{"authorization", credential.Enroll(secret)}, -8*mib, 0)
	// Connections that never start TLS.
	var silent []net.Conn
	for range 4 {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		silent = append(silent, c)
	}
	for _, a := range attackers {
		select {
		case <-a.stalled:
		case <-time.After(60 * time.Second):
			t.Fatalf("%s: never sent its first bytes", a.what)
		}
	}
	var stalled int64
	for range 10 { // the largest of a few samples while they stall
		stalled = max(stalled, vmRSS(t, pid))
		time.Sleep(200 * time.Millisecond)
	}
	t.Logf("collector RSS: idle %.1f MB, with %d stalled calls and %d silent connections %.1f MB: %+.1f MB",
		float64(idle)/mib, len(attackers), len(silent), float64(stalled)/mib, float64(stalled-idle)/mib)
	if stalled-idle > 50*mib {
		t.Errorf("the stalled calls took the collector from %d MB to %d MB", idle/mib, stalled/mib)
	}

	// A legitimate agent, from another address, while they stall.
	legit := legitAgent(t, addr, tlsCfg, secret)
	out, err := hosts()
	var rows []map[string]any
	if err != nil || json.Unmarshal([]byte(out), &rows) != nil || len(rows) != 1 || rows[0]["hostname"] != legit || rows[0]["online"] != true {
		t.Errorf("hosts while stalled: %v %s", err, out)
	}

	// Every stalled call is dropped in the end: refused at once, ended by
	// Enroll's deadline, or its connection closed by keepalive or the
	// handshake timeout.
	deadline := time.Now().Add(3 * time.Minute)
	for _, a := range attackers {
		select {
		case <-a.ended:
			t.Logf("%s: %s after %s", a.what, a.how, a.took.Round(time.Second))
		case <-time.After(time.Until(deadline)):
			t.Errorf("%s: still open", a.what)
		}
	}
	for _, c := range silent {
		c.SetReadDeadline(deadline)
		if _, err := c.Read(make([]byte, 1)); err != io.EOF {
			t.Errorf("a connection that never started TLS: %v, want closed", err)
		}
	}
	if testing.Verbose() {
		t.Logf("collector log:\n%s", srv.log)
	}
}

// vmRSS is a process's resident memory, from /proc/PID/status.
func vmRSS(t *testing.T, pid int) int64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for l := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return kb << 10
		}
	}
	t.Fatalf("no VmRSS in /proc/%d/status", pid)
	return 0
}

// legitAgent enrols and connects from 127.0.0.2 (Linux answers on all of
// 127/8), says hello, sends a full state and waits for its ack; it returns
// the hostname.
func legitAgent(t *testing.T, addr string, cfg *tls.Config, secret string) string {
	t.Helper()
	dial := func(ctx context.Context, a string) (net.Conn, error) {
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2)}}
		return d.DialContext(ctx, "tcp", a)
	}
	cc, err := grpc.NewClient(addr, grpc.WithTransportCredentials(credentials.NewTLS(cfg)), grpc.WithContextDialer(dial))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cc.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c := fwv1.NewAgentServiceClient(cc)
	const name = "legit-laptop"
	r, err := c.Enroll(metadata.AppendToOutgoingContext(ctx, credential.MDAuthorization, credential.Enroll(secret)),
		&fwv1.EnrollRequest{Host: &fwv1.HostInfo{Os: "linux", Hostname: name}})
	if err != nil {
		t.Fatalf("legitimate enrolment while stalled: %v", err)
	}
	st, err := c.Connect(metadata.AppendToOutgoingContext(context.Background(), credential.MDHost, r.HostId, credential.MDAuthorization, credential.Node(r.NodeKey)))
	if err != nil {
		t.Fatal(err)
	}
	st.Send(&fwv1.AgentMessage{Body: &fwv1.AgentMessage_Hello{Hello: &fwv1.Hello{HostId: r.HostId}}})
	st.Send(&fwv1.AgentMessage{Seq: 1, Body: &fwv1.AgentMessage_Full{Full: &fwv1.FullState{}}})
	for {
		m, err := st.Recv()
		if err != nil {
			t.Fatalf("legitimate stream while stalled: %v", err)
		}
		if m.GetAck().GetSeq() == 1 {
			return name
		}
	}
}

// h2Attacker is one stalled call over a bare HTTP/2 connection, written
// frame by frame as an attacker would: a call's headers, a gRPC message
// header claiming claim bytes, then as much of the body as the
// collector's flow control allows, up to send bytes, and nothing more. A
// negative claim sends headers that never end instead: -claim bytes of
// metadata in CONTINUATION frames, without END_HEADERS. It acknowledges
// no ping.
type h2Attacker struct {
	what    string
	stalled chan struct{} // its first bytes are sent
	ended   chan struct{} // the collector ended the call or the connection
	how     string
	took    time.Duration
}

// HTTP/2 frame types and flags.
const (
	h2Data         = 0x0
	h2Headers      = 0x1
	h2RSTStream    = 0x3
	h2Settings     = 0x4
	h2GoAway       = 0x7
	h2WindowUpdate = 0x8
	h2Continuation = 0x9

	h2EndStream  = 0x1
	h2EndHeaders = 0x4
	h2Ack        = 0x1
)

func startH2Attacker(t *testing.T, addr string, cfg *tls.Config, what, method string, md []string, claim, send int) *h2Attacker {
	t.Helper()
	a := &h2Attacker{what: what, stalled: make(chan struct{}), ended: make(chan struct{})}
	cfg = cfg.Clone()
	cfg.NextProtos = []string{"h2"}
	c, err := tls.Dial("tcp", addr, cfg)
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	t.Cleanup(func() { c.Close() })
	start := time.Now()
	var once sync.Once
	end := func(how string) {
		once.Do(func() { a.how, a.took = how, time.Since(start); close(a.ended) })
	}
	write := func(typ, flags byte, payload []byte) error {
		c.SetWriteDeadline(time.Now().Add(30 * time.Second))
		_, err := c.Write(h2Frame(typ, flags, 1, payload))
		return err
	}
	c.Write([]byte("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"))
	c.Write(h2Frame(h2Settings, 0, 0, nil))
	var hb []byte
	for _, f := range [][2]string{{":method", "POST"}, {":scheme", "https"}, {":path", method}, {":authority", "localhost"},
		{"content-type", "application/grpc"}, {"te", "trailers"}} {
		hb = hpackField(hb, f[0], f[1])
	}
	for i := 0; i+1 < len(md); i += 2 {
		hb = hpackField(hb, md[i], md[i+1])
	}
	if claim < 0 {
		write(h2Headers, 0, hb)
		pad := strings.Repeat("p", 8000)
		for i := 0; i < -claim; i += 16000 {
			var f []byte
			f = hpackField(f, fmt.Sprintf("x-pad-%d", i), pad)
			f = hpackField(f, fmt.Sprintf("x-pad-%d-b", i), pad)
			if write(h2Continuation, 0, f) != nil {
				break
			}
		}
		close(a.stalled)
		go a.readUntilEnd(c, end, nil)
		return a
	}
	write(h2Headers, h2EndHeaders, hb)
	// The sender's windows, as HTTP/2 starts them; the collector's
	// SETTINGS and WINDOW_UPDATEs change them.
	streamWin, connWin := 65535, 65535
	pending := make([]byte, 5) // the gRPC message header: not compressed, claim bytes
	binary.BigEndian.PutUint32(pending[1:], uint32(claim))
	sent := 0
	pump := func() {
		for {
			n := min(16384, streamWin, connWin, len(pending)+send-sent)
			if n <= 0 {
				return
			}
			chunk := make([]byte, n)
			k := copy(chunk, pending)
			pending = pending[k:]
			if write(h2Data, 0, chunk) != nil {
				return
			}
			sent += n - k
			streamWin -= n
			connWin -= n
		}
	}
	pump()
	close(a.stalled)
	go a.readUntilEnd(c, end, func(typ byte, stream uint32, payload []byte) {
		switch typ {
		case h2Settings:
			for i := 0; i+6 <= len(payload); i += 6 {
				if binary.BigEndian.Uint16(payload[i:]) == 0x4 { // INITIAL_WINDOW_SIZE
					streamWin += int(binary.BigEndian.Uint32(payload[i+2:])) - 65535
				}
			}
		case h2WindowUpdate:
			inc := int(binary.BigEndian.Uint32(payload) & 0x7fffffff)
			if stream == 0 {
				connWin += inc
			} else {
				streamWin += inc
			}
		}
		pump()
	})
	return a
}

// readUntilEnd reads the collector's frames until it ends stream 1 or the
// connection; each frame goes to on first.
func (a *h2Attacker) readUntilEnd(c net.Conn, end func(string), on func(typ byte, stream uint32, payload []byte)) {
	hdr := make([]byte, 9)
	for {
		c.SetReadDeadline(time.Now().Add(10 * time.Minute))
		if _, err := io.ReadFull(c, hdr); err != nil {
			if errors.Is(err, io.EOF) {
				end("connection closed")
			} else {
				end("connection failed: " + err.Error())
			}
			return
		}
		n := int(hdr[0])<<16 | int(hdr[1])<<8 | int(hdr[2])
		typ, flags, stream := hdr[3], hdr[4], binary.BigEndian.Uint32(hdr[5:])&0x7fffffff
		payload := make([]byte, n)
		if _, err := io.ReadFull(c, payload); err != nil {
			end("connection closed")
			return
		}
		switch {
		case typ == h2RSTStream && stream == 1:
			end(fmt.Sprintf("stream reset (code %d)", binary.BigEndian.Uint32(payload)))
		case typ == h2Headers && stream == 1 && flags&h2EndStream != 0:
			end("answered with a status")
		case typ == h2GoAway:
			end("connection going away")
		}
		if on != nil && !(typ == h2Settings && flags&h2Ack != 0) {
			on(typ, stream, payload)
		}
	}
}

func h2Frame(typ, flags byte, stream uint32, payload []byte) []byte {
	b := make([]byte, 9, 9+len(payload))
	b[0], b[1], b[2] = byte(len(payload)>>16), byte(len(payload)>>8), byte(len(payload))
	b[3], b[4] = typ, flags
	binary.BigEndian.PutUint32(b[5:], stream)
	return append(b, payload...)
}

// hpackField is a header field as an HPACK literal without indexing, with
// a literal name and no Huffman coding (RFC 7541 6.2.2).
func hpackField(b []byte, name, value string) []byte {
	b = append(b, 0)
	b = hpackInt(b, len(name))
	b = append(b, name...)
	b = hpackInt(b, len(value))
	return append(b, value...)
}

// hpackInt is a string length: an integer of a 7-bit prefix (RFC 7541 5.1).
func hpackInt(b []byte, v int) []byte {
	if v < 127 {
		return append(b, byte(v))
	}
	b = append(b, 127)
	for v -= 127; v >= 128; v >>= 7 {
		b = append(b, byte(v&127|128))
	}
	return append(b, byte(v))
}
