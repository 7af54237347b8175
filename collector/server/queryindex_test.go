package server

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/farmwatch/farmwatch/collector/store"
	"github.com/farmwatch/farmwatch/collector/store/postgres"
	"github.com/farmwatch/farmwatch/internal/pgtest"
	fwv1 "github.com/farmwatch/farmwatch/proto/farmwatch/v1"
	"github.com/rs/zerolog"
	"google.golang.org/protobuf/encoding/protojson"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

func TestIndexedTerm(t *testing.T) {
	for _, c := range []struct {
		kind, filter, field, value string
	}{
		{"process", `process.name == "anydesk"`, store.FieldProcessName, "anydesk"},
		{"process", `"AnyDesk.exe" == process.name && process.pid > 4`, store.FieldProcessName, "AnyDesk.exe"},
		{"process", `process.pid > 4 && (process.exe == "/opt/x" && process.username == "u")`, store.FieldProcessExe, "/opt/x"},
		{"", `observation.usb_device.serial == "E6614"`, store.FieldUSBSerial, "E6614"},
		{"display", `display.edid.manufacturer == "LNX"`, store.FieldEDIDManufacturer, "LNX"},
		{"display", `display.edid.monitor_serial == "777"`, store.FieldEDIDSerial, "777"},
		{"wifi_network", `wifi_network.bssid_hash == "h" && wifi_network.ssid_hash == "s"`, store.FieldNetBSSID, "h"},
		{"neighbor", `neighbor.mac_hash == "m"`, store.FieldNetMAC, "m"},
		// Not narrowed by an index: every match need not have the term.
		{"process", `process.name == "a" || process.name == "b"`, "", ""},
		{"process", `!(process.name == "a")`, "", ""},
		{"process", `process.name != "a"`, "", ""},
		{"process", `process.cmdline == "a"`, "", ""},
		{"process", `process.name.startsWith("any")`, "", ""},
		{"process", `usb_device.serial == "x"`, "", ""}, // not the query's kind
		{"", `process.name == "a"`, "", ""},             // a kind's variable where the query is over observation
		{"process", `process.name == 4`, "", ""},
		{"process", `process.name ==`, "", ""},
		{"process", `has(process.name) && process.name == "a"`, store.FieldProcessName, "a"},
	} {
		f, v, ok := indexedTerm(c.kind, c.filter)
		if ok != (c.field != "") || f != c.field || v != c.value {
			t.Errorf("%s %q: %q %q %v; want %q %q", c.kind, c.filter, f, v, ok, c.field, c.value)
		}
	}
}

// scanOnly hides the store's index: the query reads every host's
// observations.
type scanOnly struct{ store.Store }

// TestQueryIndexed: on the PostgreSQL store, a query that names an
// indexed field answers from the index what the scan of every host answers:
// the same rows in the same order, the same count of hosts, truncated
// alike.
func TestQueryIndexed(t *testing.T) {
	ctx := context.Background()
	st, err := postgres.Open(ctx, pgtest.DSN(t))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	at := time.Now()
	for h := range 12 {
		id := fmt.Sprintf("00000000-0000-4000-8000-%012d", h)
		name := fmt.Sprintf("host-%02d", 11-h) // names not in id order
		if err := st.PutHost(ctx, store.Host{ID: id, Hostname: name, OS: "linux", Info: &fwv1.HostInfo{Os: "linux", Hostname: name}, NodeKeyHash: []byte(id), EnrolledAt: at, LastSeen: at}); err != nil {
			t.Fatal(err)
		}
		obs := []*fwv1.Observation{
			{Key: "process/1@0", Kind: &fwv1.Observation_Process{Process: &fwv1.Process{Pid: 1, Name: "systemd", Exe: "/usr/lib/systemd/systemd"}}},
			{Key: "usb/1-1", Kind: &fwv1.Observation_UsbDevice{UsbDevice: &fwv1.UsbDevice{VendorId: 0x2e8a, ProductId: 0xa, Serial: fmt.Sprint("E66", h%3)}}},
		}
		if h%2 == 0 {
			name := "anydesk"
			if h%4 == 0 {
				name = "AnyDesk" // the index folds case; the filter does not
			}
			obs = append(obs, &fwv1.Observation{Key: fmt.Sprintf("process/%d@0", 100+h), Kind: &fwv1.Observation_Process{Process: &fwv1.Process{Pid: int32(100 + h), Name: name, Exe: "/opt/anydesk/anydesk", Username: fmt.Sprint("u", h%3)}}})
		}
		if ok, err := st.ApplyMessage(ctx, id, 1, store.Apply{Full: true, Upserted: obs, Seen: at}); !ok || err != nil {
			t.Fatalf("apply: %v %v", ok, err)
		}
	}
	serve := func(s store.Store) *Server {
		srv, err := New(Config{Store: s, Log: zerolog.Nop(), EnrollSecret: "e"})
		if err != nil {
			t.Fatal(err)
		}
		return srv
	}
	indexed, scan := serve(st), serve(scanOnly{st})
	for _, q := range []struct {
		kind, filter string
		limit        int32
		indexed      bool
	}{
		{"process", `process.name == "anydesk"`, 0, true},
		{"process", `process.name == "AnyDesk"`, 0, true},
		{"process", `process.name == "anydesk" && process.username == "u1"`, 0, true},
		{"process", `process.exe == "/opt/anydesk/anydesk"`, 2, true},
		{"", `observation.usb_device.serial == "E661"`, 0, true},
		{"usb_device", `usb_device.serial == "E662" && host.hostname != "host-03"`, 0, true},
		{"process", `process.name == "nothing"`, 0, true},
		{"process", `process.name.startsWith("any")`, 0, false},
	} {
		req := &fwv1.QueryObservationsRequest{Kind: q.kind, Filter: q.filter, Limit: q.limit}
		if _, ok, err := indexed.candidates(ctx, q.kind, q.filter); err != nil || ok != q.indexed {
			t.Errorf("%q: answered from the index %v (%v), want %v", q.filter, ok, err, q.indexed)
		}
		a, err := indexed.QueryObservations(ctx, req)
		if err != nil {
			t.Fatalf("%q: %v", q.filter, err)
		}
		b, err := scan.QueryObservations(ctx, req)
		if err != nil {
			t.Fatalf("%q: %v", q.filter, err)
		}
		if a.Hosts != 12 {
			t.Errorf("%q: %d hosts searched, want 12", q.filter, a.Hosts)
		}
		if !a.Truncated && a.Hosts != b.Hosts {
			t.Errorf("%q: %d hosts searched through the index, %d by the scan", q.filter, a.Hosts, b.Hosts)
		}
		// A scan cut short counts the hosts it read; the index searched
		// every host.
		a.Hosts, b.Hosts = 0, 0
		ja, _ := protojson.Marshal(a)
		jb, _ := protojson.Marshal(b)
		if string(ja) != string(jb) {
			t.Errorf("%q:\nindexed %s\nscan    %s", q.filter, ja, jb)
		}
	}
}
