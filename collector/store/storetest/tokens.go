package storetest

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/farmwatch/farmwatch/collector/store"
)

func testTokens(t *testing.T, s store.Store) {
	ctx := context.Background()
	if _, err := s.TokenByHash(ctx, tokenHash("x")); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("missing token: %v", err)
	}
	must(t, s.PutToken(ctx, store.Token{Hash: tokenHash("v"), Name: "dashboard", Role: store.RoleViewer, Created: t0, ID: "ignored"}))
	must(t, s.PutToken(ctx, store.Token{Hash: tokenHash("h"), Role: store.RoleHelpdesk, Created: t0.Add(time.Second), Expires: t0.Add(time.Hour)}))
	must(t, s.PutToken(ctx, store.Token{Hash: tokenHash("a"), Name: "init", Role: store.RoleAdmin, Created: t0.Add(2 * time.Second)}))
	got, err := s.TokenByHash(ctx, tokenHash("v"))
	must(t, err)
	want := store.Token{ID: store.TokenID(tokenHash("v")), Hash: tokenHash("v"), Name: "dashboard", Role: store.RoleViewer, Created: t0}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("token = %+v, want %+v", got, want)
	}
	if len(got.ID) != 12 {
		t.Fatalf("id %q: want 12 hex digits", got.ID)
	}
	if err := s.PutToken(ctx, store.Token{Hash: tokenHash("v"), Role: store.RoleAdmin, Created: t0}); err == nil {
		t.Fatal("a token hash was stored twice")
	}
	ids := func(ts []store.Token, err error) string {
		t.Helper()
		must(t, err)
		var names []string
		for _, tk := range ts {
			names = append(names, tk.Name)
		}
		return strings.Join(names, ",")
	}
	if got := ids(s.Tokens(ctx, false, t0)); got != "dashboard,,init" {
		t.Fatalf("valid tokens = %q", got)
	}
	// The helpdesk token expires after an hour: valid ones no longer
	// include it, all of them do.
	if got := ids(s.Tokens(ctx, false, t0.Add(time.Hour))); got != "dashboard,init" {
		t.Fatalf("valid tokens an hour later = %q", got)
	}
	if got := ids(s.Tokens(ctx, true, t0.Add(time.Hour))); got != "dashboard,,init" {
		t.Fatalf("all tokens an hour later = %q", got)
	}

	// Revoking: at once, once.
	vid := store.TokenID(tokenHash("v"))
	r, err := s.RevokeToken(ctx, vid, t0.Add(time.Minute))
	if err != nil || !r.Revoked.Equal(t0.Add(time.Minute)) || r.Name != "dashboard" {
		t.Fatalf("revoke = %+v, %v", r, err)
	}
	r, err = s.RevokeToken(ctx, vid, t0.Add(2*time.Minute))
	if err != nil || !r.Revoked.Equal(t0.Add(time.Minute)) {
		t.Fatalf("revoked again = %+v, %v; want the first revocation kept", r, err)
	}
	if got, _ := s.TokenByHash(ctx, tokenHash("v")); got.Valid(t0) {
		t.Fatalf("revoked token %+v is valid", got)
	}
	if got := ids(s.Tokens(ctx, false, t0.Add(time.Minute))); got != ",init" {
		t.Fatalf("valid tokens after the revocation = %q", got)
	}
	if _, err := s.RevokeToken(ctx, "000000000000", t0); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("revoking an unknown token: %v", err)
	}

	// Touching keeps the latest time.
	aid := store.TokenID(tokenHash("a"))
	must(t, s.TouchToken(ctx, aid, t0.Add(3*time.Minute)))
	must(t, s.TouchToken(ctx, aid, t0.Add(2*time.Minute)))
	must(t, s.TouchToken(ctx, "000000000000", t0))
	if got, _ := s.TokenByHash(ctx, tokenHash("a")); !got.LastUsed.Equal(t0.Add(3 * time.Minute)) {
		t.Fatalf("last used = %v, want %v", got.LastUsed, t0.Add(3*time.Minute))
	}
}

// The last valid admin token cannot be revoked; another admin token, or
// an expired one, can. Two revocations at once leave one admin.
func testLastAdmin(t *testing.T, s store.Store) {
	ctx := context.Background()
	put := func(name string, role store.Role, expires time.Time) string {
		must(t, s.PutToken(ctx, store.Token{Hash: tokenHash(name), Name: name, Role: role, Created: t0, Expires: expires}))
		return store.TokenID(tokenHash(name))
	}
	a1 := put("a1", store.RoleAdmin, time.Time{})
	if _, err := s.RevokeToken(ctx, a1, t0); !errors.Is(err, store.ErrLastAdmin) {
		t.Fatalf("revoking the only admin token: %v", err)
	}
	// A helpdesk token and an expired admin token do not count.
	put("h", store.RoleHelpdesk, time.Time{})
	old := put("old", store.RoleAdmin, t0.Add(-time.Second))
	if _, err := s.RevokeToken(ctx, a1, t0); !errors.Is(err, store.ErrLastAdmin) {
		t.Fatalf("revoking the only valid admin token: %v", err)
	}
	if _, err := s.RevokeToken(ctx, old, t0); err != nil {
		t.Fatalf("revoking an expired admin token: %v", err)
	}
	// Rotation: a new admin token, then the old one goes.
	a2 := put("a2", store.RoleAdmin, time.Time{})
	if _, err := s.RevokeToken(ctx, a1, t0); err != nil {
		t.Fatalf("revoking the old admin token once there is a new one: %v", err)
	}
	if _, err := s.RevokeToken(ctx, a2, t0); !errors.Is(err, store.ErrLastAdmin) {
		t.Fatalf("revoking the new, now only, admin token: %v", err)
	}
	if tk, _ := s.TokenByHash(ctx, tokenHash("a2")); !tk.Valid(t0) {
		t.Fatalf("the last admin token was revoked: %+v", tk)
	}
	// Two admin tokens revoked at once, many times: one stays.
	for i := range 20 {
		x, y := put(fmt.Sprint("x", i), store.RoleAdmin, time.Time{}), put(fmt.Sprint("y", i), store.RoleAdmin, time.Time{})
		if _, err := s.RevokeToken(ctx, a2, t0); err != nil && !errors.Is(err, store.ErrLastAdmin) {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		errs := make([]error, 2)
		for j, id := range []string{x, y} {
			wg.Go(func() { _, errs[j] = s.RevokeToken(ctx, id, t0) })
		}
		wg.Wait()
		valid, err := s.Tokens(ctx, false, t0)
		must(t, err)
		admins := 0
		for _, tk := range valid {
			if tk.Role == store.RoleAdmin {
				admins++
				a2 = tk.ID
			}
		}
		if admins != 1 || (errs[0] == nil) == (errs[1] == nil) {
			t.Fatalf("round %d: %d valid admin tokens after revoking two at once (%v, %v); want 1", i, admins, errs[0], errs[1])
		}
	}
}

// Many writers on one host: every sequence number applies exactly once.
