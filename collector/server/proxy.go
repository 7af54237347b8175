package server

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/pires/go-proxyproto"
)

// PROXY protocol (v1 and v2, github.com/pires/go-proxyproto). Behind a TCP
// load balancer every agent would come from the balancer's address; the
// balancer says whose connection it carries in a PROXY header, and the
// collector believes it only from the peers of Edge.ProxyFrom:
//   - from a trusted peer the header is optional; with one, the address in
//     it is the caller's (its egress IP, what the failure budgets and
//     connection caps count); without one, or with "PROXY UNKNOWN" or a v2
//     LOCAL command (a balancer's own health check), the peer's address is;
//   - from any other peer a header is refused: the connection is closed
//     at its first read, before TLS, and counted.
//
// A trusted peer's connection is counted against MaxConnsPerPeer under the
// address of its header, so it can be known only once the header is read.
// That happens at the connection's first use, on gRPC's goroutine for the
// connection, bounded by handshakeTimeout: the accepting goroutine never
// waits for a slow balancer.

// ParseCIDRs parses "CIDR[,CIDR...]"; a bare address is its own /32 or
// /128. An empty string is none.
func ParseCIDRs(s string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		if !strings.Contains(f, "/") {
			a, err := netip.ParseAddr(f)
			if err != nil {
				return nil, fmt.Errorf("%q: not a CIDR or an address", f)
			}
			a = a.Unmap()
			out = append(out, netip.PrefixFrom(a, a.BitLen()))
			continue
		}
		p, err := netip.ParsePrefix(f)
		if err != nil {
			return nil, fmt.Errorf("%q: not a CIDR: %v", f, err)
		}
		if p.Addr().Zone() != "" {
			return nil, fmt.Errorf("%q: a zone has no place in a CIDR", f)
		}
		if p.Addr().Is4In6() {
			p = netip.PrefixFrom(p.Addr().Unmap(), max(0, p.Bits()-96))
		}
		out = append(out, p.Masked())
	}
	return out, nil
}

// addrIP is the IP of a connection's address, unmapped.
func addrIP(a net.Addr) netip.Addr {
	if t, ok := a.(*net.TCPAddr); ok {
		ip, _ := netip.AddrFromSlice(t.IP)
		return ip.Unmap()
	}
	if a == nil {
		return netip.Addr{}
	}
	ap, err := netip.ParseAddrPort(a.String())
	if err != nil {
		return netip.Addr{}
	}
	return ap.Addr().Unmap()
}

// trustsProxy says whether a peer may send a PROXY header.
func (e *edge) trustsProxy(peer net.Addr) bool {
	ip := addrIP(peer)
	if !ip.IsValid() {
		return false
	}
	for _, p := range e.cfg.ProxyFrom {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// proxied wraps an accepted connection for the PROXY protocol: a trusted
// peer's header is used, any other peer's refused.
func (e *edge) proxied(c net.Conn) (conn net.Conn, trusted bool) {
	policy := proxyproto.REJECT
	if trusted = e.trustsProxy(c.RemoteAddr()); trusted {
		policy = proxyproto.USE
	}
	pc := proxyproto.NewConn(c, proxyproto.WithPolicy(policy), proxyproto.SetReadHeaderTimeout(handshakeTimeout))
	return &headerConn{Conn: pc, e: e, peer: peerKey(c.RemoteAddr())}, trusted
}

// headerConn records a refused PROXY header (for the summary line) the
// first time a read meets it.
type headerConn struct {
	net.Conn
	e       *edge
	peer    string
	counted sync.Once
}

func (c *headerConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	if err != nil && errors.Is(err, proxyproto.ErrSuperfluousProxyHeader) {
		c.counted.Do(func() {
			c.e.mu.Lock()
			c.e.badHeaders.add(c.peer)
			c.e.mu.Unlock()
		})
	}
	return n, err
}

// lateCapConn is a trusted peer's connection, counted against
// MaxConnsPerPeer under its header's address at its first use; a
// connection over the cap fails that use and is closed.
type lateCapConn struct {
	net.Conn
	e       *edge
	once    sync.Once
	key     string
	counted bool
	err     error
	closed  sync.Once
}

func (c *lateCapConn) admit() error {
	c.once.Do(func() {
		c.key = peerKey(c.Conn.RemoteAddr()) // reads the header, within its timeout
		if !c.e.openConn(c.key) {
			c.err = errTooManyConns
			c.Conn.Close()
			return
		}
		c.counted = true
	})
	return c.err
}

var errTooManyConns = errors.New("too many connections from this address")

func (c *lateCapConn) Read(b []byte) (int, error) {
	if err := c.admit(); err != nil {
		return 0, err
	}
	return c.Conn.Read(b)
}

func (c *lateCapConn) Write(b []byte) (int, error) {
	if err := c.admit(); err != nil {
		return 0, err
	}
	return c.Conn.Write(b)
}

func (c *lateCapConn) RemoteAddr() net.Addr {
	c.admit()
	return c.Conn.RemoteAddr()
}

func (c *lateCapConn) SetDeadline(t time.Time) error { return c.Conn.SetDeadline(t) }

func (c *lateCapConn) Close() error {
	c.closed.Do(func() {
		c.admit() // a connection closed before its first use still settles its count
		if c.counted {
			c.e.closeConn(c.key)
		}
	})
	return c.Conn.Close()
}
