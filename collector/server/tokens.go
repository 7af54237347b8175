package server

import (
	"context"
	"errors"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/farmwatch/farmwatch/collector/pki"
	"github.com/farmwatch/farmwatch/collector/store"
	fwv1 "github.com/farmwatch/farmwatch/proto/farmwatch/v1"
	"google.golang.org/grpc/codes"
)

// The bounds of a token's name and lifetime.
const (
	maxTokenName = 128
	maxTokenTTL  = 10 * 365 * 24 * time.Hour
)

// NewToken makes a token of role, named name, valid for ttl from now (0:
// no expiry), and returns its secret, shown once, and what the store
// keeps: the secret's hash, never the secret. Its checks are those of
// CreateToken, so that a token made offline (farmwatch-collector token
// create --data) is held to the same rules.
func NewToken(role, name string, ttl time.Duration, now time.Time) (string, store.Token, error) {
	r, err := store.ParseRole(role)
	if err != nil {
		return "", store.Token{}, invalid("%v", err)
	}
	if ttl < 0 || ttl > maxTokenTTL {
		return "", store.Token{}, invalid("ttl %v: want 0 (no expiry) up to %v", ttl, maxTokenTTL)
	}
	if err := checkTokenName(name); err != nil {
		return "", store.Token{}, err
	}
	secret := pki.Secret("fwt_")
	t := store.Token{Hash: pki.Hash(secret), Name: name, Role: r, Created: now}
	t.ID = store.TokenID(t.Hash)
	if ttl > 0 {
		t.Expires = now.Add(ttl)
	}
	return secret, t, nil
}

// checkTokenName refuses names that would garble a table or a log: too
// long, not UTF-8, or with control characters.
func checkTokenName(name string) error {
	if len(name) > maxTokenName {
		return invalid("name %.20q...: %d bytes, want at most %d", name, len(name), maxTokenName)
	}
	if !utf8.ValidString(name) {
		return invalid("name %q: not UTF-8", name)
	}
	for _, c := range name {
		if unicode.IsControl(c) {
			return invalid("name %q: control characters are not allowed", name)
		}
	}
	return nil
}

// TokenInfo is what may be shown of a token: everything but its hash.
func TokenInfo(t store.Token) *fwv1.TokenInfo {
	return &fwv1.TokenInfo{Id: t.ID, Name: t.Name, Role: string(t.Role), Created: ts(t.Created),
		Expires: ts(t.Expires), Revoked: ts(t.Revoked), LastUsed: ts(t.LastUsed)}
}

// CreateToken implements FleetService (admin only, see auth.go).
func (s *Server) CreateToken(ctx context.Context, req *fwv1.CreateTokenRequest) (*fwv1.CreateTokenResponse, error) {
	if ttl := req.GetTtlSeconds(); ttl < 0 || ttl > int64(maxTokenTTL/time.Second) {
		return nil, invalid("ttl_seconds %d: want 0 (no expiry) up to %d", ttl, int64(maxTokenTTL/time.Second))
	}
	secret, t, err := NewToken(req.GetRole(), req.GetName(), time.Duration(req.GetTtlSeconds())*time.Second, s.now())
	if err != nil {
		return nil, err
	}
	if err := s.store.PutToken(ctx, t); err != nil {
		return nil, internal("create token", err)
	}
	s.log.Info().Str("token", t.ID).Str("role", string(t.Role)).Str("name", t.Name).Time("expires", t.Expires).
		Str("by", caller(ctx)).Msg("token created")
	return &fwv1.CreateTokenResponse{Token: secret, Role: string(t.Role), Info: TokenInfo(t)}, nil
}

// ListTokens implements FleetService (admin only).
func (s *Server) ListTokens(ctx context.Context, req *fwv1.ListTokensRequest) (*fwv1.ListTokensResponse, error) {
	ts, err := s.store.Tokens(ctx, req.GetAll(), s.now())
	if err != nil {
		return nil, internal("list tokens", err)
	}
	resp := &fwv1.ListTokensResponse{Tokens: make([]*fwv1.TokenInfo, len(ts))}
	for i, t := range ts {
		resp.Tokens[i] = TokenInfo(t)
	}
	return resp, nil
}

// RevokeToken implements FleetService (admin only). The last valid admin
// token is kept: without it no one could administer the fleet but from
// the collector's data directory.
func (s *Server) RevokeToken(ctx context.Context, req *fwv1.RevokeTokenRequest) (*fwv1.RevokeTokenResponse, error) {
	id := req.GetId()
	if id == "" {
		return nil, invalid("id: a token id is required (token list shows them)")
	}
	t, err := s.store.RevokeToken(ctx, id, s.now())
	switch {
	case errors.Is(err, store.ErrNotFound):
		return nil, notFound("token %q: no such token", id)
	case errors.Is(err, store.ErrLastAdmin):
		return nil, refuse(codes.FailedPrecondition, "token %s is the last valid admin token: revoking it would lock every admin out; create another admin token first", id)
	case err != nil:
		return nil, internal("revoke token", err)
	}
	s.log.Info().Str("token", t.ID).Str("role", string(t.Role)).Str("name", t.Name).Str("by", caller(ctx)).Msg("token revoked")
	return &fwv1.RevokeTokenResponse{Token: TokenInfo(t)}, nil
}
