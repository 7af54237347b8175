package main

import (
	"strings"
	"testing"

	fwv1 "github.com/farmwatch/farmwatch/proto/farmwatch/v1"
)

// TestHunter: a simulated agent's hunt answer is what a real agent's
// would be: the matches of the filter over its state, a filter that does
// not compile as the answer's error, and a pushed bundle used for the
// next hunts.
func TestHunter(t *testing.T) {
	var h hunter
	st := newHostState(3, 60)
	host := &fwv1.HostInfo{Os: "linux", Hostname: "sim-00003"}
	r := h.answer(&fwv1.HuntRequest{RequestId: "r1", Kind: "process", Filter: `process.name == "sshd"`}, host, st.all())
	if r.GetRequestId() != "r1" || r.GetError() != "" || len(r.GetMatches()) != 1 || r.GetMatches()[0].GetProcess().GetName() != "sshd" || int(r.GetScanned()) != len(st.all()) {
		t.Fatalf("answer %v", r)
	}
	r = h.answer(&fwv1.HuntRequest{RequestId: "r2", Kind: "usb_device", Filter: `usb_device.serial == "SN00000003-1"`}, host, st.all())
	if len(r.GetMatches()) != 1 || r.GetMatches()[0].GetUsbDevice().GetSerial() != "SN00000003-1" {
		t.Fatalf("usb answer %v", r)
	}
	r = h.answer(&fwv1.HuntRequest{RequestId: "r3", Kind: "process", Filter: `process.nope == 1`}, host, st.all())
	if r.GetError() == "" || len(r.GetMatches()) != 0 || r.GetRequestId() != "r3" {
		t.Fatalf("a bad filter: %v", r)
	}
	r = h.answer(&fwv1.HuntRequest{RequestId: "r4", Kind: "nonsense", Filter: `true`}, host, st.all())
	if r.GetError() == "" {
		t.Fatalf("a bad kind: %v", r)
	}
	// A bundle that does not load (here: its digest is wrong): hunts
	// answer its error until another comes.
	h.take(&fwv1.RuleBundle{Version: "v-broken", Files: []*fwv1.RuleFile{{Name: "x.yaml", Data: []byte("rules: [{{")}}})
	r = h.answer(&fwv1.HuntRequest{RequestId: "r5", Kind: "process", Filter: `true`}, host, st.all())
	if r.GetError() == "" || !strings.Contains(r.GetError(), "v-broken") {
		t.Fatalf("hunt under a bad bundle: %v", r)
	}
	h.take(nil)
	r = h.answer(&fwv1.HuntRequest{RequestId: "r6", Kind: "process", Filter: `process.name == "sshd"`}, host, st.all())
	if r.GetError() != "" || len(r.GetMatches()) != 1 {
		t.Fatalf("after the bundle was replaced: %v", r)
	}
}
