package usb

import (
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strings"
)

// This file builds Linux sysfs USB trees in the kernel's own layout, for the
// tests, the benchmark and the test hosts of testdata/hosts:
//
//	/sys/devices/pci0000:00/0000:00:14.0/usb1/                 root hub "usb1"
//	/sys/devices/pci0000:00/0000:00:14.0/usb1/1-2/             device "1-2"
//	/sys/devices/.../usb1/1-2/1-2:1.0/                         its interface 0
//	/sys/devices/.../1-2:1.0/0003:1D6B:0104.0001/report_descriptor
//	/sys/devices/.../1-2:1.3/host0/target0:0:0/0:0:0:0/{vendor,model,rev,type}
//	/sys/devices/.../1-2:1.3/host0/target0:0:0/0:0:0:0/block/sr0/removable
//	/sys/devices/.../1-2:1.5/net/usb0/address
//	/sys/bus/usb/devices/1-2 -> ../../../devices/pci0000:00/0000:00:14.0/usb1/1-2
//	/sys/devices/.../1-2:1.0/driver -> ../../../../../../bus/usb/drivers/usbhid

// fakeDev is one USB device of a built tree.
type fakeDev struct {
	name                  string // "usb1", "1-2", "1-2.3"
	vid, pid              uint16
	class                 byte
	mfr, product, serial  string // "" leaves the file out, as the kernel does
	config                string
	speed                 string
	intfs                 []fakeIntf
	controller            string // root hubs: the PCI function, "0000:00:14.0"
	bcdDevice, maxPowerMA string
}

// fakeIntf is one interface of a fakeDev.
type fakeIntf struct {
	class, sub, proto byte
	driver            string
	descs             [][]byte // HID report descriptors (one HID device each)
	scsi              *fakeLUN
	mac               string
}

// fakeLUN is a SCSI LUN below a mass-storage interface.
type fakeLUN struct {
	vendor, model, rev string // the inquiry fields, padded as sysfs shows them
	typ                int    // 0 disk, 5 CD-ROM
	removable          bool
	block              string // "sr0", "sdb"
}

// treeWriter puts files and symbolic links of a host tree somewhere.
type treeWriter interface {
	file(p string, b []byte) error
	link(p, target string) error
}

// dirWriter writes a --root tree: files and real relative symbolic links.
type dirWriter string

func (d dirWriter) file(p string, b []byte) error {
	fp := filepath.Join(string(d), filepath.FromSlash(p))
	if err := os.MkdirAll(filepath.Dir(fp), 0o755); err != nil {
		return err
	}
	return os.WriteFile(fp, b, 0o644)
}

func (d dirWriter) link(p, target string) error {
	fp := filepath.Join(string(d), filepath.FromSlash(p))
	if err := os.MkdirAll(filepath.Dir(fp), 0o755); err != nil {
		return err
	}
	return os.Symlink(target, fp)
}

// packWriter writes a source directory for `farmwatch-agent snapshot
// --pack`: root/<path> files and link/<path> files holding the target.
type packWriter string

func (d packWriter) file(p string, b []byte) error { return dirWriter(string(d)+"/root").file(p, b) }
func (d packWriter) link(p, target string) error {
	return dirWriter(string(d)+"/link").file(p, []byte(target))
}

// pciBase is where the built tree's host controllers sit.
const pciBase = "/sys/devices/pci0000:00"

// devDir is a device's directory under /sys/devices: a root hub "usbN"
// under its controller, every other device under its parent hub.
func devDir(controller map[string]string, name string) string {
	if strings.HasPrefix(name, "usb") {
		return pciBase + "/" + controller[name] + "/" + name
	}
	bus, port, _ := strings.Cut(name, "-")
	parent := "usb" + bus
	if i := strings.LastIndexByte(port, '.'); i >= 0 {
		parent = bus + "-" + port[:i]
	}
	return devDir(controller, parent) + "/" + name
}

// writeTree writes the devices into w.
func writeTree(w treeWriter, devs []fakeDev) error {
	ctl := map[string]string{}
	for _, d := range devs {
		if strings.HasPrefix(d.name, "usb") {
			ctl[d.name] = d.controller
			if ctl[d.name] == "" {
				ctl[d.name] = "0000:00:14.0"
			}
		}
	}
	hidN := 0
	scsiN := 0
	for _, d := range devs {
		dir := devDir(ctl, d.name)
		rel, _ := filepathRel("/sys/bus/usb/devices", dir)
		if err := w.link("/sys/bus/usb/devices/"+d.name, rel); err != nil {
			return err
		}
		attrs := map[string]string{
			"idVendor":       fmt.Sprintf("%04x", d.vid),
			"idProduct":      fmt.Sprintf("%04x", d.pid),
			"bDeviceClass":   fmt.Sprintf("%02x", d.class),
			"speed":          d.speed,
			"manufacturer":   d.mfr,
			"product":        d.product,
			"serial":         d.serial,
			"configuration":  d.config,
			"bNumInterfaces": fmt.Sprintf("%2d", len(d.intfs)),
			"bcdDevice":      d.bcdDevice,
			"bMaxPower":      d.maxPowerMA,
		}
		for k, v := range attrs {
			if v == "" && k != "configuration" {
				continue
			}
			if err := w.file(dir+"/"+k, []byte(v+"\n")); err != nil {
				return err
			}
		}
		prefix := d.name
		if bus, ok := strings.CutPrefix(d.name, "usb"); ok {
			prefix = bus + "-0"
		}
		for n, it := range d.intfs {
			iname := fmt.Sprintf("%s:1.%d", prefix, n)
			idir := dir + "/" + iname
			rel, _ := filepathRel("/sys/bus/usb/devices", idir)
			if err := w.link("/sys/bus/usb/devices/"+iname, rel); err != nil {
				return err
			}
			for k, v := range map[string]string{
				"bInterfaceNumber":   fmt.Sprintf("%02x", n),
				"bInterfaceClass":    fmt.Sprintf("%02x", it.class),
				"bInterfaceSubClass": fmt.Sprintf("%02x", it.sub),
				"bInterfaceProtocol": fmt.Sprintf("%02x", it.proto),
				"bAlternateSetting":  " 0",
			} {
				if err := w.file(idir+"/"+k, []byte(v+"\n")); err != nil {
					return err
				}
			}
			if it.driver != "" {
				t, _ := filepathRel(idir, "/sys/bus/usb/drivers/"+it.driver)
				if err := w.link(idir+"/driver", t); err != nil {
					return err
				}
			}
			for _, desc := range it.descs {
				hidN++
				hd := fmt.Sprintf("%s/%04X:%04X:%04X.%04X", idir, 3, d.vid, d.pid, hidN)
				if err := w.file(hd+"/report_descriptor", desc); err != nil {
					return err
				}
			}
			if l := it.scsi; l != nil {
				ld := fmt.Sprintf("%s/host%d/target%d:0:0/%d:0:0:0", idir, scsiN, scsiN, scsiN)
				scsiN++
				rem := "0"
				if l.removable {
					rem = "1"
				}
				for k, v := range map[string]string{"vendor": l.vendor, "model": l.model, "rev": l.rev, "type": fmt.Sprint(l.typ)} {
					if err := w.file(ld+"/"+k, []byte(v+"\n")); err != nil {
						return err
					}
				}
				if l.block != "" {
					if err := w.file(ld+"/block/"+l.block+"/removable", []byte(rem+"\n")); err != nil {
						return err
					}
				}
			}
			if it.mac != "" {
				if err := w.file(idir+"/net/usb0/address", []byte(it.mac+"\n")); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// filepathRel is path.Rel for slash paths: the relative link from the
// directory holding a link to its target.
func filepathRel(from, to string) (string, error) {
	f := strings.Split(strings.Trim(path.Clean(from), "/"), "/")
	t := strings.Split(strings.Trim(path.Clean(to), "/"), "/")
	i := 0
	for i < len(f) && i < len(t) && f[i] == t[i] {
		i++
	}
	var parts []string
	for range f[i:] {
		parts = append(parts, "..")
	}
	parts = append(parts, t[i:]...)
	return strings.Join(parts, "/"), nil
}
