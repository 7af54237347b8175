package display

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/farmwatch/farmwatch/agent/host"
)

// benchTree builds the display side of a docked laptop as a --root tree:
// two GPUs, an eDP panel, three external monitors (one the PiKVM EDID) and
// the empty connectors a dock adds (16 connectors), /proc/modules of a
// desktop kernel with evdi, an Xorg configuration and an X lock. It returns
// the root and the host paths the sensor reads, for the plain read.
func benchTree(b *testing.B) (string, []string, []string) {
	dir := b.TempDir()
	files := map[string]string{}
	edids := []string{string(readKVM(b, "pikvm/v4plus.hex")), string(readKVM(b, "tinypilot/edid_pi4.hex")), string(readKVM(b, "nanokvm/E21_NanoKVM.bin"))}
	var reads []string
	for card := 0; card < 2; card++ {
		for i, c := range []string{"eDP-1", "DP-1", "DP-2", "DP-3", "DP-4", "DP-5", "HDMI-A-1", "HDMI-A-2"} {
			p := "/sys/class/drm/card" + strconv.Itoa(card) + "-" + c
			status, enabled, e := "disconnected\n", "disabled\n", ""
			if card == 0 && i < 4 {
				status, enabled = "connected\n", "enabled\n"
				if i > 0 {
					e = edids[i-1]
				}
			}
			files[p+"/status"], files[p+"/enabled"], files[p+"/edid"] = status, enabled, e
			reads = append(reads, p+"/status", p+"/enabled", p+"/edid")
		}
	}
	mods := ""
	for i := 0; i < 120; i++ {
		mods += "mod" + strconv.Itoa(i) + " 16384 0 - Live 0x0000000000000000\n"
	}
	files["/proc/modules"] = mods + "evdi 94208 0 - Live 0x0000000000000000\n"
	files["/etc/X11/xorg.conf.d/20-intel.conf"] = "Section \"Device\"\n Identifier \"Intel\"\n Driver \"modesetting\"\nEndSection\n"
	files["/tmp/.X0-lock"] = "      1234\n"
	files["/proc/1234/comm"] = "Xorg\n"
	reads = append(reads, "/proc/modules", "/etc/X11/xorg.conf.d/20-intel.conf", "/tmp/.X0-lock", "/proc/1234/comm")
	links := map[string]string{
		"/sys/class/drm/card0/device/driver": "../../../bus/pci/drivers/i915",
		"/sys/class/drm/card1/device/driver": "../../../bus/pci/drivers/nvidia",
	}
	writeTree(b, dir, "linux", files, links)
	return dir, reads, []string{"/sys/class/drm/card0/device/driver", "/sys/class/drm/card1/device/driver"}
}

// BenchmarkDisplay runs the sensor on the tree of benchTree.
func BenchmarkDisplay(b *testing.B) {
	dir, _, _ := benchTree(b)
	h, err := host.FromRoot(dir)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		obs, err := Sensor{}.Sense(ctx, h)
		if err != nil || len(obs) != 21 {
			b.Fatalf("%d observations, %v", len(obs), err)
		}
	}
}

// BenchmarkDisplayPlainRead reads the same files and links with the os
// package, listing the connectors and the globs as the sensor does: the
// floor the sensor is measured against.
func BenchmarkDisplayPlainRead(b *testing.B) {
	dir, reads, links := benchTree(b)
	b.ReportAllocs()
	for b.Loop() {
		for _, g := range []string{"/sys/class/drm/card*-*", "/etc/X11/xorg.conf.d/*.conf", "/tmp/.X*-lock"} {
			if _, err := filepath.Glob(filepath.Join(dir, g)); err != nil {
				b.Fatal(err)
			}
		}
		for _, p := range reads {
			if _, err := os.ReadFile(filepath.Join(dir, p)); err != nil {
				b.Fatal(err)
			}
		}
		for _, l := range links {
			if _, err := os.Readlink(filepath.Join(dir, l)); err != nil {
				b.Fatal(err)
			}
		}
	}
}
