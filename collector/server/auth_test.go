package server

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/farmwatch/farmwatch/collector/pki"
	"github.com/farmwatch/farmwatch/collector/store"
	"github.com/farmwatch/farmwatch/collector/store/sqlite"
	"github.com/farmwatch/farmwatch/credential"
	fwv1 "github.com/farmwatch/farmwatch/proto/farmwatch/v1"
	"github.com/rs/zerolog"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
)

// Every FleetService method of the generated descriptor is in the role
// table, and the table names nothing else: a method added to the proto
// fails here until it is given a role.
func TestRoleTableCoversFleetService(t *testing.T) {
	methods := fwv1.File_farmwatch_v1_fleet_proto.Services().ByName("FleetService").Methods()
	seen := map[string]bool{}
	for i := range methods.Len() {
		full := "/farmwatch.v1.FleetService/" + string(methods.Get(i).Name())
		seen[full] = true
		if _, ok := need[full]; !ok {
			t.Errorf("%s has no entry in the role table (auth.go's need)", full)
		}
	}
	for m := range need {
		if !seen[m] {
			t.Errorf("the role table names %s, which FleetService does not have", m)
		}
	}
}

// Each role may call exactly what it should: a viewer reads, a helpdesk
// reads and scans, an admin does everything. The lists are written out
// here, apart from the table they check.
func TestRoles(t *testing.T) {
	reads := []string{"ListHosts", "GetHost", "ListFindings", "WatchFindings", "ListChanges", "ListClusters", "GetRoster", "QueryObservations"}
	want := map[store.Role][]string{
		store.RoleViewer:   reads,
		store.RoleHelpdesk: append(slices.Clone(reads), "ScanHost", "Hunt"),
		store.RoleAdmin: append(slices.Clone(reads), "ScanHost", "Hunt", "CreateToken", "ListTokens", "RevokeToken",
			"ApproveHost", "ResetHost"),
		"root": nil, // a role the store should never hold grants nothing
	}
	ctx := context.Background()
	st, err := sqlite.Open(ctx, ":memory:")
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	s, err := New(Config{Store: st, Log: zerolog.Nop(), EnrollSecret: "e"})
	if err != nil {
		t.Fatal(err)
	}
	methods := fwv1.File_farmwatch_v1_fleet_proto.Services().ByName("FleetService").Methods()
	for role, may := range want {
		secret := pki.Secret("fwt_")
		if err := st.PutToken(ctx, store.Token{Hash: pki.Hash(secret), Role: role, Created: time.Now()}); err != nil {
			t.Fatal(err)
		}
		call := metadata.NewIncomingContext(ctx, metadata.Pairs(credential.MDAuthorization, credential.Bearer(secret)))
		for i := range methods.Len() {
			name := string(methods.Get(i).Name())
			_, err := s.authorize(call, "/farmwatch.v1.FleetService/"+name)
			switch allowed := slices.Contains(may, name); {
			case allowed && err != nil:
				t.Errorf("%s calling %s: %v; want allowed", role, name, err)
			case !allowed && refusal(err) != codes.PermissionDenied:
				t.Errorf("%s calling %s: %v; want PermissionDenied", role, name, err)
			}
		}
	}
	if _, err := s.authorize(ctx, "/farmwatch.v1.FleetService/NoSuchMethod"); refusal(err) != codes.PermissionDenied {
		t.Errorf("a method outside the table: %v; want PermissionDenied", err)
	}
}

// refusal is the code of a refusal, or OK.
func refusal(err error) codes.Code {
	if e, ok := err.(*Error); ok {
		return e.Code
	}
	return codes.OK
}
