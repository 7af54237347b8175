package rules

import (
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"

	fwv1 "github.com/farmwatch/farmwatch/proto/farmwatch/v1"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// benchObservations is a realistic mix: mostly ordinary processes, a few
// remote-access tools, some services.
func benchObservations(n int) []*fwv1.Observation {
	names := []string{"bash", "sshd", "systemd", "chrome", "code", "node", "python3", "containerd", "dockerd", "Xorg", "pipewire", "gnome-shell"}
	var obs []*fwv1.Observation
	for i := 0; i < n; i++ {
		name := names[i%len(names)]
		exe := "/usr/bin/" + name
		switch i % 200 {
		case 7:
			name, exe = "anydesk", "/usr/bin/anydesk"
		case 61:
			name, exe = "rustdesk", "/tmp/.x/rustdesk"
		case 133:
			name, exe = "chrome-remote-desktop-host", "/opt/google/chrome-remote-desktop/chrome-remote-desktop-host"
		}
		obs = append(obs, &fwv1.Observation{
			Key: fmt.Sprintf("process/%d@0", i),
			Kind: &fwv1.Observation_Process{Process: &fwv1.Process{
				Pid: int32(i + 1), Ppid: 1, Name: name, Exe: exe, ExeName: name, Cmdline: exe + " --flag", Username: "alice",
			}},
		})
	}
	for i := 0; i < n/10; i++ {
		obs = append(obs, &fwv1.Observation{
			Key:  fmt.Sprintf("service/systemd/unit%d.service", i),
			Kind: &fwv1.Observation_Service{Service: &fwv1.Service{Name: fmt.Sprintf("unit%d.service", i), Manager: "systemd", Enabled: true, Exe: "/usr/sbin/unit"}},
		})
	}
	return obs
}

// BenchmarkEvaluate measures rule evaluation of the built-in rules over
// 1000 processes and 100 services on one core; the checks/s metric counts
// observation-rule evaluations.
func BenchmarkEvaluate(b *testing.B) {
	set, err := Load(Builtin(), Options{})
	if err != nil {
		b.Fatal(err)
	}
	obs := benchObservations(1000)
	hi := &fwv1.HostInfo{Os: "linux", Hostname: "bench"}
	checks := 0
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		res := set.Evaluate(hi, obs)
		checks += res.Checks
		if len(res.Errors) > 0 {
			b.Fatal(res.Errors[0])
		}
	}
	b.ReportMetric(float64(checks)/b.Elapsed().Seconds(), "checks/s")
}

// BenchmarkHostStateApply is the collector's work for one agent's delta: a
// host of 300 processes and a few other observations, 6 of which change,
// judged incrementally.
func BenchmarkHostStateApply(b *testing.B) {
	set, err := Load(Builtin(), Options{})
	if err != nil {
		b.Fatal(err)
	}
	hi := &fwv1.HostInfo{Os: "linux", Hostname: "h"}
	obs := make([]*fwv1.Observation, 0, 310)
	for i := range 300 {
		obs = append(obs, &fwv1.Observation{Key: fmt.Sprintf("process/%d@1", i), Kind: &fwv1.Observation_Process{Process: &fwv1.Process{Pid: int32(i), Name: fmt.Sprintf("proc%d", i%40), Exe: fmt.Sprintf("/usr/bin/proc%d", i%40)}}})
	}
	for i := range 10 {
		obs = append(obs, &fwv1.Observation{Key: fmt.Sprintf("usb/%d", i), Kind: &fwv1.Observation_UsbDevice{UsbDevice: &fwv1.UsbDevice{VendorId: 0x046d, ProductId: uint32(i)}}})
	}
	st := set.NewHostState(hi, nil)
	if _, err := st.Apply(true, obs, nil); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		var up []*fwv1.Observation
		var rm []string
		for j := range 3 {
			n := 1000 + (i*3+j)%5000
			up = append(up, &fwv1.Observation{Key: fmt.Sprintf("process/%d@2", n), Kind: &fwv1.Observation_Process{Process: &fwv1.Process{Pid: int32(n), Name: "bash", Exe: "/usr/bin/bash"}}})
			if i > 0 {
				m := 1000 + ((i-1)*3+j)%5000
				rm = append(rm, fmt.Sprintf("process/%d@2", m))
			}
		}
		if _, err := st.Apply(false, up, rm); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkHostStateMemory is the memory the collector keeps for one
// connected host between its messages: 100 hosts of 300 processes, 10 USB
// devices and 2 displays each, decoded from the wire as the collector gets
// them, then judged into a state. It reports the live heap a host's state
// holds (measured after a collection, with the decoded messages no longer
// referenced by anything else).
func BenchmarkHostStateMemory(b *testing.B) {
	set, err := Load(Builtin(), Options{})
	if err != nil {
		b.Fatal(err)
	}
	hi := &fwv1.HostInfo{Os: "linux", Hostname: "h"}
	const hosts = 100
	wire := func(h int) [][]byte {
		var out [][]byte
		add := func(o *fwv1.Observation) {
			w, err := proto.Marshal(o)
			if err != nil {
				b.Fatal(err)
			}
			out = append(out, w)
		}
		for i := range 300 {
			name := fmt.Sprintf("proc%d", i%40)
			exe := "/usr/bin/" + name
			args := []string{exe, fmt.Sprintf("--instance=%d", i), "--config=/etc/" + name + "/config.yaml", "--log-level=info"}
			add(&fwv1.Observation{Key: fmt.Sprintf("process/%d@%d", 1000+i*4, 1700000000+i+h), Sensor: "remoteaccess",
				Kind: &fwv1.Observation_Process{Process: &fwv1.Process{Pid: int32(1000 + i*4), Ppid: 1, Name: name, Exe: exe,
					Cmdline: strings.Join(args, " "), Args: args, Username: "user", ParentName: "systemd", ExeName: name,
					StartTime: timestamppb.New(time.Unix(int64(1700000000+i), 0))}}})
		}
		for i := range 10 {
			add(&fwv1.Observation{Key: fmt.Sprintf("usb/1-%d", i), Sensor: "usb", Kind: &fwv1.Observation_UsbDevice{UsbDevice: &fwv1.UsbDevice{
				VendorId: 0x046d, ProductId: uint32(0xc000 + i), Manufacturer: "Logitech", Product: "USB Receiver", Serial: fmt.Sprintf("S%d-%d", h, i)}}})
		}
		for i := range 2 {
			add(&fwv1.Observation{Key: fmt.Sprintf("display/card0-DP-%d", i), Sensor: "display", Kind: &fwv1.Observation_Display{Display: &fwv1.Display{
				Connector: fmt.Sprintf("card0-DP-%d", i), Status: "connected", Enabled: true, Builtin: i == 0}}})
		}
		return out
	}
	wires := make([][][]byte, hosts)
	for h := range wires {
		wires[h] = wire(h)
	}
	var per float64
	for b.Loop() {
		states := make([]*HostState, hosts)
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		for h := range states {
			obs := make([]*fwv1.Observation, len(wires[h]))
			for i, w := range wires[h] {
				obs[i] = &fwv1.Observation{}
				if err := proto.Unmarshal(w, obs[i]); err != nil {
					b.Fatal(err)
				}
			}
			states[h] = set.NewHostState(hi, nil)
			if _, err := states[h].Apply(true, obs, nil); err != nil {
				b.Fatal(err)
			}
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		per = float64(after.HeapAlloc-before.HeapAlloc) / hosts
		runtime.KeepAlive(states)
	}
	b.ReportMetric(per/1024, "KiB/host")
}
