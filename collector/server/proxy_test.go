package server

import (
	"bytes"
	"errors"
	"io"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/pires/go-proxyproto"
)

// memConn is a connection whose peer sent in and then closed.
type memConn struct {
	r    *bytes.Reader
	peer net.Addr
}

func (c *memConn) Read(b []byte) (int, error)       { return c.r.Read(b) }
func (c *memConn) Write(b []byte) (int, error)      { return len(b), nil }
func (c *memConn) Close() error                     { return nil }
func (c *memConn) LocalAddr() net.Addr              { return &net.TCPAddr{IP: net.IPv4(10, 0, 0, 1), Port: 7443} }
func (c *memConn) RemoteAddr() net.Addr             { return c.peer }
func (c *memConn) SetDeadline(time.Time) error      { return nil }
func (c *memConn) SetReadDeadline(time.Time) error  { return nil }
func (c *memConn) SetWriteDeadline(time.Time) error { return nil }

var (
	lbPeer    = &net.TCPAddr{IP: net.IPv4(192, 0, 2, 10), Port: 40000}
	otherPeer = &net.TCPAddr{IP: net.IPv4(198, 51, 100, 20), Port: 40001}
)

func proxyEdge(t testing.TB, conns int) *edge {
	t.Helper()
	from, err := ParseCIDRs("192.0.2.0/24, 2001:db8::/32")
	if err != nil {
		t.Fatal(err)
	}
	return newEdge(Edge{ProxyFrom: from, MaxConnsPerPeer: conns}, time.Now)
}

func v2(cmd proxyproto.ProtocolVersionAndCommand, src string) []byte {
	h := &proxyproto.Header{Version: 2, Command: cmd, TransportProtocol: proxyproto.TCPv4,
		SourceAddr: &net.TCPAddr{IP: net.ParseIP(src), Port: 5000}, DestinationAddr: &net.TCPAddr{IP: net.IPv4(10, 0, 0, 1), Port: 7443}}
	b, err := h.Format()
	if err != nil {
		panic(err)
	}
	return b
}

// What each peer's header makes of a connection: its address, and what the
// server reads after the header.
func TestProxyHeader(t *testing.T) {
	body := "\x16\x03\x01 a TLS client hello"
	cases := []struct {
		name    string
		peer    net.Addr
		in      []byte
		addr    string // "" : the read fails
		refused bool   // counted as a refused header
	}{
		{"v1 from the balancer", lbPeer, []byte("PROXY TCP4 203.0.113.7 10.0.0.1 5555 7443\r\n" + body), "203.0.113.7", false},
		{"v1 ipv6 from the balancer", lbPeer, []byte("PROXY TCP6 2001:db8::7 2001:db8::1 5555 7443\r\n" + body), "2001:db8::7", false},
		{"v2 from the balancer", lbPeer, append(v2(proxyproto.PROXY, "203.0.113.8"), body...), "203.0.113.8", false},
		{"no header from the balancer", lbPeer, []byte(body), "192.0.2.10", false},
		{"UNKNOWN from the balancer", lbPeer, []byte("PROXY UNKNOWN\r\n" + body), "192.0.2.10", false},
		{"v2 LOCAL from the balancer", lbPeer, append(v2(proxyproto.LOCAL, "203.0.113.9"), body...), "192.0.2.10", false},
		{"v1 from another peer", otherPeer, []byte("PROXY TCP4 203.0.113.7 10.0.0.1 5555 7443\r\n" + body), "", true},
		{"v2 from another peer", otherPeer, append(v2(proxyproto.PROXY, "203.0.113.8"), body...), "", true},
		{"no header from another peer", otherPeer, []byte(body), "198.51.100.20", false},
		{"a broken v1 header from the balancer", lbPeer, []byte("PROXY TCP4 999.0.113.7 10.0.0.1 5555 7443\r\n" + body), "", false},
		{"an unended v1 header from the balancer", lbPeer, []byte("PROXY TCP4 203.0.113.7 10.0.0.1 5555 7443" + strings.Repeat(" ", 200)), "", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := proxyEdge(t, 64)
			c, trusted := e.proxied(&memConn{r: bytes.NewReader(tc.in), peer: tc.peer})
			if trusted != (tc.peer == lbPeer) {
				t.Fatalf("trusted = %v", trusted)
			}
			got, err := io.ReadAll(c)
			switch {
			case tc.addr == "" && err == nil:
				t.Fatalf("read %q, want a failure", got)
			case tc.addr != "" && (err != nil || string(got) != body):
				t.Fatalf("read %q, %v; want the body", got, err)
			case tc.addr != "" && addrIP(c.RemoteAddr()).String() != tc.addr:
				t.Fatalf("address %v, want %s", c.RemoteAddr(), tc.addr)
			}
			if n, _, _ := e.badHeaders.take(); (n > 0) != tc.refused {
				t.Fatalf("refused headers counted: %d", n)
			}
		})
	}
}

// A balancer's connections are capped under the addresses in their
// headers, not the balancer's own.
func TestProxyConnCap(t *testing.T) {
	e := proxyEdge(t, 1)
	open := func(src string) net.Conn {
		c, _ := e.proxied(&memConn{r: bytes.NewReader([]byte("PROXY TCP4 " + src + " 10.0.0.1 5555 7443\r\nhello")), peer: lbPeer})
		return &lateCapConn{Conn: c, e: e}
	}
	a, b, same := open("203.0.113.1"), open("203.0.113.2"), open("203.0.113.1")
	for _, c := range []net.Conn{a, b} {
		if _, err := c.Read(make([]byte, 5)); err != nil {
			t.Fatalf("%v: %v", c.RemoteAddr(), err)
		}
	}
	if _, err := same.Read(make([]byte, 5)); !errors.Is(err, errTooManyConns) {
		t.Fatalf("a second connection of 203.0.113.1: %v", err)
	}
	same.Close()
	a.Close()
	if again := open("203.0.113.1"); again.RemoteAddr() == nil || !func() bool { _, err := again.Read(make([]byte, 5)); return err == nil }() {
		t.Fatal("203.0.113.1 refused after its connection closed")
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.conns["203.0.113.2"] != 1 || e.conns["192.0.2.10"] != 0 {
		t.Fatalf("counts %v", e.conns)
	}
}

func TestParseCIDRs(t *testing.T) {
	got, err := ParseCIDRs(" 10.0.0.0/8,192.0.2.7 ,2001:db8::/32,::ffff:10.1.0.0/112,")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"10.0.0.0/8", "192.0.2.7/32", "2001:db8::/32", "10.1.0.0/16"}
	if len(got) != len(want) {
		t.Fatalf("%v", got)
	}
	for i := range want {
		if got[i].String() != want[i] {
			t.Errorf("%d: %s, want %s", i, got[i], want[i])
		}
	}
	for _, bad := range []string{"10.0.0.0/33", "nope", "10.0.0.1/8/8", "fe80::1%eth0/64"} {
		if _, err := ParseCIDRs(bad); err == nil {
			t.Errorf("%q taken", bad)
		}
	}
}

// FuzzProxyHeader: whatever a peer sends first, a peer outside the trusted
// ones is never given another address; a trusted peer is given another
// address only when it sent a PROXY signature; input without a signature
// reaches the server unchanged; and a refused read is never followed by
// data.
func FuzzProxyHeader(f *testing.F) {
	for _, s := range []string{
		"PROXY TCP4 203.0.113.7 10.0.0.1 5555 7443\r\nx", "PROXY UNKNOWN\r\n", "PROXY TCP6 ::1 ::1 1 2\r\n",
		"\x16\x03\x01hello", "PROXY ", "", string(v2(proxyproto.PROXY, "203.0.113.8")) + "y", string(v2(proxyproto.LOCAL, "1.2.3.4")),
	} {
		f.Add([]byte(s), true)
		f.Add([]byte(s), false)
	}
	sig2 := []byte("\r\n\r\n\x00\r\nQUIT\n")
	f.Fuzz(func(t *testing.T, in []byte, fromLB bool) {
		e := proxyEdge(t, 64)
		peer := net.Addr(otherPeer)
		if fromLB {
			peer = lbPeer
		}
		c, _ := e.proxied(&memConn{r: bytes.NewReader(in), peer: peer})
		got, err := io.ReadAll(c)
		signed := bytes.HasPrefix(in, []byte("PROXY")) || bytes.HasPrefix(in, sig2) // the library's v1 signature is "PROXY"
		addr := addrIP(c.RemoteAddr())
		switch {
		case !fromLB && addr != netip.MustParseAddr("198.51.100.20"):
			t.Fatalf("an untrusted peer became %v", addr)
		case fromLB && !signed && addr != netip.MustParseAddr("192.0.2.10"):
			t.Fatalf("no signature, yet the address is %v", addr)
		case !signed && (err != nil || !bytes.Equal(got, in)):
			t.Fatalf("no signature: read %q, %v; want the input", got, err)
		case err != nil && len(got) > 0:
			t.Fatalf("read %q before refusing", got)
		case len(got) > len(in):
			t.Fatalf("read more than was sent")
		}
	})
}
