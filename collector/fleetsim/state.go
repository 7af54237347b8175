package main

import (
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	fwv1 "github.com/farmwatch/farmwatch/proto/farmwatch/v1"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// A laptop's state as its agent reports it: about --processes processes
// (common names, real-looking paths and command lines), USB devices, two
// displays with EDIDs, network interfaces and routes, the gateway
// neighbour and Wi-Fi network (salted hashes, as the netid sensor sends
// them), the keyboard layout and the locale. The bodies of most
// observations are shared between the simulated agents (memory); each
// agent's own are its processes' pids and the ones churn made.

var procNames = []string{
	"systemd", "kthreadd", "rcu_sched", "kworker/0:1", "ksoftirqd/0", "migration/0", "systemd-journald", "systemd-udevd",
	"systemd-logind", "dbus-daemon", "NetworkManager", "wpa_supplicant", "polkitd", "rsyslogd", "cron", "sshd", "cupsd",
	"avahi-daemon", "bluetoothd", "ModemManager", "udisksd", "upowerd", "accounts-daemon", "gdm3", "gnome-shell",
	"Xwayland", "pipewire", "wireplumber", "pulseaudio", "gnome-terminal-server", "bash", "zsh", "tmux: server",
	"chrome", "chrome_crashpad_handler", "firefox", "Web Content", "code", "slack", "zoom", "teams", "spotify",
	"thunderbird", "evolution-data-server", "tracker-miner-fs-3", "gvfsd", "gvfsd-fuse", "at-spi2-registryd",
	"ibus-daemon", "ibus-engine-simple", "snapd", "containerd", "dockerd", "python3", "node", "java", "gopls",
}

// procCache holds the process observations, shared by every agent: the
// i-th process an agent starts is the same on all of them.
var procCache sync.Map // int -> *fwv1.Observation

// pidOf is the pid of an agent's i-th process.
func pidOf(i int) int32 { return int32(1000 + i*4 + i%3) }

// processObs is the i-th process an agent starts.
func processObs(i int) *fwv1.Observation {
	if o, ok := procCache.Load(i); ok {
		return o.(*fwv1.Observation)
	}
	pid := pidOf(i)
	name := procNames[i%len(procNames)]
	exe := "/usr/bin/" + name
	if i%len(procNames) < 8 {
		exe = "/usr/lib/systemd/" + name
	}
	args := []string{exe, fmt.Sprintf("--instance=%d", i), "--config=/etc/" + name + "/config.yaml", "--log-level=info"}
	o := &fwv1.Observation{Key: fmt.Sprintf("process/%d@%d", pid, 1700000000+i), Sensor: "remoteaccess",
		Kind: &fwv1.Observation_Process{Process: &fwv1.Process{
			Pid: pid, Ppid: 1, Name: name, Exe: exe, Cmdline: fmt.Sprint(args), Args: args, Username: "user",
			StartTime: timestamppb.New(time.Unix(int64(1700000000+i), 0)), ParentName: "systemd", ExeName: name,
		}}}
	v, _ := procCache.LoadOrStore(i, o)
	return v.(*fwv1.Observation)
}

// fixedObs are the observations that are the same on every simulated
// laptop of one model: USB, displays, network, netid, locale.
func fixedObs(agent int) []*fwv1.Observation {
	var out []*fwv1.Observation
	for i, d := range []struct {
		vid, pid uint32
		product  string
		class    int32
	}{{0x1d6b, 0x0002, "EHCI Host Controller", 9}, {0x1d6b, 0x0003, "xHCI Host Controller", 9}, {0x046d, 0xc52b, "USB Receiver", 0},
		{0x8087, 0x0033, "Bluetooth", 224}, {0x0bda, 0x58f4, "Integrated Camera", 239}, {0x06cb, 0x00bd, "Fingerprint", 255}} {
		out = append(out, &fwv1.Observation{Key: fmt.Sprintf("usb/1-%d", i+1), Sensor: "usb", Kind: &fwv1.Observation_UsbDevice{UsbDevice: &fwv1.UsbDevice{
			VendorId: d.vid, ProductId: d.pid, Product: d.product, Manufacturer: "Vendor", Serial: fmt.Sprintf("SN%08d-%d", agent, i),
			DeviceClass: d.class, BusPath: fmt.Sprintf("1-%d", i+1), Speed: "480"}}})
	}
	for i, c := range []string{"eDP-1", "HDMI-A-1"} {
		out = append(out, &fwv1.Observation{Key: "display/" + c, Sensor: "display", Kind: &fwv1.Observation_Display{Display: &fwv1.Display{
			Connector: c, Status: "connected", Enabled: true, Driver: "i915", Builtin: i == 0, Connection: []string{"eDP", "HDMI"}[i],
			Edid: &fwv1.Edid{Manufacturer: []string{"BOE", "DEL"}[i], ProductCode: uint32(0x0a1b + i), SerialNumber: uint32(agent*2 + i),
				Week: 12, Year: 2023, MonitorName: []string{"", "DELL U2723QE"}[i], WidthCm: []int32{31, 60}[i], HeightCm: []int32{17, 34}[i],
				PreferredWidth: []int32{1920, 3840}[i], PreferredHeight: []int32{1080, 2160}[i], PreferredRefreshHz: 60, ChecksumValid: true,
				Digital: true, Version: "1.4", Blocks: 2, HeaderValid: true}}}})
	}
	for _, n := range []struct{ name, typ string }{{"lo", "loopback"}, {"wlp0s20f3", "wifi"}, {"enp0s31f6", "physical"}, {"docker0", "bridge"}} {
		out = append(out, &fwv1.Observation{Key: "net_interface/" + n.name, Sensor: "network", Kind: &fwv1.Observation_NetInterface{NetInterface: &fwv1.NetInterface{
			Name: n.name, Type: n.typ, Mac: fmt.Sprintf("02:00:%02x:%02x:%02x:01", agent>>16&0xff, agent>>8&0xff, agent&0xff), Up: n.name != "enp0s31f6",
			Addresses: []string{fmt.Sprintf("10.%d.%d.%d/16", agent>>16&0xff, agent>>8&0xff, agent&0xff)}, Mtu: 1500}}})
	}
	out = append(out,
		&fwv1.Observation{Key: "route/default", Sensor: "network", Kind: &fwv1.Observation_Route{Route: &fwv1.Route{
			Destination: "0.0.0.0/0", Gateway: "10.0.0.1", Interface: "wlp0s20f3", Metric: 600, Default: true}}},
		&fwv1.Observation{Key: "neighbor/wlp0s20f3/10.0.0.1", Sensor: "netid", Kind: &fwv1.Observation_Neighbor{Neighbor: &fwv1.Neighbor{
			Ip: "10.0.0.1", Interface: "wlp0s20f3", State: "REACHABLE", Gateway: true, MacHash: fmt.Sprintf("%064x", agent%50), Oui: "04:c9:8b"}}},
		&fwv1.Observation{Key: "wifi_network/wlp0s20f3", Sensor: "netid", Kind: &fwv1.Observation_WifiNetwork{WifiNetwork: &fwv1.WifiNetwork{
			Interface: "wlp0s20f3", SsidHash: fmt.Sprintf("%064x", agent%50+1000), BssidHash: fmt.Sprintf("%064x", agent%200+2000), Source: "networkmanager"}}},
		&fwv1.Observation{Key: "keyboard_layout/user", Sensor: "locale", Kind: &fwv1.Observation_KeyboardLayout{KeyboardLayout: &fwv1.KeyboardLayout{
			Username: "user", Source: "gsettings", Active: true, Installed: true}}},
		&fwv1.Observation{Key: "locale/system", Sensor: "locale", Kind: &fwv1.Observation_Locale{Locale: &fwv1.Locale{
			Source: "localectl", Lang: "en_US.UTF-8", Timezone: "Europe/Berlin", UtcOffsetSeconds: 3600, Country: "US"}}},
	)
	return out
}

// hostState is one simulated agent's current observations.
type hostState struct {
	obs     map[string]*fwv1.Observation
	procs   []string // the keys of its processes, for churn
	nextIdx int
}

func newHostState(agent, processes int) *hostState {
	h := &hostState{obs: map[string]*fwv1.Observation{}}
	for i := 0; i < processes; i++ {
		h.addProcess()
	}
	for _, o := range fixedObs(agent) {
		h.obs[o.Key] = o
	}
	return h
}

func (h *hostState) addProcess() *fwv1.Observation {
	o := processObs(h.nextIdx)
	h.nextIdx++
	h.obs[o.Key] = o
	h.procs = append(h.procs, o.Key)
	return o
}

func (h *hostState) all() []*fwv1.Observation {
	out := make([]*fwv1.Observation, 0, len(h.obs))
	for _, o := range h.obs {
		out = append(out, o)
	}
	return out
}

// churn ends n processes and starts n new ones: the delta.
func (h *hostState) churn(n int) (up []*fwv1.Observation, removed []string) {
	for range n {
		if len(h.procs) == 0 {
			break
		}
		i := rand.IntN(len(h.procs))
		k := h.procs[i]
		h.procs[i] = h.procs[len(h.procs)-1]
		h.procs = h.procs[:len(h.procs)-1]
		delete(h.obs, k)
		removed = append(removed, k)
		up = append(up, h.addProcess())
	}
	return up, removed
}
