package server

import (
	"context"
	"errors"
	"strings"

	"github.com/farmwatch/farmwatch/collector/pki"
	"github.com/farmwatch/farmwatch/collector/store"
	"github.com/farmwatch/farmwatch/credential"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
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
}

func allows(have, want store.Role) bool {
	return have == store.RoleAdmin || have == want
}

type roleKey struct{}

func (s *Server) authorize(ctx context.Context, method string) (context.Context, error) {
	if strings.HasPrefix(method, "/farmwatch.v1.AgentService/") {
		return ctx, nil // agents authenticate with their node key (Connect) or the enroll secret (Enroll)
	}
	want, ok := need[method]
	if !ok {
		return nil, status.Errorf(codes.PermissionDenied, "%s: no role may call it", method)
	}
	md, _ := metadata.FromIncomingContext(ctx)
	auth := md.Get(credential.MDAuthorization)
	if len(auth) != 1 {
		return nil, status.Error(codes.Unauthenticated, "a bearer token is required (authorization: Bearer <token>)")
	}
	tok, ok := credential.ParseBearer(auth[0])
	if !ok {
		return nil, status.Error(codes.Unauthenticated, "authorization must be \"Bearer <token>\"")
	}
	role, err := s.store.TokenRole(ctx, pki.Hash(tok))
	if errors.Is(err, store.ErrNotFound) {
		return nil, status.Error(codes.Unauthenticated, "unknown token")
	}
	if err != nil {
		return nil, status.Error(codes.Internal, "token lookup failed")
	}
	if !allows(role, want) {
		return nil, status.Errorf(codes.PermissionDenied, "%s needs the %s role; this token is %s", method[strings.LastIndex(method, "/")+1:], want, role)
	}
	return context.WithValue(ctx, roleKey{}, role), nil
}

func (s *Server) unaryAuth(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
	ctx, err := s.authorize(ctx, info.FullMethod)
	if err != nil {
		return nil, err
	}
	return h(ctx, req)
}

type wrappedStream struct {
	grpc.ServerStream
	ctx context.Context
}

func (w wrappedStream) Context() context.Context { return w.ctx }

func (s *Server) streamAuth(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, h grpc.StreamHandler) error {
	ctx, err := s.authorize(ss.Context(), info.FullMethod)
	if err != nil {
		return err
	}
	return h(srv, wrappedStream{ss, ctx})
}
