package fleet

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/farmwatch/farmwatch/fleethash"
	"github.com/farmwatch/farmwatch/observation"
	fwv1 "github.com/farmwatch/farmwatch/proto/farmwatch/v1"
	"github.com/google/go-cmp/cmp"
)

const salt = "fws_test"

func mh(mac string) string { return fleethash.MACHash(salt, mac) }

// place is a house or an office: its egress IP, router and access point.
type place struct{ egress, gw, ap string }

var (
	house  = place{"198.51.100.7", "f4:92:bf:00:00:01", "f4:92:bf:00:00:02"}
	other  = place{"203.0.113.50", "a0:63:91:00:00:01", "a0:63:91:00:00:02"}
	third  = place{"192.0.2.99", "00:1a:2b:00:00:01", ""}
	office = place{"203.0.113.10", "00:25:90:00:00:01", "00:25:90:00:00:02"}
)

var roster = map[string]*fwv1.Person{
	"ann": {Name: "Ann Lee", Country: "US"}, "bo": {Name: "Bo Park", Country: "US"}, "cy": {Name: "Cy Kim", Country: "US"},
	"di": {Name: "Di Ng", Country: "DE"},
}

// at makes a host at a place, with its own MAC and what it sees.
func at(name, person string, p place, own string, sees ...string) Host {
	h := Host{ID: "id-" + name, Hostname: name, EgressIP: p.egress, Person: roster[person]}
	h.Facts.Gateways = []string{mh(p.gw)}
	if p.ap != "" {
		h.Facts.BSSIDs = []string{fleethash.Hash(salt, fleethash.BSSID, p.ap)}
	}
	if own != "" {
		h.Facts.OwnMACs = []string{mh(own)}
	}
	for _, s := range sees {
		h.Facts.Neighbors = append(h.Facts.Neighbors, mh(s))
	}
	return h
}

// only keeps one kind of signal of a host: its egress, gateway, Wi-Fi or
// neighbours.
func only(h Host, kind string) Host {
	if kind != EgressIP {
		h.EgressIP = "127.0.0.1"
	}
	if kind != Gateway {
		h.Facts.Gateways = nil
	}
	if kind != BSSID {
		h.Facts.BSSIDs = nil
	}
	if kind != Neighbor {
		h.Facts.Neighbors = nil
	}
	return h
}

type summary struct {
	Hosts   []string
	Kinds   []string
	People  int32
	LANPpl  int32 // the most people a LAN signal joins
	Egress1 int32 // the most people an egress signal joins
}

func summarise(cs []*fwv1.Cluster) []summary {
	var out []summary
	for _, c := range cs {
		s := summary{People: c.DistinctPeople}
		for _, m := range c.Members {
			s.Hosts = append(s.Hosts, m.Hostname)
		}
		for _, sg := range c.Signals {
			if !slices.Contains(s.Kinds, sg.Kind) {
				s.Kinds = append(s.Kinds, sg.Kind)
			}
			if sg.Lan {
				s.LANPpl = max(s.LANPpl, sg.DistinctPeople)
			}
			if sg.Kind == EgressIP {
				s.Egress1 = max(s.Egress1, sg.DistinctPeople)
			}
		}
		out = append(out, s)
	}
	return out
}

var nets = []Network{
	{Name: "hq", Kind: Office, Egress: mustPrefixes("203.0.113.0/28"), Gateways: []string{office.gw}},
	{Name: "corp-vpn", Kind: VPN, Egress: mustPrefixes("192.0.2.96/29")},
}

func mustPrefixes(s ...string) (out []netip.Prefix) {
	for _, p := range s {
		pp, err := parsePrefix(p)
		if err != nil {
			panic(err)
		}
		out = append(out, pp)
	}
	return out
}

func TestGroup(t *testing.T) {
	farm := []Host{
		at("f1", "ann", house, "02:00:00:00:00:01", "02:00:00:00:00:02"),
		at("f2", "bo", house, "02:00:00:00:00:02", "02:00:00:00:00:01"),
		at("f3", "cy", house, "02:00:00:00:00:03"),
	}
	cases := []struct {
		name  string
		hosts []Host
		want  []summary
	}{
		{"a farm by every signal", farm, []summary{{Hosts: []string{"f1", "f2", "f3"}, Kinds: []string{BSSID, EgressIP, Gateway, Neighbor}, People: 3, LANPpl: 3, Egress1: 3}}},
		{"by the gateway alone", []Host{only(farm[0], Gateway), only(farm[1], Gateway)}, []summary{{Hosts: []string{"f1", "f2"}, Kinds: []string{Gateway}, People: 2, LANPpl: 2}}},
		{"by the access point alone", []Host{only(farm[0], BSSID), only(farm[1], BSSID)}, []summary{{Hosts: []string{"f1", "f2"}, Kinds: []string{BSSID}, People: 2, LANPpl: 2}}},
		{"by a neighbour alone, one way", []Host{only(farm[1], Neighbor), only(farm[2], Neighbor)}, nil},
		{"by a neighbour alone", []Host{only(farm[0], Neighbor), only(farm[1], Neighbor)}, []summary{{Hosts: []string{"f1", "f2"}, Kinds: []string{Neighbor}, People: 2, LANPpl: 2}}},
		{"by the egress alone", []Host{only(farm[0], EgressIP), only(farm[1], EgressIP)}, []summary{{Hosts: []string{"f1", "f2"}, Kinds: []string{EgressIP}, People: 2, Egress1: 2}}},
		{"an office shares nothing", []Host{at("o1", "ann", office, "02:00:00:00:01:01", "02:00:00:00:01:02"), at("o2", "bo", office, "02:00:00:00:01:02", "02:00:00:00:01:01")}, nil},
		{"an office by its gateway, behind another egress", []Host{
			func() Host { h := at("o1", "ann", office, ""); h.EgressIP = "198.51.100.200"; return h }(),
			func() Host { h := at("o2", "bo", office, ""); h.EgressIP = "198.51.100.200"; return h }()}, nil},
		{"a farm behind the corporate VPN still shares its LAN", []Host{
			func() Host { h := at("v1", "ann", house, ""); h.EgressIP = "192.0.2.97"; return h }(),
			func() Host { h := at("v2", "bo", house, ""); h.EgressIP = "192.0.2.98"; return h }()},
			[]summary{{Hosts: []string{"v1", "v2"}, Kinds: []string{BSSID, Gateway}, People: 2, LANPpl: 2}}},
		{"remote workers on the VPN share nothing", []Host{
			func() Host { h := at("r1", "ann", house, ""); h.EgressIP = "192.0.2.97"; return h }(),
			func() Host { h := at("r2", "bo", other, ""); h.EgressIP = "192.0.2.97"; return h }()}, nil},
		{"carrier NAT: one egress, different homes", []Host{
			func() Host { h := at("c1", "ann", house, ""); h.EgressIP = "100.64.0.1"; return h }(),
			func() Host { h := at("c2", "bo", other, ""); h.EgressIP = "100.64.0.1"; return h }()},
			[]summary{{Hosts: []string{"c1", "c2"}, Kinds: []string{EgressIP}, People: 2, Egress1: 2}}},
		{"one person's two laptops", []Host{at("a1", "ann", house, ""), at("a2", "ann", house, "")},
			[]summary{{Hosts: []string{"a1", "a2"}, Kinds: []string{BSSID, EgressIP, Gateway}, People: 1, LANPpl: 1, Egress1: 1}}},
		{"two farms apart, and a loner", []Host{at("x1", "ann", house, ""), at("x2", "bo", house, ""), at("y1", "cy", other, ""), at("y2", "di", other, ""), at("z", "ann", third, "")},
			[]summary{
				{Hosts: []string{"x1", "x2"}, Kinds: []string{BSSID, EgressIP, Gateway}, People: 2, LANPpl: 2, Egress1: 2},
				{Hosts: []string{"y1", "y2"}, Kinds: []string{BSSID, EgressIP, Gateway}, People: 2, LANPpl: 2, Egress1: 2}}},
		{"unrostered hosts count as their own people", []Host{only(at("u1", "", house, ""), Gateway), only(at("u2", "", house, ""), Gateway)},
			[]summary{{Hosts: []string{"u1", "u2"}, Kinds: []string{Gateway}, People: 2, LANPpl: 2}}},
		{"a virtual machine's NAT gateway is no place", []Host{only(at("vm1", "ann", place{gw: "52:54:00:12:35:02"}, ""), Gateway), only(at("vm2", "bo", place{gw: "52:54:00:12:35:02"}, ""), Gateway)}, nil},
		{"a MAC both hosts claim as their own is nobody's", []Host{
			only(at("d1", "ann", house, "0a:00:27:00:00:00", "0a:00:27:00:00:00"), Neighbor), only(at("d2", "bo", other, "0a:00:27:00:00:00", "0a:00:27:00:00:00"), Neighbor)}, nil},
		{"loopback egress is no place", []Host{only(farm[0], "none"), func() Host { h := only(farm[1], "none"); h.EgressIP = "::1"; return h }()}, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := summarise(Group(tc.hosts, nets, salt))
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("clusters (-want +got):\n%s", diff)
			}
		})
	}
}

// One KVM on two hosts joins them; a serial on more hosts than one device
// could visit is a model's default.
func TestGroupDevices(t *testing.T) {
	kvm := Device{Kind: USBSerial, Value: "2e8a:0005:E66038B7", Label: "TinyPilot serial E66038B7"}
	var hs []Host
	for i := range 2 {
		h := at(fmt.Sprintf("k%d", i), []string{"ann", "bo"}[i], []place{house, other}[i], "")
		h.EgressIP, h.Facts = "", Facts{Devices: []Device{kvm}}
		hs = append(hs, h)
	}
	got := Group(hs, nil, salt)
	if len(got) != 1 || len(got[0].Signals) != 1 || got[0].Signals[0].Label != kvm.Label || got[0].Signals[0].Lan {
		t.Fatalf("%v", got)
	}
	for i := range maxDeviceHosts {
		h := hs[0]
		h.ID, h.Hostname = fmt.Sprintf("m%d", i), fmt.Sprintf("m%d", i)
		hs = append(hs, h)
	}
	if got := Group(hs, nil, salt); len(got) != 0 {
		t.Fatalf("a model default grouped %d clusters", len(got))
	}
}

func TestFactsOf(t *testing.T) {
	obs := []*fwv1.Observation{
		{Key: "neighbor/eth0/192.168.1.1", Kind: &fwv1.Observation_Neighbor{Neighbor: &fwv1.Neighbor{Gateway: true, MacHash: "g"}}},
		{Key: "neighbor/eth0/192.168.1.7", Kind: &fwv1.Observation_Neighbor{Neighbor: &fwv1.Neighbor{MacHash: "n"}}},
		{Key: "neighbor/eth0/192.168.1.8", Kind: &fwv1.Observation_Neighbor{Neighbor: &fwv1.Neighbor{}}},
		{Key: "wifi_network/wlan0", Kind: &fwv1.Observation_WifiNetwork{WifiNetwork: &fwv1.WifiNetwork{BssidHash: "b"}}},
		{Key: "net_interface/eth0", Kind: &fwv1.Observation_NetInterface{NetInterface: &fwv1.NetInterface{Type: "physical", MacHash: "o"}}},
		{Key: "net_interface/lo", Kind: &fwv1.Observation_NetInterface{NetInterface: &fwv1.NetInterface{Type: "loopback", MacHash: "l"}}},
		{Key: "usb_device/1-2", Kind: &fwv1.Observation_UsbDevice{UsbDevice: &fwv1.UsbDevice{VendorId: 0x2e8a, ProductId: 5, Serial: "E66038B7", Product: "TinyPilot"}}},
		{Key: "usb_device/1-3", Kind: &fwv1.Observation_UsbDevice{UsbDevice: &fwv1.UsbDevice{VendorId: 0x534d, ProductId: 0x2109, Serial: "0123456789"}}},
		{Key: "usb_device/1-4", Kind: &fwv1.Observation_UsbDevice{UsbDevice: &fwv1.UsbDevice{VendorId: 0x046d, Serial: "ABCD1234"}}},
		{Key: "display/card0-HDMI-A-1", Kind: &fwv1.Observation_Display{Display: &fwv1.Display{Edid: &fwv1.Edid{Manufacturer: "MSI", ProductCode: 0x3fa6, SerialNumber: 20210623}}}},
	}
	findings := []*fwv1.Finding{
		{Rule: "usb-kvm-identity", Severity: fwv1.Severity_SEVERITY_HIGH, Tags: []string{"T1200"}, Evidence: []string{"usb_device/1-2", "usb_device/1-3"}},
		{Rule: "edid-capture-bridge", Severity: fwv1.Severity_SEVERITY_MEDIUM, Tags: []string{"T1219.003"}, Evidence: []string{"display/card0-HDMI-A-1"}},
		{Rule: "usb-linux-gadget", Severity: fwv1.Severity_SEVERITY_LOW, Tags: []string{"T1200"}, Evidence: []string{"usb_device/1-4"}},
		{Rule: "usb-kvm-shape", Severity: fwv1.Severity_SEVERITY_HIGH, Tags: []string{"T1200"}, Evidence: []string{"usb_device/1-4"}, SuppressedBy: "it-kvm"},
	}
	got := FactsOf(obs, findings)
	want := Facts{Gateways: []string{"g"}, BSSIDs: []string{"b"}, Neighbors: []string{"n"}, OwnMACs: []string{"o"}, Devices: []Device{
		{Kind: EDIDSerial, Value: "MSI:3fa6:20210623", Label: "MSI 3fa6 serial 20210623"},
		{Kind: USBSerial, Value: "2e8a:0005:E66038B7", Label: "TinyPilot serial E66038B7"},
	}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("facts (-want +got):\n%s", diff)
	}
	// The facts come from FactKinds alone: the other kinds, even in a
	// finding's evidence, change nothing, and each of FactKinds is read.
	other := append(slices.Clone(obs),
		&fwv1.Observation{Key: "process/7@0", Kind: &fwv1.Observation_Process{Process: &fwv1.Process{Name: "x"}}},
		&fwv1.Observation{Key: "route/default", Kind: &fwv1.Observation_Route{Route: &fwv1.Route{Gateway: "g"}}})
	more := append(slices.Clone(findings), &fwv1.Finding{Rule: "r", Severity: fwv1.Severity_SEVERITY_HIGH, Tags: []string{"T1200"}, Evidence: []string{"process/7@0"}})
	if diff := cmp.Diff(want, FactsOf(other, more)); diff != "" {
		t.Errorf("facts with other kinds (-want +got):\n%s", diff)
	}
	var only []*fwv1.Observation
	for _, o := range other {
		if slices.Contains(FactKinds, observation.KindOf(o)) {
			only = append(only, o)
		}
	}
	if diff := cmp.Diff(want, FactsOf(only, findings)); diff != "" {
		t.Errorf("facts of FactKinds only (-want +got):\n%s", diff)
	}
	for _, k := range FactKinds {
		var without []*fwv1.Observation
		for _, o := range obs {
			if observation.KindOf(o) != k {
				without = append(without, o)
			}
		}
		if cmp.Equal(want, FactsOf(without, findings)) {
			t.Errorf("FactKinds names %s, but the facts are the same without it", k)
		}
	}
}

func TestTracker(t *testing.T) {
	t0 := time.Date(2026, 11, 1, 9, 0, 0, 0, time.UTC)
	mk := func(ids ...string) *fwv1.Cluster {
		c := &fwv1.Cluster{Signals: []*fwv1.Signal{{Kind: Gateway, Value: "g"}}}
		for _, id := range ids {
			c.Members = append(c.Members, &fwv1.ClusterMember{HostId: id})
		}
		return c
	}
	tr := NewTracker(nil)
	a := mk("h1", "h2")
	tr.Assign(t0, []*fwv1.Cluster{a})
	if !strings.HasPrefix(a.Id, "c-") || !a.FirstSeen.AsTime().Equal(t0) || tr.Settle([]*fwv1.Cluster{a}) != nil {
		t.Fatalf("new cluster %v", a)
	}
	// It grows and gains a signal: same id, first seen kept; the new
	// signal is new.
	b, other := mk("h1", "h2", "h3"), mk("h8", "h9")
	b.Signals = append(b.Signals, &fwv1.Signal{Kind: BSSID, Value: "w"})
	tr.Assign(t0.Add(time.Hour), []*fwv1.Cluster{other, b})
	if b.Id != a.Id || !b.FirstSeen.AsTime().Equal(t0) || b.SharedSeconds != 3600 || other.Id == a.Id ||
		!b.Signals[0].FirstSeen.AsTime().Equal(t0) || !b.Signals[1].FirstSeen.AsTime().Equal(t0.Add(time.Hour)) {
		t.Fatalf("grown: %v; other %v", b, other)
	}
	if r := tr.Settle([]*fwv1.Cluster{b}); r != nil {
		t.Fatalf("resolved %v", r)
	}
	// Gone: resolved.
	tr.Assign(t0.Add(2*time.Hour), nil)
	if r := tr.Settle(nil); len(r) != 1 || r[0].Id != a.Id || r[0].State != "resolved" {
		t.Fatalf("resolved %v", r)
	}
}
