package postgres

import (
	"context"
	"fmt"
	"os"
	"sync"
	"testing"

	"github.com/farmwatch/farmwatch/collector/store"
	"github.com/farmwatch/farmwatch/collector/store/storetest"
	"github.com/farmwatch/farmwatch/internal/pgtest"
	fwv1 "github.com/farmwatch/farmwatch/proto/farmwatch/v1"
	"google.golang.org/protobuf/proto"
)

func TestMain(m *testing.M) {
	code := pgtest.Main(m)
	stopDurable() // the benchmarks' cluster
	os.Exit(code)
}

func open(t testing.TB) *DB {
	t.Helper()
	s, err := Open(context.Background(), pgtest.DSN(t))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestStore(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store { return open(t) })
}

// Two replicas (two pools on one database) apply the same messages of one
// host at once: each is applied exactly once.
func TestTwoReplicasApplyOnce(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.DSN(t)
	a, err := Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if err := a.PutHost(ctx, store.Host{ID: "h1", Hostname: "alpha", OS: "linux", NodeKeyHash: []byte("k")}); err != nil {
		t.Fatal(err)
	}
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		applied = map[uint64]int{}
	)
	for _, s := range []*DB{a, b, a, b} {
		wg.Go(func() {
			for seq := uint64(1); seq <= 100; seq++ {
				ok, err := s.ApplyMessage(ctx, "h1", seq, store.Apply{Upserted: []*fwv1.Observation{{Key: fmt.Sprint("k", seq), Kind: &fwv1.Observation_Process{Process: &fwv1.Process{Pid: int32(seq)}}}}})
				if err != nil {
					t.Error(err)
					return
				}
				if ok {
					mu.Lock()
					applied[seq]++
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	for seq := uint64(1); seq <= 100; seq++ {
		if applied[seq] != 1 {
			t.Errorf("#%d applied %d times", seq, applied[seq])
		}
	}
	cs, err := b.Changes(ctx, "h1", store.ChangeFilter{Limit: 1000})
	if err != nil || len(cs) != 100 {
		t.Fatalf("%d changes, %v; want 100", len(cs), err)
	}
}

// Indexed fields are found through the index, and follow the
// observations as they change and go.
func TestFindObservations(t *testing.T) {
	ctx := context.Background()
	s := open(t)
	defer s.Close()
	for _, h := range []string{"h1", "h2"} {
		if err := s.PutHost(ctx, store.Host{ID: h, Hostname: "host-" + h, OS: "linux", NodeKeyHash: []byte("k")}); err != nil {
			t.Fatal(err)
		}
	}
	anydesk := &fwv1.Observation{Key: "process/1@0", Kind: &fwv1.Observation_Process{Process: &fwv1.Process{Name: "AnyDesk.exe", Exe: `C:\AnyDesk.exe`}}}
	kvm := &fwv1.Observation{Key: "usb/1-1", Kind: &fwv1.Observation_UsbDevice{UsbDevice: &fwv1.UsbDevice{VendorId: 0x1d6b, ProductId: 0x0104, Serial: "CAFE"}}}
	edid := &fwv1.Observation{Key: "display/HDMI-1", Kind: &fwv1.Observation_Display{Display: &fwv1.Display{Edid: &fwv1.Edid{Manufacturer: "LNX", ProductCode: 0x1234, SerialNumber: 42}}}}
	wifi := &fwv1.Observation{Key: "wifi/wlan0", Kind: &fwv1.Observation_WifiNetwork{WifiNetwork: &fwv1.WifiNetwork{SsidHash: "s1", BssidHash: "b1"}}}
	gw := &fwv1.Observation{Key: "neighbor/gw", Kind: &fwv1.Observation_Neighbor{Neighbor: &fwv1.Neighbor{MacHash: "m1"}}}
	if _, err := s.ApplyMessage(ctx, "h1", 1, store.Apply{Full: true, Upserted: []*fwv1.Observation{anydesk, kvm, edid, wifi, gw}}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ApplyMessage(ctx, "h2", 1, store.Apply{Full: true, Upserted: []*fwv1.Observation{anydesk, wifi}}); err != nil {
		t.Fatal(err)
	}
	find := func(field, value string) string {
		t.Helper()
		ms, err := s.FindObservations(ctx, field, value, 0)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, m := range ms {
			out = append(out, m.Hostname+"="+m.Observation.Key)
		}
		return fmt.Sprint(out)
	}
	for _, c := range []struct{ field, value, want string }{
		{store.FieldProcessName, "anydesk.EXE", "[host-h1=process/1@0 host-h2=process/1@0]"},
		{store.FieldProcessExe, `C:\AnyDesk.exe`, "[host-h1=process/1@0 host-h2=process/1@0]"},
		{store.FieldUSBID, "1D6B:0104", "[host-h1=usb/1-1]"},
		{store.FieldUSBSerial, "CAFE", "[host-h1=usb/1-1]"},
		{store.FieldEDIDManufacturer, "lnx", "[host-h1=display/HDMI-1]"},
		{store.FieldEDIDProduct, "1234", "[host-h1=display/HDMI-1]"},
		{store.FieldEDIDSerial, "42", "[host-h1=display/HDMI-1]"},
		{store.FieldNetSSID, "s1", "[host-h1=wifi/wlan0 host-h2=wifi/wlan0]"},
		{store.FieldNetBSSID, "b1", "[host-h1=wifi/wlan0 host-h2=wifi/wlan0]"},
		{store.FieldNetMAC, "m1", "[host-h1=neighbor/gw]"},
		{store.FieldProcessName, "teamviewer", "[]"},
	} {
		if got := find(c.field, c.value); got != c.want {
			t.Errorf("%s=%s: %s, want %s", c.field, c.value, got, c.want)
		}
	}
	// Renamed on h1, gone from h2.
	renamed := proto.Clone(anydesk).(*fwv1.Observation)
	renamed.GetProcess().Name = "rustdesk"
	if _, err := s.ApplyMessage(ctx, "h1", 2, store.Apply{Upserted: []*fwv1.Observation{renamed}}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ApplyMessage(ctx, "h2", 2, store.Apply{Removed: []string{"process/1@0"}}); err != nil {
		t.Fatal(err)
	}
	if got := find(store.FieldProcessName, "anydesk.exe"); got != "[]" {
		t.Errorf("after the change: %s", got)
	}
	if got := find(store.FieldProcessName, "RustDesk"); got != "[host-h1=process/1@0]" {
		t.Errorf("renamed: %s", got)
	}
	var usb []string
	if err := s.EachOfKind(ctx, "usb_device", func(h string, o *fwv1.Observation) error { usb = append(usb, h+"="+o.Key); return nil }); err != nil || fmt.Sprint(usb) != "[h1=usb/1-1]" {
		t.Errorf("usb devices: %v, %v", usb, err)
	}
	if _, err := s.FindObservations(ctx, "process.cmdline", "x", 0); err == nil {
		t.Error("a field that is not indexed was looked up")
	}
}
