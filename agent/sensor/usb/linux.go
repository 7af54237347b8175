package usb

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strconv"
	"strings"

	"github.com/farmwatch/farmwatch/agent/host"
	fwv1 "github.com/farmwatch/farmwatch/proto/farmwatch/v1"
)

// sysUSB is where the kernel lists every USB device and interface.
const sysUSB = "/sys/bus/usb/devices"

// readLinux reads the USB devices from sysfs; the package doc says what.
// A device whose directory cannot be read is skipped with an error; the
// others are returned.
func readLinux(ctx context.Context, h *host.Host) ([]*fwv1.UsbDevice, error) {
	ents, err := h.ReadDir(sysUSB)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil // no USB (a VM or container without it)
	}
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", sysUSB, err)
	}
	var (
		out  []*fwv1.UsbDevice
		errs []error
	)
	for _, e := range ents {
		if strings.IndexByte(e.Name, ':') >= 0 {
			continue // an interface: read below its device
		}
		if ctx.Err() != nil {
			return out, ctx.Err()
		}
		d, err := readLinuxDevice(h, e.Name)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		out = append(out, d)
	}
	return out, errors.Join(errs...)
}

// readLinuxDevice reads one device directory, /sys/bus/usb/devices/NAME.
// The entry is a link to the device's directory under /sys/devices; it is
// followed once and the files are read at the link's target, so that each
// read does not resolve the link again.
func readLinuxDevice(h *host.Host, name string) (*fwv1.UsbDevice, error) {
	dir := sysUSB + "/" + name
	if t, err := h.Readlink(dir); err == nil {
		if !path.IsAbs(t) {
			t = path.Join(sysUSB, t)
		}
		dir = path.Clean(t)
	}
	ents, err := h.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("read usb device %s: %w", name, err)
	}
	have := make(map[string]bool, len(ents))
	for _, e := range ents {
		have[e.Name] = true
	}
	attr := func(a string) string {
		if !have[a] {
			return ""
		}
		return readAttr(h, dir+"/"+a)
	}
	d := &fwv1.UsbDevice{
		VendorId:     uint32(parseHex(attr("idVendor"))),
		ProductId:    uint32(parseHex(attr("idProduct"))),
		Manufacturer: attr("manufacturer"),
		Product:      attr("product"),
		Serial:       attr("serial"),
		DeviceClass:  int32(parseHex(attr("bDeviceClass"))),
		BusPath:      name,
		Speed:        attr("speed"),
	}
	if c := attr("configuration"); c != "" {
		d.Configurations = []string{c}
	}
	prefix := name + ":"
	if bus, ok := strings.CutPrefix(name, "usb"); ok { // a root hub's interfaces are "<bus>-0:1.0"
		prefix = bus + "-0:"
	}
	for _, e := range ents {
		if strings.HasPrefix(e.Name, prefix) {
			d.Interfaces = append(d.Interfaces, readLinuxInterface(h, dir+"/"+e.Name))
		}
	}
	return d, nil
}

// readLinuxInterface reads one interface directory and what hangs below it.
func readLinuxInterface(h *host.Host, dir string) *fwv1.UsbInterface {
	it := &fwv1.UsbInterface{
		Number:   interfaceNumber(h, dir),
		Class:    int32(parseHex(readAttr(h, dir+"/bInterfaceClass"))),
		Subclass: int32(parseHex(readAttr(h, dir+"/bInterfaceSubClass"))),
		Protocol: int32(parseHex(readAttr(h, dir+"/bInterfaceProtocol"))),
	}
	if t, err := h.Readlink(dir + "/driver"); err == nil {
		it.Driver = path.Base(t)
	}
	ents, _ := h.ReadDir(dir)
	switch it.Class {
	case 0x03: // HID
		for _, e := range ents {
			if !isHIDDevice(e.Name) {
				continue
			}
			b, err := h.ReadFile(dir + "/" + e.Name + "/report_descriptor")
			if err != nil {
				continue
			}
			p, _ := ParseReportDescriptor(b) // what was understood counts
			it.Hid = mergeHID(it.Hid, hidInfo(p, true))
		}
		if it.Hid == nil {
			it.Hid = bootHID(it.Protocol)
		}
	case 0x08: // mass storage
		readLinuxSCSI(h, dir, ents, it)
	}
	for _, e := range ents {
		if e.Name != "net" {
			continue
		}
		nets, _ := h.ReadDir(dir + "/net")
		for _, n := range nets {
			if mac := readAttr(h, dir+"/net/"+n.Name+"/address"); mac != "" {
				it.Mac = mac
				break
			}
		}
	}
	return it
}

// interfaceNumber is bInterfaceNumber, which the kernel puts in the
// interface's name "<bus>-<port path>:<config>.<number>" (in decimal); the
// attribute is read only when the name does not hold it.
func interfaceNumber(h *host.Host, dir string) int32 {
	name := path.Base(dir)
	if i := strings.LastIndexByte(name, '.'); i >= 0 && strings.IndexByte(name, ':') >= 0 {
		if n, err := strconv.ParseUint(name[i+1:], 10, 8); err == nil {
			return int32(n)
		}
	}
	return int32(parseHex(readAttr(h, dir+"/bInterfaceNumber")))
}

// readLinuxSCSI reads the first LUN of a mass-storage interface:
// host*/target*/<h:c:t:l>/{vendor,model,rev,type} and block/*/removable.
func readLinuxSCSI(h *host.Host, dir string, ents []host.Entry, it *fwv1.UsbInterface) {
	for _, hst := range ents {
		if !strings.HasPrefix(hst.Name, "host") {
			continue
		}
		hdir := dir + "/" + hst.Name
		tents, _ := h.ReadDir(hdir)
		for _, t := range tents {
			if !strings.HasPrefix(t.Name, "target") {
				continue
			}
			tdir := hdir + "/" + t.Name
			lents, _ := h.ReadDir(tdir)
			for _, l := range lents {
				if strings.Count(l.Name, ":") != 3 {
					continue
				}
				ldir := tdir + "/" + l.Name
				it.ScsiVendor = readAttr(h, ldir+"/vendor")
				it.ScsiModel = readAttr(h, ldir+"/model")
				it.ScsiRevision = readAttr(h, ldir+"/rev")
				it.Cdrom = readAttr(h, ldir+"/type") == "5"
				if blocks, err := h.ReadDir(ldir + "/block"); err == nil {
					for _, b := range blocks {
						if readAttr(h, ldir+"/block/"+b.Name+"/removable") == "1" {
							it.Removable = true
						}
					}
				}
				return
			}
		}
	}
}

// isHIDDevice reports whether a name is a HID device directory,
// "BBBB:VVVV:PPPP.NNNN" (bus, vendor, product, instance in hex).
func isHIDDevice(n string) bool {
	if len(n) < 19 || n[4] != ':' || n[9] != ':' || n[14] != '.' {
		return false
	}
	for i := 0; i < len(n); i++ {
		if i == 4 || i == 9 || i == 14 {
			continue
		}
		if !isHex(n[i]) {
			return false
		}
	}
	return true
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

// mergeHID ORs two summaries of one interface (an interface with more than
// one HID device under it).
func mergeHID(a, b *fwv1.HidInfo) *fwv1.HidInfo {
	if a == nil {
		return b
	}
	a.Keyboard = a.Keyboard || b.Keyboard
	a.AbsolutePointer = a.AbsolutePointer || b.AbsolutePointer
	a.RelativePointer = a.RelativePointer || b.RelativePointer
	a.ConsumerControl = a.ConsumerControl || b.ConsumerControl
	a.DescriptorRead = a.DescriptorRead || b.DescriptorRead
	for _, u := range b.Usages {
		if !slices.Contains(a.Usages, u) {
			a.Usages = append(a.Usages, u)
		}
	}
	return a
}

// readAttr reads a sysfs attribute as one trimmed line, "" when it is
// missing or unreadable (a device without a serial has no serial file).
func readAttr(h *host.Host, p string) string {
	b, err := h.ReadFile(p)
	if err != nil {
		return ""
	}
	return cleanAttr(b)
}

// cleanAttr is a sysfs value as a string: up to the first newline, without
// surrounding blanks, at most 256 bytes, invalid UTF-8 replaced.
func cleanAttr(b []byte) string {
	if i := strings.IndexByte(string(b), '\n'); i >= 0 {
		b = b[:i]
	}
	if len(b) > 256 {
		b = b[:256]
	}
	return strings.ToValidUTF8(strings.TrimSpace(string(b)), "\uFFFD")
}

// parseHex reads a sysfs hex value ("1d6b", "0x1d6b", "03"); 0 when it is
// not one.
func parseHex(s string) uint64 {
	s = strings.TrimPrefix(strings.TrimPrefix(strings.TrimSpace(s), "0x"), "0X")
	v, err := strconv.ParseUint(s, 16, 32)
	if err != nil {
		return 0
	}
	return v
}
