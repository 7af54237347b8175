// Package display is the sensor for the display path: every display output
// with its parsed EDID, and the display drivers that matter to a laptop
// farm (virtual, dummy and indirect display drivers, DisplayLink's EVDI,
// the virtual GPUs of hypervisors, X servers without a screen). An IP-KVM's
// HDMI capture bridge, an HDMI dummy plug and a virtual display all look
// like monitors to the OS; what they say in their EDID, and which driver
// stands behind them, is what the rules in rules/display.yaml judge.
//
// It reports neutral observations: Display ("display/<connector>") and
// Driver ("driver/<kind>/<name>"). It never judges.
//
// What it reads, per OS (the OS of the host, chosen at run time, so that a
// snapshot of any OS is scanned anywhere):
//
// linux: no command is run.
//   - /sys/class/drm/card*-*/{status,enabled,edid} for every connector
//     (writeback connectors skipped). A connector named eDP, LVDS or DSI is
//     the built-in panel; a Virtual one is marked virtual.
//   - The link /sys/class/drm/card*/device/driver (Readlink): the DRM
//     driver of each card, reported as a Driver of kind "drm_driver".
//   - /proc/modules: the loaded modules that drive virtual, dummy, USB or
//     hypervisor displays or fake a camera (vkms, evdi, udl, gud,
//     virtio_gpu, qxl, vmwgfx, bochs, cirrus, vboxvideo, hyperv_drm,
//     v4l2loopback ...), kind "kernel_module".
//   - /etc/X11/xorg.conf and /etc/X11/xorg.conf.d/*.conf: the Driver of
//     each Section "Device" (xf86-video-dummy is Driver "dummy"), kind
//     "xorg_driver".
//   - /tmp/.X*-lock (the pid of each running X server) and that pid's
//     /proc/<pid>/comm: Xvfb, Xvnc, Xorg ..., kind "x_server". This is
//     cheaper than the process list and finds headless X servers.
//
// darwin:
//   - `/usr/sbin/ioreg -a -l -r -c IODisplayConnect` (Intel Macs: the
//     IODisplayEDID of each AppleDisplay) and `/usr/sbin/ioreg -a -l -r -c
//     IOMobileFramebuffer` (Apple silicon: every framebuffer class derived
//     from it, AppleCLCD2 up to macOS 15 and IOMobileFramebufferShim on
//     macOS 26; `-c AppleCLCD2` when that finds nothing), as XML plists:
//     each framebuffer's EDID, or its DisplayAttributes (ProductAttributes:
//     ManufacturerID, or LegacyManufacturerID when ManufacturerID is an
//     IEEE OUI as on Apple's panels; ProductID, ProductName,
//     AlphanumericSerialNumber, SerialNumber, week and year; and
//     MaxHorizontalImageSize and MaxVerticalImageSize, in cm), and whether
//     it is "external".
//   - `/usr/sbin/system_profiler -json SPDisplaysDataType`: each display of
//     each GPU with its name, display type, connection type, main, mirror
//     and online state, vendor and product ids, serial number (hex) and
//     serial string (spdisplays_display-serial-number), week and year, and
//     virtual displays (vendor id 756e6b6e, _spdisplays_virtualdevice).
//     Displays are joined with the ioreg entries by vendor and product id;
//     the built-in panel, whose ioreg ProductID is not an EDID product
//     code, with the built-in framebuffer of its vendor.
//   - The built-in display is the one system_profiler calls internal;
//     clamshell is not reported (a closed lid hides the built-in display
//     from both sources).
//
// windows: api/displays.json (API.md), written by the live agent from
//   - HKLM\SYSTEM\CurrentControlSet\Enum\DISPLAY\*\*: each monitor instance
//     Windows has seen, its Device Parameters\EDID, DeviceDesc, Driver,
//     and whether its device node is present now, with its status and
//     problem (CM_Locate_DevNode, CM_Get_DevNode_Status);
//   - HKLM\SYSTEM\CurrentControlSet\Control\Class\{4d36e968-e325-11ce-bfc1-08002be10318}\NNNN:
//     every display adapter driver, with DriverDesc, MatchingDeviceId,
//     ProviderName and DriverVersion, reported as Drivers of kind
//     "display_adapter" (Parsec VDA, MttVDD, SudoVDA, IddSampleDriver,
//     usbmmidd, spacedesk ... are display adapters there).
//
// A source that cannot be read fails only its part; an optional command or
// API result that a snapshot lacks, or that a --root tree cannot give,
// leaves its part unknown and is not an error.
package display

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"sort"

	"github.com/farmwatch/farmwatch/agent/edid"
	"github.com/farmwatch/farmwatch/agent/host"
	"github.com/farmwatch/farmwatch/agent/sensor"
	fwv1 "github.com/farmwatch/farmwatch/proto/farmwatch/v1"
)

// Sensor is the display sensor.
type Sensor struct{}

// Name is "display".
func (Sensor) Name() string { return "display" }

// Sense lists the host's displays and display drivers.
func (Sensor) Sense(ctx context.Context, h *host.Host) ([]*fwv1.Observation, error) {
	f, err := sensor.ByOS[found]{Linux: readLinux, Darwin: readDarwin, Windows: readWindows}.Read(ctx, h)
	return observations(f.displays, f.drivers), err
}

// found is what one OS reader found.
type found struct {
	displays []*fwv1.Display
	drivers  []*fwv1.Driver
}

// observations wraps displays and drivers, one per key, sorted by key.
func observations(ds []*fwv1.Display, drv []*fwv1.Driver) []*fwv1.Observation {
	seen := map[string]bool{}
	var out []*fwv1.Observation
	for _, d := range ds {
		k := DisplayKey(d)
		if seen[k] {
			continue
		}
		seen[k] = true
		out = append(out, &fwv1.Observation{Key: k, Kind: &fwv1.Observation_Display{Display: d}})
	}
	for _, d := range drv {
		k := DriverKey(d)
		if seen[k] {
			continue
		}
		seen[k] = true
		out = append(out, &fwv1.Observation{Key: k, Kind: &fwv1.Observation_Driver{Driver: d}})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out
}

// DisplayKey is the stable key of a display: "display/card0-HDMI-A-1".
func DisplayKey(d *fwv1.Display) string { return "display/" + d.GetConnector() }

// DriverKey is the stable key of a driver: "driver/kernel_module/vkms".
func DriverKey(d *fwv1.Driver) string { return "driver/" + d.GetType() + "/" + d.GetName() }

// Edid parses raw EDID bytes into the observation's Edid, nil when there
// are none. Bytes too short for an EDID are kept in raw_hex, with nothing
// else set, so that a rule can still see that a display sent garbage.
func Edid(raw []byte) *fwv1.Edid {
	if len(raw) == 0 {
		return nil
	}
	if len(raw) > edid.MaxBlocks*edid.BlockSize {
		raw = raw[:edid.MaxBlocks*edid.BlockSize]
	}
	out := &fwv1.Edid{RawHex: hex.EncodeToString(raw)}
	e, err := edid.Parse(raw)
	if err != nil {
		return out
	}
	out.Manufacturer = e.Manufacturer()
	out.ProductCode = uint32(e.Product)
	out.SerialNumber = e.SerialNumber
	out.Week = int32(e.Week)
	out.Year = int32(e.Year)
	out.ModelYear = e.ModelYear
	out.MonitorName = e.Name()
	out.MonitorSerial = e.Serial()
	out.Ascii = e.ASCII()
	out.WidthCm = int32(e.WidthCM)
	out.HeightCm = int32(e.HeightCM)
	out.PreferredWidth = int32(e.Preferred.Width)
	out.PreferredHeight = int32(e.Preferred.Height)
	out.PreferredRefreshHz = int32(e.Preferred.RefreshHz())
	out.Extensions = int32(e.Extensions)
	out.ChecksumValid = e.ChecksumValid()
	out.Digital = e.Digital
	out.Version = fmt.Sprintf("%d.%d", e.Version, e.Revision)
	out.Blocks = int32(e.Blocks)
	out.BadChecksumBlocks = int32(e.BadBlocks)
	out.HeaderValid = e.HeaderValid
	out.BaseChecksumBad = e.BaseBad
	f := &e.Features
	out.EstablishedTimings = int32(f.EstablishedTimings)
	out.StandardTimings = int32(f.StandardTimings)
	out.DetailedTimings = int32(f.DetailedTimings)
	out.RangeLimits = f.RangeLimits
	out.VideoInterface = f.Interface
	out.Cta = f.CTA
	out.CtaAudio = f.CTAAudio
	out.CtaVics = int32(f.CTAVICs)
	out.Hdmi = f.HDMI
	out.HdmiForum = f.HDMIForum
	out.Hdr = f.HDR
	out.Displayid = f.DisplayID
	return out
}

// unknown reports whether err says only that an optional source is not
// available on this host: a snapshot that did not record it, or a --root
// tree, where commands and OS APIs cannot run.
func unknown(err error) bool {
	return errors.Is(err, host.ErrNotRecorded) || errors.Is(err, host.ErrNotLive)
}
