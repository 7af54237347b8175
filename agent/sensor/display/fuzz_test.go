package display

import (
	"encoding/hex"
	"sort"
	"testing"

	"github.com/farmwatch/farmwatch/agent/edid"
	fwv1 "github.com/farmwatch/farmwatch/proto/farmwatch/v1"
	"google.golang.org/protobuf/proto"
)

// checkFound fails unless what a reader found becomes observations that
// are keyed, typed, sorted, unique and fit to send (proto.Marshal checks
// that every string is valid UTF-8), no more than what was found.
func checkFound(t *testing.T, ds []*fwv1.Display, drv []*fwv1.Driver) {
	t.Helper()
	obs := observations(ds, drv)
	if len(obs) > len(ds)+len(drv) || !sort.SliceIsSorted(obs, func(i, j int) bool { return obs[i].Key < obs[j].Key }) {
		t.Fatalf("%d observations from %d displays and %d drivers, or not sorted", len(obs), len(ds), len(drv))
	}
	seen := map[string]bool{}
	for _, o := range obs {
		if o.Key == "" || o.Kind == nil || seen[o.Key] {
			t.Fatalf("observation %v: no key, no kind, or a key twice", o)
		}
		seen[o.Key] = true
		if _, err := proto.Marshal(o); err != nil {
			t.Fatalf("observation %v: %v", o, err)
		}
	}
	for _, d := range ds {
		checkEdid(t, d.Edid)
	}
}

// checkEdid fails unless an Edid's raw bytes are hex of at most the blocks
// an EDID can have, and its parsed fields are those of edid.Parse.
func checkEdid(t *testing.T, e *fwv1.Edid) {
	t.Helper()
	if e == nil || e.RawHex == "" {
		return
	}
	raw, err := hex.DecodeString(e.RawHex)
	if err != nil || len(raw) > edid.MaxBlocks*edid.BlockSize {
		t.Fatalf("raw hex %q: %d bytes, %v", e.RawHex, len(raw), err)
	}
	p, err := edid.Parse(raw)
	if (err == nil) != (e.Blocks > 0) || err == nil && (e.Manufacturer != p.Manufacturer() || e.MonitorName != p.Name() || int(e.Blocks) != p.Blocks) {
		t.Fatalf("edid %v: not what edid.Parse says of its bytes (%v)", e, err)
	}
}
