package usb

import (
	"regexp"
	"sort"
	"testing"

	fwv1 "github.com/farmwatch/farmwatch/proto/farmwatch/v1"
	"google.golang.org/protobuf/proto"
)

var (
	usageForm = regexp.MustCompile(`^[0-9a-f]{4}:[0-9a-f]{4}$`)
)

// checkDevices fails unless the devices are sorted by a bus path that is
// there and unique, their interfaces sorted by number, their HID usages in
// their form and MACs lower case with colons, and each device makes an observation fit to send
// (proto.Marshal checks that every string is valid UTF-8).
func checkDevices(t *testing.T, ds []*fwv1.UsbDevice) {
	t.Helper()
	if !sort.SliceIsSorted(ds, func(i, j int) bool { return ds[i].BusPath < ds[j].BusPath }) {
		t.Fatal("devices not sorted by bus path")
	}
	seen := map[string]bool{}
	for _, d := range ds {
		if d.BusPath == "" || seen[d.BusPath] {
			t.Fatalf("device %v: no bus path, or one seen before", d)
		}
		seen[d.BusPath] = true
		if !sort.SliceIsSorted(d.Interfaces, func(i, j int) bool { return d.Interfaces[i].Number < d.Interfaces[j].Number }) {
			t.Fatalf("device %v: interfaces not sorted", d)
		}
		for _, it := range d.Interfaces {
			if it.Mac != toLowerColon(it.Mac) {
				t.Fatalf("interface %v: MAC", it)
			}
			checkHID(t, it.Hid)
		}
		o := &fwv1.Observation{Key: Key(d), Kind: &fwv1.Observation_UsbDevice{UsbDevice: d}}
		if _, err := proto.Marshal(o); err != nil || o.Key == "usb/" {
			t.Fatalf("observation %v: %v", o, err)
		}
	}
}

// toLowerColon is a MAC as pnpInterface writes what Windows gives.
func toLowerColon(s string) string {
	b := []byte(s)
	for i, c := range b {
		switch {
		case c == '-':
			b[i] = ':'
		case 'A' <= c && c <= 'Z':
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

// checkHID fails unless a HID summary's usages are "PAGE:USAGE" in hex,
// each once, and a keyboard or consumer control by its collection is among
// them.
func checkHID(t *testing.T, h *fwv1.HidInfo) {
	t.Helper()
	if h == nil {
		return
	}
	seen := map[string]bool{}
	for _, u := range h.Usages {
		if !usageForm.MatchString(u) || seen[u] {
			t.Fatalf("HID %v: usage %q malformed or twice", h, u)
		}
		seen[u] = true
	}
	if h.ConsumerControl && !seen["000c:0001"] && len(h.Usages) < 32 {
		t.Fatalf("HID %v: consumer control without its collection", h)
	}
}
