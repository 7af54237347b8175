package usb

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/farmwatch/farmwatch/agent/host"
)

// fortyDevices is a busy host: two root hubs, a camera and Bluetooth, two
// hubs, and 34 devices behind them (KVM gadgets with four interfaces,
// keyboard receivers, mice, flash drives, NICs): 40 devices, 71 interfaces.
func fortyDevices() []fakeDev {
	devs := laptopHubs()
	devs = append(devs,
		fakeDev{name: "1-1", vid: 0x05e3, pid: 0x0610, class: 9, speed: "480", intfs: []fakeIntf{{class: 9, driver: "hub"}}},
		fakeDev{name: "1-2", vid: 0x05e3, pid: 0x0610, class: 9, speed: "480", intfs: []fakeIntf{{class: 9, driver: "hub"}}})
	for i := 0; len(devs) < 40; i++ {
		name := fmt.Sprintf("1-%d.%d", 1+i%2, 1+i/2)
		switch i % 4 {
		case 0:
			d := kvmdGadget(name, 0x1d6b, 0x0104, "PiKVM", "PiKVM Composite Device", "", "PiKVM")
			devs = append(devs, d)
		case 1:
			devs = append(devs, fakeDev{name: name, vid: 0x046d, pid: 0xc52b, mfr: "Logitech", product: "USB Receiver", speed: "12",
				intfs: []fakeIntf{
					{class: 3, sub: 1, proto: 1, driver: "usbhid", descs: [][]byte{descKernelKeyboard}},
					{class: 3, sub: 1, proto: 2, driver: "usbhid", descs: [][]byte{descHIDSpecMouse}},
					{class: 3, driver: "usbhid", descs: [][]byte{descVendorHIDPP}},
				}})
		case 2:
			devs = append(devs, fakeDev{name: name, vid: 0x0781, pid: 0x5583, mfr: "USB", product: "SanDisk 3.2Gen1", serial: "4C530001230824117322", speed: "5000",
				intfs: []fakeIntf{{class: 8, sub: 6, proto: 0x50, driver: "usb-storage", scsi: &fakeLUN{vendor: " USB    ", model: " SanDisk 3.2Gen1", rev: "1.00", block: "sdb", removable: true}}}})
		case 3:
			devs = append(devs, fakeDev{name: name, vid: 0x0bda, pid: 0x8153, mfr: "Realtek", product: "USB 10/100/1000 LAN", serial: "000001", speed: "5000",
				intfs: []fakeIntf{{class: 0xff, sub: 0xff, driver: "r8152", mac: "00:e0:4c:68:01:02"}}})
		}
	}
	return devs
}

func buildForty(b *testing.B) (string, *host.Host) {
	dir := b.TempDir()
	if err := writeTree(dirWriter(dir), fortyDevices()); err != nil {
		b.Fatal(err)
	}
	if err := dirWriter(dir).file("/snapshot.json", []byte(`{"os":"linux","hostname":"bench"}`)); err != nil {
		b.Fatal(err)
	}
	h, err := host.FromRoot(dir)
	if err != nil {
		b.Fatal(err)
	}
	return dir, h
}

// BenchmarkUSB senses the 40-device --root tree.
func BenchmarkUSB(b *testing.B) {
	_, h := buildForty(b)
	obs, err := Sensor{}.Sense(context.Background(), h)
	if err != nil || len(obs) != 40 {
		b.Fatalf("%d devices, %v", len(obs), err)
	}
	for b.Loop() {
		if _, err := (Sensor{}).Sense(context.Background(), h); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkUSBPlainRead reads the same tree with no parsing and no host
// door: every file under /sys/devices that the sensor reads, the links of
// /sys/bus/usb/devices and the driver links, with os.ReadDir, os.ReadFile
// and os.Readlink.
// The ratio BenchmarkUSB / BenchmarkUSBPlainRead is the sensor's overhead.
func BenchmarkUSBPlainRead(b *testing.B) {
	dir, _ := buildForty(b)
	for b.Loop() {
		n := 0
		ents, err := os.ReadDir(filepath.Join(dir, "sys/bus/usb/devices"))
		if err != nil {
			b.Fatal(err)
		}
		for _, e := range ents {
			if _, err := os.Readlink(filepath.Join(dir, "sys/bus/usb/devices", e.Name())); err != nil {
				b.Fatal(err)
			}
		}
		err = filepath.WalkDir(filepath.Join(dir, "sys/devices"), func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			switch {
			case d.Type()&fs.ModeSymlink != 0:
				_, err = os.Readlink(p)
			case d.Name() == "bNumInterfaces" || d.Name() == "bcdDevice" || d.Name() == "bMaxPower" || d.Name() == "bAlternateSetting":
				// in the tree for realism; the sensor does not read them
			case !d.IsDir():
				_, err = os.ReadFile(p)
				n++
			}
			return err
		})
		if err != nil || n == 0 {
			b.Fatal(n, err)
		}
	}
}
