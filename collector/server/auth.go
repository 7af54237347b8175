package server

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/farmwatch/farmwatch/collector/pki"
	"github.com/farmwatch/farmwatch/collector/store"
	"github.com/farmwatch/farmwatch/credential"
	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
)

// need is the role table: the least role each FleetService method needs.
// A viewer reads, a helpdesk reads and scans, an admin does everything. A
// method not named here is refused to every role, and a test fails for
// any FleetService method missing from it: a new method must be placed
// deliberately.
var need = map[string]store.Role{
	"/farmwatch.v1.FleetService/ListHosts":     store.RoleViewer,
	"/farmwatch.v1.FleetService/GetHost":       store.RoleViewer,
	"/farmwatch.v1.FleetService/ListFindings":  store.RoleViewer,
	"/farmwatch.v1.FleetService/WatchFindings": store.RoleViewer,
	"/farmwatch.v1.FleetService/ListChanges":   store.RoleViewer,
	"/farmwatch.v1.FleetService/ScanHost":      store.RoleHelpdesk,
	"/farmwatch.v1.FleetService/CreateToken":   store.RoleAdmin,
	"/farmwatch.v1.FleetService/ListTokens":    store.RoleAdmin,
	"/farmwatch.v1.FleetService/RevokeToken":   store.RoleAdmin,
	"/farmwatch.v1.FleetService/ApproveHost":   store.RoleAdmin,
	"/farmwatch.v1.FleetService/ResetHost":     store.RoleAdmin,
	// Farms and the roster name people: viewers see them, as they see
	// hosts. A query reads what is stored; a hunt makes every agent scan,
	// as a helpdesk scan does.
	"/farmwatch.v1.FleetService/ListClusters":      store.RoleViewer,
	"/farmwatch.v1.FleetService/GetRoster":         store.RoleViewer,
	"/farmwatch.v1.FleetService/QueryObservations": store.RoleViewer,
	"/farmwatch.v1.FleetService/Hunt":              store.RoleHelpdesk,
}

// rank orders the roles: each may do what the ones below it may. A role
// not here (none is stored) may do nothing.
var rank = map[store.Role]int{store.RoleViewer: 1, store.RoleHelpdesk: 2, store.RoleAdmin: 3}

func allows(have, want store.Role) bool {
	return rank[have] > 0 && rank[have] >= rank[want]
}

// touchEvery is how stale a token's last use may be before a call records
// it: at most one write a minute for each token in use.
const touchEvery = time.Minute

// callerKey is the context key of the calling token's ID (unary calls).
type callerKey struct{}

// caller is the ID of the token a fleet call came with, for the log.
func caller(ctx context.Context) string {
	id, _ := ctx.Value(callerKey{}).(string)
	return id
}

func (s *Server) authorize(ctx context.Context, method string) (context.Context, error) {
	if strings.HasPrefix(method, "/farmwatch.v1.AgentService/") {
		return ctx, nil // agents authenticate with their node key (Connect) or the enroll secret (Enroll)
	}
	want, ok := need[method]
	if !ok {
		return nil, denied("%s: no role may call it", method)
	}
	md, _ := metadata.FromIncomingContext(ctx)
	auth := md.Get(credential.MDAuthorization)
	if len(auth) != 1 {
		return nil, unauthenticated("a bearer token is required (authorization: Bearer <token>)")
	}
	secret, ok := credential.ParseBearer(auth[0])
	if !ok {
		return nil, unauthenticated("authorization must be \"Bearer <token>\"")
	}
	tok, err := s.store.TokenByHash(ctx, pki.Hash(secret))
	if errors.Is(err, store.ErrNotFound) {
		return nil, unauthenticated("unknown token")
	}
	if err != nil {
		return nil, internal("token lookup", err)
	}
	now := s.now()
	switch {
	case !tok.Revoked.IsZero():
		return nil, unauthenticated("token revoked")
	case tok.Expired(now):
		return nil, unauthenticated("token expired")
	}
	if !allows(tok.Role, want) {
		return nil, denied("%s needs the %s role; this token is %s", method[strings.LastIndex(method, "/")+1:], want, tok.Role)
	}
	if now.Sub(tok.LastUsed) >= touchEvery {
		// The call goes on when this fails: a store that cannot write
		// shows in /healthz, and the caller did nothing wrong.
		if err := s.store.TouchToken(ctx, tok.ID, now); err != nil {
			s.log.Warn().Err(err).Str("token", tok.ID).Msg("token use not recorded")
		}
	}
	return context.WithValue(ctx, callerKey{}, tok.ID), nil
}

// unary checks the caller's role and maps the handler's error.
func (s *Server) unary(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
	ctx, err := s.authorize(ctx, info.FullMethod)
	if err != nil {
		return nil, toStatus(s.log, info.FullMethod, err)
	}
	resp, err := h(ctx, req)
	return resp, toStatus(s.log, info.FullMethod, err)
}

// stream checks the caller's role and maps the handler's error.
func (s *Server) stream(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, h grpc.StreamHandler) error {
	if _, err := s.authorize(ss.Context(), info.FullMethod); err != nil {
		return toStatus(s.log, info.FullMethod, err)
	}
	return toStatus(s.log, info.FullMethod, h(srv, ss))
}
