package server

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/farmwatch/farmwatch/collector/pki"
	"github.com/farmwatch/farmwatch/collector/store"
	fwv1 "github.com/farmwatch/farmwatch/proto/farmwatch/v1"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Tokens expire and can be revoked: a revoked or expired token is refused
// with Unauthenticated and a message that says only that; a valid one of
// the same role still works.
func TestTokensExpireAndRevoke(t *testing.T) {
	f := start(t)
	fleet := fwv1.NewFleetServiceClient(f.dial(t))
	ctx := context.Background()
	admin := withToken(ctx, f.install.AdminToken)
	create := func(role, name string, ttl int64) *fwv1.CreateTokenResponse {
		t.Helper()
		r, err := fleet.CreateToken(admin, &fwv1.CreateTokenRequest{Role: role, Name: name, TtlSeconds: ttl})
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	viewer := create("viewer", "dashboard", 0)
	short := create("helpdesk", "contractor", 1)
	keep := create("helpdesk", "desk", 3600)
	// The id is the hash's, public; the secret is not in it.
	if id := viewer.Info.GetId(); id != store.TokenID(pki.Hash(viewer.Token)) || strings.Contains(viewer.Token, id) || viewer.Info.GetName() != "dashboard" {
		t.Fatalf("created %+v", viewer.Info)
	}
	if keep.Info.GetExpires().AsTime().Sub(keep.Info.GetCreated().AsTime()) != time.Hour {
		t.Fatalf("a token of ttl 3600s expires at %v, created %v", keep.Info.GetExpires().AsTime(), keep.Info.GetCreated().AsTime())
	}
	list := func(all bool) []string {
		t.Helper()
		r, err := fleet.ListTokens(admin, &fwv1.ListTokensRequest{All: all})
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, tk := range r.Tokens {
			names = append(names, tk.Name)
		}
		slices.Sort(names) // tokens made in the same millisecond are in id order
		return names
	}
	if got := strings.Join(list(false), ","); got != "contractor,dashboard,desk,init" {
		t.Fatalf("tokens = %s", got)
	}

	if _, err := fleet.ListHosts(withToken(ctx, viewer.Token), &fwv1.ListHostsRequest{}); err != nil {
		t.Fatalf("viewer listing hosts: %v", err)
	}
	r, err := fleet.RevokeToken(admin, &fwv1.RevokeTokenRequest{Id: viewer.Info.Id})
	if err != nil || r.Token.GetRevoked() == nil {
		t.Fatalf("revoke: %v, %v", r, err)
	}
	refused := func(tok, msg string) {
		t.Helper()
		_, err := fleet.ListHosts(withToken(ctx, tok), &fwv1.ListHostsRequest{})
		if st, _ := status.FromError(err); st.Code() != codes.Unauthenticated || st.Message() != msg {
			t.Fatalf("ListHosts: %v; want Unauthenticated %q", err, msg)
		}
	}
	refused(viewer.Token, "token revoked")
	deadline := time.Now().Add(5 * time.Second)
	for {
		_, err := fleet.ListHosts(withToken(ctx, short.Token), &fwv1.ListHostsRequest{})
		if err != nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	refused(short.Token, "token expired")
	if _, err := fleet.ListHosts(withToken(ctx, keep.Token), &fwv1.ListHostsRequest{}); err != nil {
		t.Fatalf("a valid helpdesk token: %v", err)
	}
	if got := strings.Join(list(false), ","); got != "desk,init" {
		t.Fatalf("valid tokens = %s", got)
	}
	if got := strings.Join(list(true), ","); got != "contractor,dashboard,desk,init" {
		t.Fatalf("all tokens = %s", got)
	}

	// The refusals name what is wrong.
	for _, c := range []struct {
		req  *fwv1.CreateTokenRequest
		want string
	}{
		{&fwv1.CreateTokenRequest{Role: "root"}, `role "root"`},
		{&fwv1.CreateTokenRequest{Role: "viewer", TtlSeconds: -1}, "ttl_seconds -1"},
		{&fwv1.CreateTokenRequest{Role: "viewer", Name: "a\x1b[2Jb"}, "control characters"},
		{&fwv1.CreateTokenRequest{Role: "viewer", Name: strings.Repeat("n", 200)}, "200 bytes"},
	} {
		_, err := fleet.CreateToken(admin, c.req)
		if status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), c.want) {
			t.Errorf("create %v: %v; want InvalidArgument naming %s", c.req, err, c.want)
		}
	}
	if _, err := fleet.RevokeToken(admin, &fwv1.RevokeTokenRequest{Id: "0123456789ab"}); status.Code(err) != codes.NotFound || !strings.Contains(err.Error(), "0123456789ab") {
		t.Errorf("revoking an unknown token: %v", err)
	}
	if _, err := fleet.RevokeToken(withToken(ctx, keep.Token), &fwv1.RevokeTokenRequest{Id: viewer.Info.Id}); status.Code(err) != codes.PermissionDenied {
		t.Errorf("helpdesk revoking a token: %v", err)
	}
}

// The admin token from init is a token like any other, named "init": it
// is rotated by making a new admin token and revoking the old one. The
// last valid admin token cannot be revoked.
func TestAdminTokenRotation(t *testing.T) {
	f := start(t)
	fleet := fwv1.NewFleetServiceClient(f.dial(t))
	ctx := context.Background()
	old := withToken(ctx, f.install.AdminToken)
	oldID := store.TokenID(pki.Hash(f.install.AdminToken))
	// Alone, the init token cannot be revoked, not even by itself.
	_, err := fleet.RevokeToken(old, &fwv1.RevokeTokenRequest{Id: oldID})
	if status.Code(err) != codes.FailedPrecondition || !strings.Contains(err.Error(), "last valid admin token") {
		t.Fatalf("revoking the only admin token: %v", err)
	}
	nt, err := fleet.CreateToken(old, &fwv1.CreateTokenRequest{Role: "admin", Name: "ops-2026"})
	if err != nil {
		t.Fatal(err)
	}
	next := withToken(ctx, nt.Token)
	if _, err := fleet.RevokeToken(next, &fwv1.RevokeTokenRequest{Id: oldID}); err != nil {
		t.Fatalf("revoking the init token with the new one: %v", err)
	}
	if _, err := fleet.ListTokens(old, &fwv1.ListTokensRequest{}); status.Code(err) != codes.Unauthenticated {
		t.Fatalf("the revoked init token: %v", err)
	}
	if _, err := fleet.RevokeToken(next, &fwv1.RevokeTokenRequest{Id: nt.Info.Id}); status.Code(err) != codes.FailedPrecondition {
		t.Fatalf("revoking the new, now last, admin token: %v", err)
	}
	r, err := fleet.ListTokens(next, &fwv1.ListTokensRequest{All: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Tokens) != 2 || r.Tokens[0].Name != "init" || r.Tokens[0].Revoked == nil || r.Tokens[1].Revoked != nil {
		t.Fatalf("tokens = %v", r.Tokens)
	}
}

// A call records its token's use, at most once a minute.
func TestTokenLastUsed(t *testing.T) {
	f := start(t)
	fleet := fwv1.NewFleetServiceClient(f.dial(t))
	ctx := withToken(context.Background(), f.install.AdminToken)
	hash := pki.Hash(f.install.AdminToken)
	if tk, _ := f.store.TokenByHash(ctx, hash); !tk.LastUsed.IsZero() {
		t.Fatalf("an unused token was used at %v", tk.LastUsed)
	}
	if _, err := fleet.ListHosts(ctx, &fwv1.ListHostsRequest{}); err != nil {
		t.Fatal(err)
	}
	first, _ := f.store.TokenByHash(ctx, hash)
	if time.Since(first.LastUsed) > time.Minute {
		t.Fatalf("last used = %v after a call", first.LastUsed)
	}
	time.Sleep(5 * time.Millisecond)
	if _, err := fleet.ListHosts(ctx, &fwv1.ListHostsRequest{}); err != nil {
		t.Fatal(err)
	}
	if again, _ := f.store.TokenByHash(ctx, hash); !again.LastUsed.Equal(first.LastUsed) {
		t.Fatalf("last used moved from %v to %v within a minute", first.LastUsed, again.LastUsed)
	}
}
