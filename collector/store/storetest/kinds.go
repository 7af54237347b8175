package storetest

import (
	"context"
	"slices"
	"testing"

	"github.com/farmwatch/farmwatch/collector/store"
	"github.com/farmwatch/farmwatch/observation"
	fwv1 "github.com/farmwatch/farmwatch/proto/farmwatch/v1"
	"google.golang.org/protobuf/proto"
)

// testObservationsOfKinds: a host's observations of some kinds are those
// of Observations with that kind, whole and ordered by key; another
// host's never come; no kind, or a kind nobody has, gives none.
func testObservationsOfKinds(t *testing.T, s store.Store) {
	ctx := context.Background()
	must(t, s.PutHost(ctx, host("h1", "alpha")))
	must(t, s.PutHost(ctx, host("h2", "beta")))
	var obs []*fwv1.Observation
	for _, k := range observation.Kinds().All() {
		for _, n := range []string{"/2", "/1"} {
			obs = append(obs, k.Wrap(k.Name+n, k.New()))
		}
	}
	for _, h := range []string{"h1", "h2"} {
		if ok, err := s.ApplyMessage(ctx, h, 1, store.Apply{Full: true, Upserted: obs, Seen: t0}); !ok || err != nil {
			t.Fatalf("apply %s = %v, %v", h, ok, err)
		}
	}
	// h2 loses its neighbours: h1's must still come.
	if ok, err := s.ApplyMessage(ctx, "h2", 2, store.Apply{Removed: []string{"neighbor/1", "neighbor/2"}, Seen: t0}); !ok || err != nil {
		t.Fatalf("remove = %v, %v", ok, err)
	}
	all, err := s.Observations(ctx, "h1")
	must(t, err)
	for _, kinds := range [][]string{{"neighbor", "usb_device"}, {"process"}, {"display", "wifi_network", "net_interface", "neighbor", "usb_device"}, {}, {"no_such_kind"}} {
		got, err := s.ObservationsOfKinds(ctx, "h1", kinds)
		must(t, err)
		var want []*fwv1.Observation
		for _, o := range all {
			if slices.Contains(kinds, observation.KindOf(o)) {
				want = append(want, o)
			}
		}
		if len(got) != len(want) {
			t.Fatalf("kinds %v: %d observations, want %d", kinds, len(got), len(want))
		}
		for i := range got {
			if !proto.Equal(got[i], want[i]) {
				t.Errorf("kinds %v: #%d is %s, want %s", kinds, i, got[i].GetKey(), want[i].GetKey())
			}
			if i > 0 && got[i-1].GetKey() >= got[i].GetKey() {
				t.Errorf("kinds %v: %s before %s: not ordered by key", kinds, got[i-1].GetKey(), got[i].GetKey())
			}
		}
	}
	got, err := s.ObservationsOfKinds(ctx, "h2", []string{"neighbor"})
	must(t, err)
	if len(got) != 0 {
		t.Errorf("h2's neighbours after their removal: %d, want none", len(got))
	}
}
