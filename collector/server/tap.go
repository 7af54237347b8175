package server

import (
	"context"
	"crypto/subtle"
	"errors"
	"sync"
	"time"

	"github.com/farmwatch/farmwatch/collector/pki"
	"github.com/farmwatch/farmwatch/collector/store"
	"github.com/farmwatch/farmwatch/credential"
	fwv1 "github.com/farmwatch/farmwatch/proto/farmwatch/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/tap"
	"google.golang.org/protobuf/proto"
)

const (
	enrollMethod  = fwv1.AgentService_Enroll_FullMethodName
	connectMethod = fwv1.AgentService_Connect_FullMethodName
	// The refusals of the tap are the handlers' own (agent.go): the same
	// text for an unknown host and a wrong key.
	wrongSecret  = "enroll: wrong enroll secret"
	wrongNodeKey = "connect: unknown host or wrong node key; enroll again"
)

// tap looks at each new call's method and metadata, before a stream
// exists and before any of its body is read: an Enroll without the enroll
// secret and a Connect without its host's node key are refused here, and
// an Enroll is given enrollTimeout and counted while it lasts. Fleet calls
// pass (their tokens are checked by the interceptor, auth.go). The
// handlers check the credentials again: the tap is a gate in front of
// them, never their replacement.
//
// gRPC runs it on the connection's reading goroutine, which it blocks: a
// Connect's node key is compared with a cache of the keys that passed
// lately, and only a miss asks the store; a peer past its failure budget
// gets no store lookup at all.
func (s *Server) tap(ctx context.Context, info *tap.Info) (context.Context, error) {
	switch info.FullMethodName {
	case enrollMethod:
		return s.tapEnroll(ctx, info.Header)
	case connectMethod:
		return s.tapConnect(ctx, info.Header)
	}
	return ctx, nil
}

func (s *Server) tapEnroll(ctx context.Context, md metadata.MD) (context.Context, error) {
	p := peerOf(ctx)
	auth := md.Get(credential.MDAuthorization)
	secret, _ := credential.ParseEnroll(first(auth))
	if len(auth) != 1 || subtle.ConstantTimeCompare(pki.Hash(secret), s.enrollHash) != 1 {
		return nil, s.authFailed(p, enrollMethod, wrongSecret)
	}
	done, ok := s.edge.startEnroll(p)
	if !ok {
		return nil, toStatus(s.log, enrollMethod, refuse(codes.ResourceExhausted, "enroll: too many enrolments in progress; retry later"))
	}
	ctx, cancel := context.WithTimeout(ctx, enrollTimeout)
	// The stream's end cancels ctx, and with it the count.
	context.AfterFunc(ctx, func() { cancel(); done() })
	return ctx, nil
}

func (s *Server) tapConnect(ctx context.Context, md metadata.MD) (context.Context, error) {
	p := peerOf(ctx)
	ids, auths := md.Get(credential.MDHost), md.Get(credential.MDAuthorization)
	if len(ids) != 1 || len(auths) != 1 {
		return nil, s.authFailed(p, connectMethod, "connect: missing host id or node key")
	}
	key, ok := credential.ParseNode(auths[0])
	if !ok {
		return nil, s.authFailed(p, connectMethod, "connect: authorization must be \"Node <key>\"")
	}
	id, hash := ids[0], pki.Hash(key)
	now := s.edge.now()
	if s.edge.keys.matches(id, hash, now) {
		return ctx, nil
	}
	if len(id) > 64 || s.edge.fails.exhausted(p) {
		return nil, s.authFailed(p, connectMethod, wrongNodeKey)
	}
	lctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	h, err := s.store.Host(lctx, id)
	cancel()
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return ctx, nil // the handler asks the store again and answers its failure
	}
	// An unknown host, and a host that was reset (no key), are compared
	// with a hash no key has, as a known host's is: one answer and one
	// path for all three.
	want := s.edge.dummy
	if err == nil && len(h.NodeKeyHash) != 0 {
		want = h.NodeKeyHash
	}
	if subtle.ConstantTimeCompare(hash, want) != 1 {
		return nil, s.authFailed(p, connectMethod, wrongNodeKey)
	}
	s.edge.keys.put(id, hash, now)
	return ctx, nil
}

// authFailed counts a failed authentication of peer and refuses it: with
// msg while the peer is within its budget, ResourceExhausted past it.
func (s *Server) authFailed(peer, method, msg string) error {
	if s.edge.fails.fail(peer) {
		return toStatus(s.log, method, refuse(codes.ResourceExhausted, "too many failed authentications from this address; retry later"))
	}
	return toStatus(s.log, method, unauthenticated("%s", msg))
}

// ForgetNodeKey drops a host's key from the tap's cache, when the store
// no longer holds it (a reset, a new key). Without it the cache lets the
// old key through the tap for up to its TTL, and Connect refuses it.
func (s *Server) ForgetNodeKey(hostID string) { s.edge.keys.forget(hostID) }

// edgeUnary bounds an Enroll's size (after decoding: gRPC's limit is per
// server, limits.GRPCMessageBytes), and counts a refused fleet token
// against the caller's failure budget.
func (s *Server) edgeUnary(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
	if m, ok := req.(proto.Message); ok && info.FullMethod == enrollMethod {
		if n := proto.Size(m); n > enrollBytes {
			return nil, toStatus(s.log, info.FullMethod, invalid("enroll: the request is %d bytes; the limit is %d", n, enrollBytes))
		}
	}
	resp, err := h(ctx, req)
	return resp, s.counted(ctx, info.FullMethod, err)
}

// edgeStream counts a refused credential of a stream against the caller's
// failure budget. A node key the tap let through from its cache and
// Connect refused (the host was reset) leaves the cache: the next try is
// refused by the tap.
func (s *Server) edgeStream(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, h grpc.StreamHandler) error {
	err := h(srv, ss)
	if info.FullMethod == connectMethod && status.Code(err) == codes.Unauthenticated {
		md, _ := metadata.FromIncomingContext(ss.Context())
		s.edge.keys.forget(first(md.Get(credential.MDHost)))
	}
	return s.counted(ss.Context(), info.FullMethod, err)
}

// counted counts an Unauthenticated answer (a bad token, a node key the
// tap let through from its cache) as a failure of the caller.
func (s *Server) counted(ctx context.Context, method string, err error) error {
	if status.Code(err) != codes.Unauthenticated {
		return err
	}
	if s.edge.fails.fail(peerOf(ctx)) {
		return toStatus(s.log, method, refuse(codes.ResourceExhausted, "too many failed authentications from this address; retry later"))
	}
	return err
}

// keyCache holds the node key hashes that passed the tap lately, so an
// agent's reconnection does not wait on the store in the connection's
// reading goroutine. It is only a gate: a stale entry lets a stream reach
// Connect, which asks the store.
type keyCache struct {
	ttl time.Duration
	mu  sync.Mutex
	m   map[string]cachedKey
}

type cachedKey struct {
	hash []byte
	at   time.Time
}

func (c *keyCache) matches(id string, hash []byte, now time.Time) bool {
	c.mu.Lock()
	k, ok := c.m[id]
	c.mu.Unlock()
	return ok && now.Sub(k.at) < c.ttl && subtle.ConstantTimeCompare(hash, k.hash) == 1
}

// put keeps a hash; a full cache drops its old entries, or else an
// arbitrary one.
func (c *keyCache) put(id string, hash []byte, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.m[id]; !ok && len(c.m) >= maxCachedKeys {
		c.dropOld(now)
		for k := range c.m {
			if len(c.m) < maxCachedKeys {
				break
			}
			delete(c.m, k)
		}
	}
	c.m[id] = cachedKey{hash: hash, at: now}
}

// maxCachedKeys bounds the cache: a fleet's hosts, a few bytes each.
const maxCachedKeys = 100_000

func (c *keyCache) forget(id string) {
	c.mu.Lock()
	delete(c.m, id)
	c.mu.Unlock()
}

func (c *keyCache) forgetOld(now time.Time) {
	c.mu.Lock()
	c.dropOld(now)
	c.mu.Unlock()
}

func (c *keyCache) dropOld(now time.Time) {
	for k, v := range c.m {
		if now.Sub(v.at) >= c.ttl {
			delete(c.m, k)
		}
	}
}
