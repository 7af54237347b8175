package fleet

import (
	"fmt"
	"slices"
	"strings"

	fwv1 "github.com/farmwatch/farmwatch/proto/farmwatch/v1"
)

// Facts are what a host's current observations and findings say of where
// it is and what is attached to it: the salted hashes its agent sent,
// and the KVM and capture devices its own rules flagged.
type Facts struct {
	Gateways  []string // MAC hashes of its default gateways
	BSSIDs    []string // hashes of the Wi-Fi access points it is on
	Neighbors []string // MAC hashes of the other hosts in its neighbour table
	OwnMACs   []string // MAC hashes of its own interfaces
	Devices   []Device
}

// Device is a KVM or capture device that a host carries.
type Device struct {
	Kind  string // USBSerial or EDIDSerial
	Value string // "VID:PID:serial", "MFG:product:serial"
	Label string
}

// FactKinds are the observation kinds (observation.KindOf) FactsOf reads:
// a host's facts come from these alone, so a store need only read these
// (a handful of a host's hundreds of observations).
var FactKinds = []string{"neighbor", "wifi_network", "net_interface", "usb_device", "display"}

// MaxFacts bounds each list of a host's facts.
const MaxFacts = 1024

// FactsOf reads the facts of a host from its observations and its own
// open findings. A device counts when a finding of medium severity or
// worse, tagged T1200 (hardware additions) or T1219.003 (remote access
// hardware), names it as evidence, and it carries a serial that is not a
// placeholder.
func FactsOf(obs []*fwv1.Observation, findings []*fwv1.Finding) Facts {
	var f Facts
	byKey := map[string]*fwv1.Observation{}
	for _, o := range obs {
		byKey[o.GetKey()] = o
		switch {
		case o.GetNeighbor() != nil:
			n := o.GetNeighbor()
			if n.GetMacHash() == "" {
				continue
			}
			if n.GetGateway() {
				f.Gateways = addSorted(f.Gateways, n.GetMacHash())
			} else {
				f.Neighbors = addSorted(f.Neighbors, n.GetMacHash())
			}
		case o.GetWifiNetwork() != nil:
			f.BSSIDs = addSorted(f.BSSIDs, o.GetWifiNetwork().GetBssidHash())
		case o.GetNetInterface() != nil:
			i := o.GetNetInterface()
			if i.GetType() != "loopback" {
				f.OwnMACs = addSorted(f.OwnMACs, i.GetMacHash())
			}
		}
	}
	seen := map[string]bool{}
	for _, fd := range findings {
		if fd.GetSeverity() < fwv1.Severity_SEVERITY_MEDIUM || fd.GetSuppressedBy() != "" ||
			!slices.ContainsFunc(fd.GetTags(), func(t string) bool { return t == "T1200" || t == "T1219.003" }) {
			continue
		}
		for _, k := range fd.GetEvidence() {
			o := byKey[k]
			if o == nil || seen[k] {
				continue
			}
			if d, ok := deviceOf(o); ok {
				seen[k] = true
				f.Devices = append(f.Devices, d)
			}
		}
	}
	slices.SortFunc(f.Devices, func(a, b Device) int { return strings.Compare(a.Kind+a.Value, b.Kind+b.Value) })
	for _, l := range []*[]string{&f.Gateways, &f.BSSIDs, &f.Neighbors, &f.OwnMACs} {
		if len(*l) > MaxFacts {
			*l = (*l)[:MaxFacts]
		}
	}
	if len(f.Devices) > MaxFacts {
		f.Devices = f.Devices[:MaxFacts]
	}
	return f
}

// deviceOf is the identity of a USB device or a display's EDID, when it
// has a serial that can tell one unit from another.
func deviceOf(o *fwv1.Observation) (Device, bool) {
	if u := o.GetUsbDevice(); u != nil {
		s := strings.TrimSpace(u.GetSerial())
		if placeholder(s) {
			return Device{}, false
		}
		name := strings.TrimSpace(u.GetProduct())
		if name == "" {
			name = fmt.Sprintf("USB %04x:%04x", u.GetVendorId(), u.GetProductId())
		}
		return Device{Kind: USBSerial, Value: fmt.Sprintf("%04x:%04x:%s", u.GetVendorId(), u.GetProductId(), s), Label: name + " serial " + s}, true
	}
	if e := o.GetDisplay().GetEdid(); e != nil {
		s := strings.TrimSpace(e.GetMonitorSerial())
		if s == "" && e.GetSerialNumber() != 0 {
			s = fmt.Sprint(e.GetSerialNumber())
		}
		if placeholder(s) {
			return Device{}, false
		}
		name := strings.TrimSpace(e.GetMonitorName())
		if name == "" {
			name = fmt.Sprintf("%s %04x", e.GetManufacturer(), e.GetProductCode())
		}
		return Device{Kind: EDIDSerial, Value: fmt.Sprintf("%s:%04x:%s", e.GetManufacturer(), e.GetProductCode(), s), Label: name + " serial " + s}, true
	}
	return Device{}, false
}

// placeholder says whether a serial cannot tell units apart: empty, short,
// one character repeated, or a run of counting digits ("0123456789").
func placeholder(s string) bool {
	if len(s) < 4 {
		return true
	}
	if strings.Count(s, s[:1]) == len(s) {
		return true
	}
	for _, run := range []string{"0123456789", "123456789", "1234567890"} {
		if strings.HasPrefix(run, s) || strings.HasPrefix(s, run) {
			return true
		}
	}
	return false
}
