package server

import (
	"cmp"
	"context"
	"crypto/rand"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/peer"
)

// The agent port is reachable from every laptop, and every laptop holds
// the enroll secret: these bound what one caller can make the collector
// hold, before and after it proves who it is.
//
// What a call can hold, and where that is enforced:
//   - Its headers: maxHeaderBytes (grpc.MaxHeaderListSize), for every call.
//   - Before its handler reads: the stream's flow-control window,
//     streamWindow (static: gRPC's BDP estimation would grow it to 16 MiB
//     for every stream of a busy connection).
//   - While its handler reads one message: that message, at most
//     limits.GRPCMessageBytes (grpc.MaxRecvMsgSize checks the length in
//     the message header before reading the body), plus the window.
//   - A call without valid credentials holds nothing: the tap (tap.go)
//     refuses an Enroll without the enroll secret, or a Connect without
//     its host's node key, before a stream exists; its body is never read.
//   - An Enroll with the secret: enrollTimeout, and at most
//     MaxEnrollsPerPeer (enrollsTotal in all) at once; its size, enrollBytes,
//     is checked after decoding, by the interceptor (gRPC has no receive
//     limit per method).
//   - A connection: MaxStreamsPerConn calls at once; its handshake within
//     handshakeTimeout; a peer that answers no ping within keepaliveTimeout
//     is dropped; a connection without calls for maxIdle is closed.
//   - A peer: MaxConnsPerPeer connections (LimitConns), and a budget of
//     failed authentications (failures, ratelimit.go).
const (
	maxHeaderBytes   = 16 << 10
	streamWindow     = 64 << 10
	connWindow       = 1 << 20
	enrollBytes      = 16 << 10
	enrollTimeout    = 10 * time.Second
	enrollsTotal     = 128
	handshakeTimeout = 10 * time.Second
	keepaliveTime    = 30 * time.Second
	keepaliveTimeout = 20 * time.Second
	maxIdle          = 5 * time.Minute
	// summaryInterval is how often the refusals are logged, in one line
	// each for authentications and connections.
	summaryInterval = time.Minute
	// maxPeers bounds every map of peers: a flood from many addresses
	// cannot grow them.
	maxPeers = 4096
)

// Edge bounds the callers of the collector's port. A zero field is its
// default.
type Edge struct {
	// MaxConnsPerPeer bounds the open connections from one address (an
	// IPv6 /64 is one address). Every agent holds one connection, so it
	// must be above the number of agents behind the largest NAT. Default
	// 64.
	MaxConnsPerPeer int
	// MaxStreamsPerConn bounds the calls open at once on one connection:
	// an agent makes one or two, a command a few. Default 8.
	MaxStreamsPerConn int
	// MaxEnrollsPerPeer bounds the enrolments in progress at once from
	// one address; an agent refused retries. Default 4.
	MaxEnrollsPerPeer int
	// ProxyFrom are the peers (load balancers) whose PROXY protocol
	// header is believed (proxy.go); a header from any other peer is
	// refused. None: no header is looked for.
	ProxyFrom []netip.Prefix
}

// DefaultMaxConnsPerPeer is MaxConnsPerPeer's default.
const DefaultMaxConnsPerPeer = 64

func (e Edge) withDefaults() Edge {
	e.MaxConnsPerPeer = cmp.Or(e.MaxConnsPerPeer, DefaultMaxConnsPerPeer)
	e.MaxStreamsPerConn = cmp.Or(e.MaxStreamsPerConn, 8)
	e.MaxEnrollsPerPeer = cmp.Or(e.MaxEnrollsPerPeer, 4)
	return e
}

// edge is the state of the bounds that are not gRPC's own.
type edge struct {
	cfg   Edge
	now   func() time.Time
	fails *failures
	keys  *keyCache
	dummy []byte // compared with an unknown host's key, as a known host's hash is

	mu       sync.Mutex
	enrolls  map[string]int // peer -> enrolments in progress
	enrolled int            // in progress in all
	conns    map[string]int // peer -> open connections
	refused  tally          // connections refused, since the last summary
	// badHeaders counts PROXY headers refused (from untrusted peers),
	// since the last summary.
	badHeaders tally
}

func newEdge(cfg Edge, now func() time.Time) *edge {
	dummy := make([]byte, 32)
	rand.Read(dummy)
	return &edge{
		cfg: cfg.withDefaults(), now: now, dummy: dummy,
		fails:   newFailures(30, 0.5, now),
		keys:    &keyCache{ttl: 10 * time.Minute, m: map[string]cachedKey{}},
		enrolls: map[string]int{}, conns: map[string]int{},
		refused: tally{peers: map[string]int{}}, badHeaders: tally{peers: map[string]int{}},
	}
}

// options are the gRPC server options of the bounds above.
func (s *Server) edgeOptions() []grpc.ServerOption {
	return []grpc.ServerOption{
		grpc.InTapHandle(s.tap),
		grpc.MaxConcurrentStreams(uint32(s.edge.cfg.MaxStreamsPerConn)),
		grpc.MaxHeaderListSize(maxHeaderBytes),
		grpc.StaticStreamWindowSize(streamWindow),
		grpc.StaticConnWindowSize(connWindow),
		grpc.ConnectionTimeout(handshakeTimeout),
		// Agents do not ping; a client that pings more often than this,
		// or without a call open, is told to go away.
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: 30 * time.Second}),
		grpc.KeepaliveParams(keepalive.ServerParameters{Time: keepaliveTime, Timeout: keepaliveTimeout, MaxConnectionIdle: maxIdle}),
	}
}

// peerKey is the address a caller is counted under: its IPv4 address, or
// the /64 of its IPv6 address (a host may use any address of its /64).
func peerKey(a net.Addr) string {
	if a == nil {
		return ""
	}
	var ip netip.Addr
	if t, ok := a.(*net.TCPAddr); ok {
		ip, _ = netip.AddrFromSlice(t.IP)
	} else if ap, err := netip.ParseAddrPort(a.String()); err == nil {
		ip = ap.Addr()
	}
	if !ip.IsValid() {
		return a.String()
	}
	ip = ip.Unmap()
	if ip.Is4() {
		return ip.String()
	}
	p, _ := ip.WithZone("").Prefix(64)
	return p.String()
}

// peerOf is the peer key of a call.
func peerOf(ctx context.Context) string {
	if p, ok := peer.FromContext(ctx); ok {
		return peerKey(p.Addr)
	}
	return ""
}

// startEnroll counts an enrolment of peer in progress, and says whether
// there was room for it; done uncounts it.
func (e *edge) startEnroll(peer string) (done func(), ok bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.enrolls[peer] >= e.cfg.MaxEnrollsPerPeer || e.enrolled >= enrollsTotal {
		return nil, false
	}
	e.enrolls[peer]++
	e.enrolled++
	return sync.OnceFunc(func() {
		e.mu.Lock()
		defer e.mu.Unlock()
		if e.enrolls[peer]--; e.enrolls[peer] == 0 {
			delete(e.enrolls, peer)
		}
		e.enrolled--
	}), true
}

// LimitConns wraps the agent port's listener: a peer with MaxConnsPerPeer
// connections open has any further one closed at once, before its TLS
// handshake; RunLimits logs them.
func (s *Server) LimitConns(ln net.Listener) net.Listener {
	return &capListener{Listener: ln, e: s.edge}
}

type capListener struct {
	net.Listener
	e *edge
}

func (l *capListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		key := peerKey(c.RemoteAddr())
		// gRPC sets TCP_USER_TIMEOUT only on a *net.TCPConn, which the
		// wrapper hides.
		setUserTimeout(c, keepaliveTimeout)
		if len(l.e.cfg.ProxyFrom) > 0 {
			pc, trusted := l.e.proxied(c)
			if trusted { // counted under its header's address, at its first use
				return &lateCapConn{Conn: pc, e: l.e}, nil
			}
			c = pc
		}
		if !l.e.openConn(key) {
			c.Close()
			continue
		}
		return &capConn{Conn: c, done: sync.OnceFunc(func() { l.e.closeConn(key) })}, nil
	}
}

type capConn struct {
	net.Conn
	done func()
}

func (c *capConn) Close() error {
	c.done()
	return c.Conn.Close()
}

func (e *edge) openConn(peer string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.conns[peer] >= e.cfg.MaxConnsPerPeer {
		e.refused.add(peer)
		return false
	}
	e.conns[peer]++
	return true
}

func (e *edge) closeConn(peer string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.conns[peer]--; e.conns[peer] <= 0 {
		delete(e.conns, peer)
	}
}

// RunLimits logs, once a minute, one line of the failed authentications
// and one of the refused connections of that minute, instead of a line
// each, and forgets the peers that have been quiet; it returns when ctx
// ends.
func (s *Server) RunLimits(ctx context.Context) {
	t := time.NewTicker(summaryInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			s.summarize()
			return
		case <-t.C:
			s.summarize()
		}
	}
}

// summarize logs the refusals since the last call, and forgets quiet peers.
func (s *Server) summarize() {
	e := s.edge
	if n, throttled, peers, top := e.fails.take(); n > 0 {
		s.log.Warn().Int("attempts", n).Int("throttled", throttled).Int("peers", peers).Str("top_peers", top).
			Dur("interval", summaryInterval).Msg("authentications refused")
	}
	e.mu.Lock()
	n, peers, top := e.refused.take()
	hn, hpeers, htop := e.badHeaders.take()
	e.mu.Unlock()
	if hn > 0 {
		s.log.Warn().Int("connections", hn).Int("peers", hpeers).Str("top_peers", htop).Dur("interval", summaryInterval).
			Msg("connections refused: a PROXY protocol header from a peer outside --proxy-protocol-from")
	}
	if n > 0 {
		s.log.Warn().Int("connections", n).Int("peers", peers).Str("top_peers", top).Int("max_conns_per_peer", e.cfg.MaxConnsPerPeer).
			Dur("interval", summaryInterval).Msg("connections refused: too many from one address")
	}
	e.fails.forgetQuiet()
	e.keys.forgetOld(e.now())
}

// tally counts refusals per peer between two summaries; it names at most
// maxPeers peers and counts the others together.
type tally struct {
	n     int
	peers map[string]int
}

func (t *tally) add(peer string) {
	t.n++
	if _, ok := t.peers[peer]; ok || len(t.peers) < maxPeers {
		t.peers[peer]++
	}
}

// take returns the count, the peers and the three peers with the most,
// "addr (n), ...", and starts again.
func (t *tally) take() (n, peers int, top string) {
	if t.n == 0 {
		return 0, 0, ""
	}
	keys := make([]string, 0, len(t.peers))
	for k := range t.peers {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b string) int { return cmp.Or(t.peers[b]-t.peers[a], strings.Compare(a, b)) })
	var sb strings.Builder
	for i, k := range keys[:min(3, len(keys))] {
		if i > 0 {
			sb.WriteString(", ")
		}
		fmt.Fprintf(&sb, "%s (%d)", k, t.peers[k])
	}
	n, peers = t.n, len(t.peers)
	t.n = 0
	clear(t.peers)
	return n, peers, sb.String()
}
