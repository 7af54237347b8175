package display

import (
	"bytes"
	"context"
	"encoding/hex"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/farmwatch/farmwatch/agent/edid"
	"github.com/farmwatch/farmwatch/agent/host"
	fwv1 "github.com/farmwatch/farmwatch/proto/farmwatch/v1"
	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/testing/protocmp"
)

// readKVM reads one EDID of testdata/edid/edid_kvm.
func readKVM(t testing.TB, rel string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(corpusDir, "edid_kvm", rel))
	if err != nil {
		t.Fatal(err)
	}
	if filepath.Ext(rel) == ".bin" {
		return b
	}
	out, err := edid.DecodeHex(string(b))
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// writeTree writes files (path -> content) and links (path -> target)
// under dir, with a snapshot.json of the os.
func writeTree(t testing.TB, dir, goos string, files map[string]string, links map[string]string) {
	t.Helper()
	files["/snapshot.json"] = `{"os":"` + goos + `","hostname":"test","captured":"2026-11-28T10:00:00Z"}` + "\n"
	for p, c := range files {
		fp := filepath.Join(dir, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(fp), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(fp, []byte(c), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for p, target := range links {
		fp := filepath.Join(dir, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(fp), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(target, fp); err != nil {
			t.Fatal(err)
		}
	}
}

func TestSenseLinux(t *testing.T) {
	dir := t.TempDir()
	pikvm := readKVM(t, "pikvm/v4plus.hex")
	writeTree(t, dir, "linux", map[string]string{
		"/sys/class/drm/card0-eDP-1/status":       "connected\n",
		"/sys/class/drm/card0-eDP-1/enabled":      "disabled\n",
		"/sys/class/drm/card0-eDP-1/edid":         "",
		"/sys/class/drm/card0-HDMI-A-1/status":    "connected\n",
		"/sys/class/drm/card0-HDMI-A-1/enabled":   "enabled\n",
		"/sys/class/drm/card0-HDMI-A-1/edid":      string(pikvm),
		"/sys/class/drm/card0-DP-1/status":        "disconnected\n",
		"/sys/class/drm/card0-DP-1/enabled":       "disabled\n",
		"/sys/class/drm/card0-Writeback-1/status": "unknown\n",
		"/sys/class/drm/card1-Virtual-1/status":   "connected\n",
		"/sys/class/drm/card1-Virtual-1/enabled":  "enabled\n",
		"/proc/modules": "i915 4218880 42 - Live 0x0000000000000000\n" +
			"vkms 36864 1 - Live 0x0000000000000000\n" +
			"v4l2loopback 49152 0 - Live 0x0000000000000000\n" +
			"snd_hda_intel 61440 4 - Live 0x0000000000000000\n",
		"/etc/X11/xorg.conf.d/10-headless.conf": "Section \"InputDevice\"\n  Driver \"libinput\"\nEndSection\n" +
			"Section \"Device\"\n    Identifier \"dummy\"\n    Driver     \"dummy\"  # xf86-video-dummy\n    VideoRam 256000\nEndSection\n",
		"/tmp/.X99-lock":  "      4242\n",
		"/tmp/.X0-lock":   "      9999\n", // stale: no such process
		"/proc/4242/comm": "Xvfb\n",
	}, map[string]string{
		"/sys/class/drm/card0/device/driver": "../../../bus/pci/drivers/i915",
		"/sys/class/drm/card1/device/driver": "../../../../bus/platform/drivers/vkms",
	})
	h, err := host.FromRoot(dir)
	if err != nil {
		t.Fatal(err)
	}
	obs, err := Sensor{}.Sense(context.Background(), h)
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	byKey := map[string]*fwv1.Observation{}
	for _, o := range obs {
		keys = append(keys, o.Key)
		byKey[o.Key] = o
	}
	want := []string{
		"display/card0-DP-1", "display/card0-HDMI-A-1", "display/card0-eDP-1", "display/card1-Virtual-1",
		"driver/drm_driver/i915", "driver/drm_driver/vkms", "driver/kernel_module/v4l2loopback",
		"driver/x_server/Xvfb", "driver/xorg_driver/dummy",
	}
	if d := cmp.Diff(want, keys); d != "" {
		t.Fatalf("keys (-want +got):\n%s", d)
	}
	hdmi := byKey["display/card0-HDMI-A-1"].GetDisplay()
	if hdmi.GetEdid().GetMonitorName() != "PiKVM V4 Plus" || hdmi.Driver != "i915" || !hdmi.Enabled || hdmi.Builtin || hdmi.Connection != "HDMI-A" {
		t.Errorf("hdmi: %v", hdmi)
	}
	edp := byKey["display/card0-eDP-1"].GetDisplay()
	wantEDP := &fwv1.Display{Connector: "card0-eDP-1", Status: "connected", Driver: "i915", Builtin: true, Adapter: "card0", Path: "/sys/class/drm/card0-eDP-1", Connection: "eDP"}
	if d := cmp.Diff(wantEDP, edp, protocmp.Transform()); d != "" {
		t.Errorf("eDP (-want +got):\n%s", d)
	}
	if v := byKey["display/card1-Virtual-1"].GetDisplay(); !v.Virtual || v.Driver != "vkms" {
		t.Errorf("virtual: %v", v)
	}
	if x := byKey["driver/x_server/Xvfb"].GetDriver(); x.Path != "/tmp/.X99-lock" || x.Description != "X display :99" {
		t.Errorf("xvfb: %v", x)
	}
}

func TestSenseLinuxEmpty(t *testing.T) {
	dir := t.TempDir()
	writeTree(t, dir, "linux", map[string]string{}, nil)
	h, err := host.FromRoot(dir)
	if err != nil {
		t.Fatal(err)
	}
	obs, err := Sensor{}.Sense(context.Background(), h)
	if err != nil || len(obs) != 0 {
		t.Fatalf("got %v, %v; want nothing", obs, err)
	}
}

func TestSplitConnector(t *testing.T) {
	tests := []struct {
		in, card, conn string
		ok             bool
	}{
		{"card0-HDMI-A-1", "card0", "HDMI-A-1", true},
		{"card12-eDP-1", "card12", "eDP-1", true},
		{"card0-", "", "", false},
		{"cardX-DP-1", "", "", false},
		{"renderD128", "", "", false},
		{"card-DP-1", "", "", false},
	}
	for _, tt := range tests {
		card, conn, ok := splitConnector(tt.in)
		if card != tt.card || conn != tt.conn || ok != tt.ok {
			t.Errorf("splitConnector(%q) = %q, %q, %v", tt.in, card, conn, ok)
		}
	}
	for in, want := range map[string]string{"HDMI-A-1": "HDMI-A", "eDP-1": "eDP", "Virtual-1": "Virtual", "DSI": "DSI", "DP-1-2": "DP-1"} {
		if got := connectorType(in); got != want {
			t.Errorf("connectorType(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestParseSysfsValues(t *testing.T) {
	for in, want := range map[string]string{"connected\n": "connected", "disconnected": "disconnected", "unknown\n": "unknown", "": "unknown", "garbage": "unknown"} {
		if got := parseStatus([]byte(in)); got != want {
			t.Errorf("parseStatus(%q) = %q, want %q", in, got, want)
		}
	}
	for in, want := range map[string]bool{"enabled\n": true, "disabled\n": false, "": false} {
		if got := parseEnabled([]byte(in)); got != want {
			t.Errorf("parseEnabled(%q) = %v", in, got)
		}
	}
	mods := parseModules([]byte("evdi 94208 0 - Live 0x0\nvkms 1 2 drm_kms_helper, Loading 0x0\nbroken\n\nvirtio_gpu\n"))
	if d := cmp.Diff([]module{{"evdi", "Live"}, {"vkms", "Loading"}}, mods); d != "" {
		t.Errorf("parseModules (-want +got):\n%s", d)
	}
	for in, want := range map[string][]string{
		"Section \"Device\"\n Driver \"dummy\"\nEndSection\n":        {"dummy"},
		"section \"device\"\n\tdriver \"modesetting\"\nendsection\n": {"modesetting"},
		"Section \"InputClass\"\n Driver \"libinput\"\nEndSection\n": nil,
		"# Section \"Device\"\n# Driver \"dummy\"\n":                 nil,
		"Driver \"dummy\"\n": nil,
		"Section \"Device\"\n Driver \"unterminated\nEndSection\n":                     {"unterminated"},
		"Section \"Device\"\n Driver nvidia\nEndSection\nSection \"Screen\"\nDriver x": {"nvidia"},
	} {
		if d := cmp.Diff(want, parseXorgDevices([]byte(in))); d != "" {
			t.Errorf("parseXorgDevices(%q) (-want +got):\n%s", in, d)
		}
	}
	for in, want := range map[string]int{"      4242\n": 4242, "1\n": 1, "x": 0, "-5": 0, "": 0} {
		if got, _ := parseXLock([]byte(in)); got != want {
			t.Errorf("parseXLock(%q) = %d, want %d", in, got, want)
		}
	}
}

func FuzzLinuxValues(f *testing.F) {
	f.Add([]byte("i915 4218880 42 - Live 0x0\nvkms 1 0 - Live 0x0\n"))
	f.Add([]byte("Section \"Device\"\n Driver \"dummy\"\nEndSection\n"))
	f.Add([]byte("card0-HDMI-A-1"))
	f.Add(readKVM(f, "pikvm/v4plus.hex"))
	f.Fuzz(func(t *testing.T, b []byte) {
		lines := bytes.Count(b, []byte("\n")) + 1
		if s := parseStatus(b); s != "connected" && s != "disconnected" && s != "unknown" {
			t.Fatalf("status %q", s)
		}
		parseEnabled(b)
		ms := parseModules(b)
		if len(ms) > lines {
			t.Fatalf("%d modules from %d lines", len(ms), lines)
		}
		for _, m := range ms {
			if _, ok := linuxModules[m.Name]; !ok {
				t.Fatalf("module %q is not one reported", m.Name)
			}
		}
		xs := parseXorgDevices(b)
		if len(xs) > lines {
			t.Fatalf("%d drivers from %d lines", len(xs), lines)
		}
		for _, x := range xs {
			if x == "" || strings.ContainsAny(x, "\"\n#") {
				t.Fatalf("xorg driver %q", x)
			}
		}
		if pid, ok := parseXLock(b); ok && (pid <= 0 || !bytes.Contains(b, []byte(strconv.Itoa(pid)))) {
			t.Fatalf("X lock pid %d", pid)
		}
		s := string(b)
		if card, conn, ok := splitConnector(s); ok && (card+"-"+conn != s || !strings.HasPrefix(card, "card") || conn == "") {
			t.Fatalf("splitConnector(%q) = %q, %q", s, card, conn)
		}
		if ct := connectorType(s); !strings.HasPrefix(s, ct) {
			t.Fatalf("connectorType(%q) = %q", s, ct)
		}
		e := Edid(b)
		if (e == nil) != (len(b) == 0) {
			t.Fatalf("Edid of %d bytes: %v", len(b), e)
		}
		if e != nil {
			if n := min(len(b), edid.MaxBlocks*edid.BlockSize); e.RawHex != hex.EncodeToString(b[:n]) {
				t.Fatalf("raw hex of %d bytes is %d characters", len(b), len(e.RawHex))
			}
			if _, err := proto.Marshal(e); err != nil {
				t.Fatalf("edid %v: %v", e, err)
			}
			checkEdid(t, e)
		}
	})
}

func TestEdidShortAndEmpty(t *testing.T) {
	if e := Edid(nil); e != nil {
		t.Errorf("Edid(nil) = %v", e)
	}
	e := Edid([]byte{0x00, 0xff, 0x12})
	if e.GetRawHex() != "00ff12" || e.GetManufacturer() != "" || e.GetBlocks() != 0 {
		t.Errorf("short: %v", e)
	}
	full := Edid(readKVM(t, "pikvm/v4plus.hex"))
	if !full.ChecksumValid || !full.HeaderValid || full.Version != "1.3" || full.Blocks != 2 || !full.Digital {
		t.Errorf("pikvm: %v", full)
	}
}
