package server

import (
	"strings"
	"testing"
	"unsafe"

	fwv1 "github.com/farmwatch/farmwatch/proto/farmwatch/v1"
	"google.golang.org/protobuf/proto"
)

// mkProc builds its strings at run time, so that two calls never share
// them unless something made them share.
func mkProc(pid int32) *fwv1.Observation {
	exe := strings.Repeat("/usr/bin/", 1) + strings.ToLower("GNOME-SHELL")
	return &fwv1.Observation{Key: strings.Join([]string{"process", "/", "1@2"}, ""), Sensor: "remoteaccess",
		Kind: &fwv1.Observation_Process{Process: &fwv1.Process{Pid: pid, Name: strings.ToLower("GNOME-shell"), Exe: exe,
			Args: []string{exe, strings.ToLower("--MODE=x")}}}}
}

func TestInternObservations(t *testing.T) {
	a, b := mkProc(1), mkProc(2)
	wantA, wantB := proto.Clone(a), proto.Clone(b)
	same := func(x, y string) bool { return unsafe.StringData(x) == unsafe.StringData(y) }
	if same(a.GetProcess().GetExe(), b.GetProcess().GetExe()) {
		t.Fatal("the test's strings share memory before interning")
	}
	internObservations([]*fwv1.Observation{a, b})
	if !proto.Equal(a, wantA) || !proto.Equal(b, wantB) {
		t.Fatalf("interning changed the observations:\n%v\n%v", a, b)
	}
	pa, pb := a.GetProcess(), b.GetProcess()
	for _, c := range [][2]string{{pa.GetExe(), pb.GetExe()}, {pa.GetName(), pb.GetName()}, {pa.GetArgs()[1], pb.GetArgs()[1]}, {a.GetSensor(), b.GetSensor()}} {
		if !same(c[0], c[1]) {
			t.Errorf("%q: two copies after interning", c[0])
		}
	}
	if same(a.GetKey(), b.GetKey()) {
		t.Errorf("key %q was interned: keys are one host's own", a.GetKey())
	}
}
