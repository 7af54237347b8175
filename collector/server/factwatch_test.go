package server

import (
	"testing"

	"github.com/farmwatch/farmwatch/collector/store"
	fwv1 "github.com/farmwatch/farmwatch/proto/farmwatch/v1"
)

func TestFactWatch(t *testing.T) {
	proc := func(k string) *fwv1.Observation {
		return &fwv1.Observation{Key: k, Kind: &fwv1.Observation_Process{Process: &fwv1.Process{Name: k}}}
	}
	gw := &fwv1.Observation{Key: "neighbor/eth0/10.0.0.1", Kind: &fwv1.Observation_Neighbor{Neighbor: &fwv1.Neighbor{Gateway: true, MacHash: "g"}}}
	usb := &fwv1.Observation{Key: "usb/1-2", Kind: &fwv1.Observation_UsbDevice{UsbDevice: &fwv1.UsbDevice{Serial: "E66038B7"}}}
	kvm := &fwv1.Finding{Rule: "usb-kvm-identity", Severity: fwv1.Severity_SEVERITY_HIGH, Tags: []string{"T1200"}, Evidence: []string{"usb/1-2"}}
	low := &fwv1.Finding{Rule: "usb-linux-gadget", Severity: fwv1.Severity_SEVERITY_LOW, Tags: []string{"T1200"}, Evidence: []string{"usb/1-2"}}

	var w factWatch
	steps := []struct {
		name string
		a    store.Apply
		want bool
	}{
		{"a delta before anything is known", store.Apply{Upserted: []*fwv1.Observation{proc("p1")}, FindingsSet: true}, true},
		{"another: still unknown, a removal may be a fact", store.Apply{Removed: []string{"p9"}, FindingsSet: true}, true},
		{"a full state", store.Apply{Full: true, Upserted: []*fwv1.Observation{proc("p1"), gw, usb}, FindingsSet: true}, true},
		{"processes come and go", store.Apply{Upserted: []*fwv1.Observation{proc("p2")}, Removed: []string{"p1"}, FindingsSet: true}, false},
		{"the gateway is sent again", store.Apply{Upserted: []*fwv1.Observation{gw}, FindingsSet: true}, true},
		{"a device finding appears", store.Apply{Findings: []*fwv1.Finding{kvm}, FindingsSet: true}, true},
		{"the same finding again", store.Apply{Findings: []*fwv1.Finding{kvm}, FindingsSet: true}, false},
		{"a low finding beside it changes nothing FactsOf reads", store.Apply{Findings: []*fwv1.Finding{low, kvm}, FindingsSet: true}, false},
		{"the finding goes", store.Apply{Findings: []*fwv1.Finding{low}, FindingsSet: true}, true},
		{"the gateway goes", store.Apply{Removed: []string{gw.Key}, Findings: []*fwv1.Finding{low}, FindingsSet: true}, true},
		{"a removed key that was never a fact", store.Apply{Removed: []string{gw.Key, "p2"}, Findings: []*fwv1.Finding{low}, FindingsSet: true}, false},
	}
	for _, s := range steps {
		if got := w.applied(&s.a); got != s.want {
			t.Errorf("%s: changed = %v, want %v", s.name, got, s.want)
		}
	}
	// Seeded from the store (a new session): a process removal is no
	// change, the USB device's is.
	var n factWatch
	n.seed([]*fwv1.Observation{proc("p1"), usb})
	if n.applied(&store.Apply{Removed: []string{"p1"}, FindingsSet: true}) {
		t.Error("seeded: a process removal counted as a change")
	}
	if !n.applied(&store.Apply{Removed: []string{usb.Key}, FindingsSet: true}) {
		t.Error("seeded: the USB device's removal did not count")
	}
}
