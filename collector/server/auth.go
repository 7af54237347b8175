package server

import (
	"context"
	"errors"
	"strings"

	"github.com/farmwatch/farmwatch/collector/pki"
	"github.com/farmwatch/farmwatch/collector/store"
	"github.com/farmwatch/farmwatch/credential"
	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
)

// need says which role each FleetService method needs. A method not named
// here is refused: a new method must be placed deliberately.
var need = map[string]store.Role{
	"/farmwatch.v1.FleetService/ListHosts":     store.RoleHelpdesk,
	"/farmwatch.v1.FleetService/GetHost":       store.RoleHelpdesk,
	"/farmwatch.v1.FleetService/ListFindings":  store.RoleHelpdesk,
	"/farmwatch.v1.FleetService/ScanHost":      store.RoleHelpdesk,
	"/farmwatch.v1.FleetService/WatchFindings": store.RoleHelpdesk,
	"/farmwatch.v1.FleetService/ListChanges":   store.RoleHelpdesk,
	"/farmwatch.v1.FleetService/CreateToken":   store.RoleAdmin,
	"/farmwatch.v1.FleetService/ApproveHost":   store.RoleAdmin,
	"/farmwatch.v1.FleetService/ResetHost":     store.RoleAdmin,
}

func allows(have, want store.Role) bool {
	return have == store.RoleAdmin || have == want
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
	tok, ok := credential.ParseBearer(auth[0])
	if !ok {
		return nil, unauthenticated("authorization must be \"Bearer <token>\"")
	}
	role, err := s.store.TokenRole(ctx, pki.Hash(tok))
	if errors.Is(err, store.ErrNotFound) {
		return nil, unauthenticated("unknown token")
	}
	if err != nil {
		return nil, internal("token lookup", err)
	}
	if !allows(role, want) {
		return nil, denied("%s needs the %s role; this token is %s", method[strings.LastIndex(method, "/")+1:], want, role)
	}
	return ctx, nil
}

// unary checks the caller's role and maps the handler's error.
func (s *Server) unary(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
	if _, err := s.authorize(ctx, info.FullMethod); err != nil {
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
