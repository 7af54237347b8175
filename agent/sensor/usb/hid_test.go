package usb

import (
	"reflect"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseReportDescriptor(t *testing.T) {
	kbd := []string{"0001:0006"}
	mouse := []string{"0001:0002"}
	tests := []struct {
		name    string
		desc    []byte
		want    HID
		wantErr bool
	}{
		{"pikvm keyboard", descPiKVMKeyboard, HID{Keyboard: true, Usages: kbd}, false},
		{"pikvm absolute mouse", descPiKVMAbsMouse, HID{AbsolutePointer: true, Usages: mouse}, false},
		{"pikvm relative mouse", descPiKVMRelMouse, HID{RelativePointer: true, Usages: mouse}, false},
		{"tinypilot keyboard", descTinyPilotKeyboard, HID{Keyboard: true, Usages: kbd}, false},
		{"tinypilot absolute mouse (no physical collection)", descTinyPilotAbsMouse, HID{AbsolutePointer: true, Usages: mouse}, false},
		{"jetkvm keyboard", descJetKVMKeyboard, HID{Keyboard: true, Usages: kbd}, false},
		// Report id 2 of the absolute mouse is a relative wheel only: no X/Y.
		{"jetkvm absolute mouse with report ids", descJetKVMAbsMouse, HID{AbsolutePointer: true, Usages: mouse}, false},
		{"jetkvm relative mouse", descJetKVMRelMouse, HID{RelativePointer: true, Usages: mouse}, false},
		{"nanokvm keyboard", descNanoKVMKeyboard, HID{Keyboard: true, Usages: kbd}, false},
		{"nanokvm relative mouse", descNanoKVMRelMouse, HID{RelativePointer: true, Usages: mouse}, false},
		{"nanokvm touchpad (absolute)", descNanoKVMAbsMouse, HID{AbsolutePointer: true, Usages: mouse}, false},
		{"kernel gadget_hid keyboard", descKernelKeyboard, HID{Keyboard: true, Usages: kbd}, false},
		{"hid 1.11 boot mouse", descHIDSpecMouse, HID{RelativePointer: true, Usages: mouse}, false},
		{"vendor page", descVendorHIDPP, HID{Usages: []string{"ff00:0001"}}, false},
		{"consumer control", []byte{0x05, 0x0c, 0x09, 0x01, 0xa1, 0x01, 0x19, 0x00, 0x2a, 0x3c, 0x02, 0x15, 0x00, 0x26, 0x3c, 0x02, 0x75, 0x10, 0x95, 0x01, 0x81, 0x00, 0xc0},
			HID{ConsumerControl: true, Usages: []string{"000c:0001"}}, false},
		{"touch screen (absolute)", []byte{0x05, 0x0d, 0x09, 0x04, 0xa1, 0x01, 0x09, 0x22, 0xa1, 0x02, 0x05, 0x01, 0x09, 0x30, 0x09, 0x31, 0x26, 0xff, 0x7f, 0x75, 0x10, 0x95, 0x02, 0x81, 0x02, 0xc0, 0xc0},
			HID{AbsolutePointer: true, Usages: []string{"000d:0004"}}, false},
		{"touch pad is not an absolute pointer", []byte{0x05, 0x0d, 0x09, 0x05, 0xa1, 0x01, 0x09, 0x22, 0xa1, 0x02, 0x05, 0x01, 0x09, 0x30, 0x09, 0x31, 0x26, 0xff, 0x7f, 0x75, 0x10, 0x95, 0x02, 0x81, 0x02, 0xc0, 0xc0},
			HID{Usages: []string{"000d:0005"}}, false},
		{"joystick axes are not a pointer", []byte{0x05, 0x01, 0x09, 0x04, 0xa1, 0x01, 0x09, 0x30, 0x09, 0x31, 0x26, 0xff, 0x03, 0x75, 0x10, 0x95, 0x02, 0x81, 0x02, 0xc0},
			HID{Usages: []string{"0001:0004"}}, false},
		{"extended usages (4-byte)", []byte{0x0b, 0x02, 0x00, 0x01, 0x00, 0xa1, 0x01, 0x0b, 0x30, 0x00, 0x01, 0x00, 0x0b, 0x31, 0x00, 0x01, 0x00, 0x75, 0x10, 0x95, 0x02, 0x81, 0x02, 0xc0},
			HID{AbsolutePointer: true, Usages: mouse}, false},
		{"push and pop of the usage page", []byte{0x05, 0x01, 0x09, 0x02, 0xa1, 0x01, 0xa4, 0x05, 0x09, 0xb4, 0x09, 0x30, 0x09, 0x31, 0x81, 0x06, 0xc0},
			HID{RelativePointer: true, Usages: mouse}, false},
		{"constant inputs are padding", []byte{0x05, 0x01, 0x09, 0x02, 0xa1, 0x01, 0x09, 0x30, 0x09, 0x31, 0x81, 0x03, 0xc0},
			HID{Usages: mouse}, false},
		{"long item skipped", []byte{0xfe, 0x02, 0x10, 0xaa, 0xbb, 0x05, 0x01, 0x09, 0x06, 0xa1, 0x01, 0xc0}, HID{Keyboard: true, Usages: kbd}, false},
		{"truncated keeps what was read", descPiKVMKeyboard[:20], HID{Keyboard: true, Usages: kbd}, true},
		{"unclosed collection", []byte{0x05, 0x01, 0x09, 0x06, 0xa1, 0x01}, HID{Keyboard: true, Usages: kbd}, true},
		{"empty", nil, HID{}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseReportDescriptor(tc.desc)
			if (err != nil) != tc.wantErr {
				t.Errorf("err = %v, want error %v", err, tc.wantErr)
			}
			if d := cmp.Diff(tc.want, got); d != "" {
				t.Errorf("(-want +got):\n%s", d)
			}
		})
	}
}

func FuzzParseReportDescriptor(f *testing.F) {
	for _, d := range [][]byte{descPiKVMKeyboard, descPiKVMAbsMouse, descPiKVMRelMouse, descTinyPilotKeyboard, descTinyPilotAbsMouse,
		descJetKVMKeyboard, descJetKVMAbsMouse, descJetKVMRelMouse, descNanoKVMKeyboard, descNanoKVMRelMouse, descNanoKVMAbsMouse,
		descKernelKeyboard, descHIDSpecMouse, descVendorHIDPP, {0xfe}, {0xfe, 0xff}, {0xa4, 0xa4, 0xb4, 0xb4, 0xb4}} {
		f.Add(d)
	}
	f.Fuzz(func(t *testing.T, d []byte) {
		h, _ := ParseReportDescriptor(d)
		if len(h.Usages) > 32 {
			t.Fatalf("%d usages", len(h.Usages))
		}
		checkHID(t, hidInfo(h, true))
		// The parse reads items in order and only ever adds: what a part
		// of the descriptor says, the whole says too.
		for _, n := range []int{len(d) / 2, len(d) - 1} {
			if n < 0 {
				continue
			}
			p, _ := ParseReportDescriptor(d[:n])
			if p.Keyboard && !h.Keyboard || p.AbsolutePointer && !h.AbsolutePointer || p.RelativePointer && !h.RelativePointer ||
				p.ConsumerControl && !h.ConsumerControl || len(p.Usages) > len(h.Usages) || !slices.Equal(p.Usages, h.Usages[:len(p.Usages)]) {
				t.Fatalf("the first %d bytes say %+v, all %d say %+v", n, p, len(d), h)
			}
		}
		if again, _ := ParseReportDescriptor(d); !reflect.DeepEqual(again, h) {
			t.Fatalf("parsing twice: %+v, then %+v", h, again)
		}
	})
}

func BenchmarkParseReportDescriptor(b *testing.B) {
	for b.Loop() {
		_, _ = ParseReportDescriptor(descJetKVMAbsMouse)
	}
}
