package fleet

import (
	"fmt"
	"testing"

	fwv1 "github.com/farmwatch/farmwatch/proto/farmwatch/v1"
	"github.com/farmwatch/farmwatch/rules"
	"google.golang.org/protobuf/proto"
)

// rc is a remote-access finding of a host's own rules.
var rc = &fwv1.Finding{Rule: "remote-access-tool", Severity: fwv1.Severity_SEVERITY_MEDIUM, Tags: []string{"T1219", "T1219.002"},
	Title: "Remote-access tool running", Evidence: []string{"process/1"}}

// Hostile cluster sizes: thousands of hosts behind one egress IP (an
// undeclared corporate NAT, a carrier's), each with findings, judged by
// the built-in fleet rules within their cost limit, as a small farm is.
func TestHostileClusterSizes(t *testing.T) {
	set, err := rules.Load(rules.Builtin(), rules.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []int{2, 90, 3000, 10000} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			var hs []Host
			for i := range n {
				p := place{egress: "198.51.100.7", gw: fmt.Sprintf("f4:92:bf:%02x:%02x:01", i/256, i%256)}
				h := at(fmt.Sprintf("h%05d", i), "", p, fmt.Sprintf("02:00:00:%02x:%02x:01", i/256, i%256))
				h.Findings = []*fwv1.Finding{rc, rc, rc, rc, rc, rc, rc, rc}
				if i%2 == 1 {
					h.EgressIP = "::ffff:198.51.100.7" // as a dual-stack listener sees it
				}
				hs = append(hs, h)
			}
			cs := Group(hs, nets, salt)
			if len(cs) != 1 || len(cs[0].Members) != n || len(cs[0].Signals) != 1 || cs[0].Signals[0].Value != "198.51.100.7" {
				t.Fatalf("%d clusters", len(cs))
			}
			if m := cs[0].Members[1]; m.EgressIp != "198.51.100.7" || hs[1].EgressIP != "::ffff:198.51.100.7" {
				t.Fatalf("member egress %q (want the signal's form), host's %q (want it left alone)", m.EgressIp, hs[1].EgressIP)
			}
			t.Logf("%d members: the cluster is %d bytes", n, proto.Size(cs[0]))
			res := set.EvaluateFleet(nil, cs[0])
			if len(res.Errors) > 0 {
				t.Fatalf("errors: %v", res.Errors)
			}
			var got []string
			for _, f := range res.Findings {
				got = append(got, f.Rule)
			}
			if fmt.Sprint(got) != "[farm-shared-egress-remote-control farm-shared-egress]" {
				t.Fatalf("findings %v", got)
			}
		})
	}
}

// Each member carries the declared network it is on: an office by its
// gateway or egress, a VPN by its egress; none at home.
func TestMemberNetwork(t *testing.T) {
	kvm := Device{Kind: USBSerial, Value: "2e8a:0005:E66038B7", Label: "TinyPilot serial E66038B7"}
	onGW := at("o", "ann", office, "")
	onGW.EgressIP = "198.51.100.200"
	onVPN := at("v", "bo", house, "")
	onVPN.EgressIP = "192.0.2.97"
	home := at("h", "cy", other, "")
	var hs []Host
	for _, h := range []Host{onGW, onVPN, home} {
		h.Facts.Devices = []Device{kvm}
		hs = append(hs, h)
	}
	cs := Group(hs, nets, salt)
	if len(cs) != 1 || len(cs[0].Members) != 3 {
		t.Fatalf("%v", cs)
	}
	got := map[string]string{}
	for _, m := range cs[0].Members {
		got[m.Hostname] = m.Network
	}
	if got["o"] != "hq" || got["v"] != "corp-vpn" || got["h"] != "" {
		t.Fatalf("networks %v", got)
	}
}
