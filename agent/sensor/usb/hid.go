package usb

import (
	"fmt"
	"slices"
)

// HID is what a HID report descriptor says a device can do.
type HID struct {
	Keyboard        bool     // an input field of the Keyboard/Keypad page, or a Keyboard collection
	AbsolutePointer bool     // absolute X/Y inputs in a mouse, pointer or digitizer collection
	RelativePointer bool     // relative X/Y inputs in a mouse or pointer collection
	ConsumerControl bool     // a Consumer Control application collection
	Usages          []string // the application collections, "PAGE:USAGE" in hex
}

// HID usage pages and usages the parser looks at (HID Usage Tables 1.5).
const (
	pageGenericDesktop = 0x01
	pageKeyboard       = 0x07
	pageDigitizer      = 0x0d
	pageConsumer       = 0x0c

	usagePointer  = 0x01
	usageMouse    = 0x02
	usageJoystick = 0x04
	usageGamepad  = 0x05
	usageKeyboard = 0x06
	usageKeypad   = 0x07
	usageX        = 0x30
	usageY        = 0x31

	usageConsumerControl = 0x01
)

// maxDescriptor bounds the report descriptor the parser reads: the USB
// wDescriptorLength is 16 bits, and the kernel caps it at 4 KiB
// (HID_MAX_DESCRIPTOR_SIZE).
const maxDescriptor = 1 << 16

// ParseReportDescriptor reads a HID report descriptor (HID 1.11, section
// 6.2.2) and says whether it describes a keyboard, an absolute or relative
// pointer, or consumer controls. It follows the global state (with Push and
// Pop), the local usages (single, extended 32-bit, and ranges) and the
// collection nesting; long items are skipped. A truncated or malformed
// descriptor yields what was understood before the fault, and an error.
func ParseReportDescriptor(d []byte) (HID, error) {
	var (
		out      HID
		page     uint32   // global Usage Page
		stack    []uint32 // Push/Pop of the usage page
		usages   []uint32 // local usages, page<<16|id
		umin     uint32
		haveMin  bool
		colls    []uint32 // enclosing collections' usages, outermost first
		appUsage uint32   // the usage of the enclosing application collection
		err      error
	)
	if len(d) > maxDescriptor {
		d, err = d[:maxDescriptor], fmt.Errorf("report descriptor longer than %d bytes", maxDescriptor)
	}
	full := func(u uint32, size int) uint32 {
		if size == 4 {
			return u // extended usage: the page is in the high 16 bits
		}
		return page<<16 | u
	}
	resetLocal := func() { usages, haveMin = usages[:0], false }
	for i := 0; i < len(d); {
		b := d[i]
		if b == 0xfe { // long item: bDataSize, bLongItemTag, data
			if i+1 >= len(d) {
				return out, joinErr(err, fmt.Errorf("long item at %d: truncated", i))
			}
			i += 3 + int(d[i+1])
			continue
		}
		size := int(b & 0x03)
		if size == 3 {
			size = 4
		}
		if i+1+size > len(d) {
			return out, joinErr(err, fmt.Errorf("item 0x%02x at %d: truncated", b, i))
		}
		var v uint32
		for k := 0; k < size; k++ {
			v |= uint32(d[i+1+k]) << (8 * k)
		}
		i += 1 + size
		typ, tag := (b>>2)&0x03, b>>4
		switch typ {
		case 0: // main
			switch tag {
			case 0x8, 0x9: // Input, Output
				if tag == 0x8 && v&0x01 == 0 { // a data (not constant) input
					out.input(usages, v&0x04 != 0, appUsage, colls)
				}
				resetLocal()
			case 0xa: // Collection
				u := uint32(0)
				if len(usages) > 0 {
					u = usages[0]
				}
				if v&0xff == 0x01 || len(colls) == 0 { // application, or a top-level one
					appUsage = u
					out.application(u)
				}
				colls = append(colls, u)
				resetLocal()
			case 0xc: // End Collection
				if len(colls) > 0 {
					colls = colls[:len(colls)-1]
				}
				if len(colls) == 0 {
					appUsage = 0
				}
				resetLocal()
			default: // Feature and reserved tags
				resetLocal()
			}
		case 1: // global
			switch tag {
			case 0x0: // Usage Page
				page = v & 0xffff
			case 0xa: // Push
				if len(stack) < 64 {
					stack = append(stack, page)
				}
			case 0xb: // Pop
				if n := len(stack); n > 0 {
					page, stack = stack[n-1], stack[:n-1]
				}
			}
		case 2: // local
			switch tag {
			case 0x0: // Usage
				if len(usages) < 256 {
					usages = append(usages, full(v, size))
				}
			case 0x1: // Usage Minimum
				umin, haveMin = full(v, size), true
			case 0x2: // Usage Maximum
				if haveMin {
					umax := full(v, size)
					// A range adds its first and last usage and the X/Y
					// usages inside it: enough to classify, bounded in cost.
					for _, u := range []uint32{umin, umax, pageGenericDesktop<<16 | usageX, pageGenericDesktop<<16 | usageY} {
						if u >= umin && u <= umax && len(usages) < 256 {
							usages = append(usages, u)
						}
					}
					haveMin = false
				}
			}
		}
	}
	if len(colls) > 0 {
		err = joinErr(err, fmt.Errorf("%d collections not ended", len(colls)))
	}
	return out, err
}

// application records a top-level or application collection.
func (h *HID) application(u uint32) {
	s := fmt.Sprintf("%04x:%04x", u>>16, u&0xffff)
	if !slices.Contains(h.Usages, s) && len(h.Usages) < 32 {
		h.Usages = append(h.Usages, s)
	}
	switch u {
	case pageGenericDesktop<<16 | usageKeyboard, pageGenericDesktop<<16 | usageKeypad:
		h.Keyboard = true
	case pageConsumer<<16 | usageConsumerControl:
		h.ConsumerControl = true
	}
}

// input classifies one data Input item by its usages.
func (h *HID) input(usages []uint32, relative bool, app uint32, colls []uint32) {
	// A digitizer counts as a pointer when it is a pen, a touch screen or a
	// plain digitizer, which point where they touch; a touch pad (0x0d:0x05)
	// reports absolute contacts but moves the cursor relatively.
	pointerish := app == pageGenericDesktop<<16|usageMouse || app == pageGenericDesktop<<16|usagePointer ||
		app == pageDigitizer<<16|0x01 || app == pageDigitizer<<16|0x02 || app == pageDigitizer<<16|0x04
	if app == pageGenericDesktop<<16|usageJoystick || app == pageGenericDesktop<<16|usageGamepad || app == pageDigitizer<<16|0x05 {
		pointerish = false
	} else {
		for _, c := range colls {
			if c == pageGenericDesktop<<16|usagePointer || c == pageGenericDesktop<<16|usageMouse {
				pointerish = true
			}
		}
	}
	for _, u := range usages {
		switch {
		case u>>16 == pageKeyboard:
			h.Keyboard = true
		case pointerish && (u == pageGenericDesktop<<16|usageX || u == pageGenericDesktop<<16|usageY):
			if relative {
				h.RelativePointer = true
			} else {
				h.AbsolutePointer = true
			}
		}
	}
}

func joinErr(a, b error) error {
	if a == nil {
		return b
	}
	return fmt.Errorf("%w; %w", a, b)
}
