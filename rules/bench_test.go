package rules

import (
	"fmt"
	"testing"

	fwv1 "github.com/farmwatch/farmwatch/proto/farmwatch/v1"
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
	st.Apply(true, obs, nil)
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
		st.Apply(false, up, rm)
	}
}
