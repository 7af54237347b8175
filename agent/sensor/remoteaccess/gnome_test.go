package remoteaccess

import (
	"bytes"
	"context"
	"encoding/binary"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/testing/protocmp"

	"github.com/farmwatch/farmwatch/agent/host"
	fwv1 "github.com/farmwatch/farmwatch/proto/farmwatch/v1"
)

// The testdata/dconf/*.gvdb databases were made by dconf itself (dconf-cli
// 0.40.0, Debian): `dconf compile NAME.gvdb DIR` over a directory holding
// NAME.keyfile, which is beside each; a user's ~/.config/dconf/user is
// the same format, written by dconf-service.
func readDconf(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "dconf", name+".gvdb"))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestParseGVDB(t *testing.T) {
	vals, err := parseGVDB(readDconf(t, "rdp-on"))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]gvdbValue{
		"/org/gnome/desktop/remote-desktop/rdp/enable":    {"b", []byte{1}},
		"/org/gnome/desktop/remote-desktop/rdp/view-only": {"b", []byte{0}},
		"/org/gnome/desktop/remote-desktop/rdp/tls-cert":  {"s", []byte("/home/alice/.local/share/gnome-remote-desktop/rdp-tls.crt\x00")},
		"/org/gnome/desktop/remote-desktop/vnc/enable":    {"b", []byte{0}},
		"/org/gnome/desktop/interface/color-scheme":       {"s", []byte("prefer-dark\x00")},
	}
	if diff := cmp.Diff(want, vals); diff != "" {
		t.Errorf("values (-want +got):\n%s", diff)
	}
}

func TestGNOMEUserSharing(t *testing.T) {
	on := func(proto string, enabled bool) *fwv1.Service {
		return &fwv1.Service{Name: "gnome-remote-desktop-" + proto + "@alice", DisplayName: "GNOME Remote Desktop sharing (" + strings.ToUpper(proto) + ")",
			Manager: "setting", Enabled: enabled, Username: "alice", Path: "/home/alice/.config/dconf/user"}
	}
	for _, tc := range []struct {
		db      string
		want    []*fwv1.Service
		wantErr string
	}{
		{"rdp-on", []*fwv1.Service{on("rdp", true), on("vnc", false)}, ""},
		{"vnc-on", []*fwv1.Service{on("vnc", true)}, ""},
		// Near misses: switched off, never switched on (other keys of the
		// schema set, a folder named enable, enable of another schema).
		{"off", []*fwv1.Service{on("rdp", false)}, ""},
		{"unset", nil, ""},
		{"wrong-type", nil, `type "s", not a boolean`},
	} {
		t.Run(tc.db, func(t *testing.T) {
			got, err := gnomeUserSharing(readDconf(t, tc.db), "alice", "/home/alice/.config/dconf/user")
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err %v, want %q", err, tc.wantErr)
				}
			} else if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got, protocmp.Transform()); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

// TestParseGVDBHostile: every cut of a real database, a wrong signature,
// a big-endian one, pointers outside the file and a parent loop are
// errors (or, for a cut that ends after the last item, fewer values),
// never a panic.
func TestParseGVDBHostile(t *testing.T) {
	good := readDconf(t, "rdp-on")
	for n := range len(good) {
		if vals, err := parseGVDB(good[:n]); err == nil && len(vals) > 5 {
			t.Fatalf("cut at %d: %d values", n, len(vals))
		}
	}
	le := binary.LittleEndian
	mut := func(f func(b []byte)) []byte {
		b := bytes.Clone(good)
		f(b)
		return b
	}
	root := le.Uint32(good[16:])
	itemsAt := root + 8 + 4*(le.Uint32(good[root:])&(1<<27-1)) + 4*le.Uint32(good[root+4:])
	for name, tc := range map[string]struct {
		b    []byte
		want string
	}{
		"empty":          {nil, "shorter than the header"},
		"signature":      {mut(func(b []byte) { copy(b, "GVariang") }), "not GVariant"},
		"big endian":     {mut(func(b []byte) { copy(b, "raVGtnai") }), "big-endian"},
		"root outside":   {mut(func(b []byte) { le.PutUint32(b[20:], 1<<30) }), "root table"},
		"root reversed":  {mut(func(b []byte) { le.PutUint32(b[16:], le.Uint32(b[20:])+1) }), "root table"},
		"buckets":        {mut(func(b []byte) { le.PutUint32(b[root+4:], 1<<31) }), "overrun"},
		"key outside":    {mut(func(b []byte) { le.PutUint32(b[itemsAt+8:], 1<<31) }), "key"},
		"value outside":  {mut(func(b []byte) { setValueEnd(b, itemsAt, 1<<31) }), "value"},
		"parent outside": {mut(func(b []byte) { setParent(b, itemsAt, 1000) }), "parent"},
		"parent loop":    {mut(func(b []byte) { loopParent(b, itemsAt) }), "loops"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := parseGVDB(tc.b)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err %v, want %q", err, tc.want)
			}
		})
	}
}

// setValueEnd sets the value end of the first value item.
func setValueEnd(b []byte, itemsAt uint32, end uint32) {
	for i := itemsAt; i+24 <= uint32(len(b)); i += 24 {
		if b[i+14] == 'v' {
			binary.LittleEndian.PutUint32(b[i+20:], end)
			return
		}
	}
}

// setParent sets the parent of the first value item.
func setParent(b []byte, itemsAt uint32, p uint32) {
	for i := itemsAt; i+24 <= uint32(len(b)); i += 24 {
		if b[i+14] == 'v' {
			binary.LittleEndian.PutUint32(b[i+4:], p)
			return
		}
	}
}

// loopParent makes the root item ("/", no parent) the child of the first
// value item's parent, a loop for every key under it.
func loopParent(b []byte, itemsAt uint32) {
	le := binary.LittleEndian
	for i := itemsAt; i+24 <= uint32(len(b)); i += 24 {
		if le.Uint32(b[i+4:]) == 0xffffffff {
			le.PutUint32(b[i+4:], (i-itemsAt)/24)
			return
		}
	}
}

// TestReadGNOMESharing reads users' databases and the remote-login key
// files through the host door, and replays them from the snapshot.
func TestReadGNOMESharing(t *testing.T) {
	for _, tc := range []struct {
		name  string
		files map[string]string
		want  []*fwv1.Service
	}{
		{"per user and remote login", map[string]string{
			"/home/alice/.config/dconf/user": string(readDconf(t, "rdp-on")),
			"/home/bob/.config/dconf/user":   string(readDconf(t, "unset")),
			"/root/.config/dconf/user":       string(readDconf(t, "vnc-on")),
			grdCustomConf:                    "# grdctl --system\n[RDP]\nenabled=false\nport=3389\n",
			grdLocalStateConf:                "[RDP]\nenabled=true\ntls-cert=/var/lib/gnome-remote-desktop/rdp-tls.crt\n",
		}, []*fwv1.Service{
			{Name: "gnome-remote-desktop-rdp@alice", DisplayName: "GNOME Remote Desktop sharing (RDP)", Manager: "setting", Enabled: true, Username: "alice", Path: "/home/alice/.config/dconf/user"},
			{Name: "gnome-remote-desktop-vnc@alice", DisplayName: "GNOME Remote Desktop sharing (VNC)", Manager: "setting", Username: "alice", Path: "/home/alice/.config/dconf/user"},
			{Name: "gnome-remote-desktop-vnc@root", DisplayName: "GNOME Remote Desktop sharing (VNC)", Manager: "setting", Enabled: true, Username: "root", Path: "/root/.config/dconf/user"},
			{Name: "gnome-remote-desktop-rdp", DisplayName: "GNOME Remote Desktop remote login (RDP)", Manager: "setting", Enabled: true, Username: "gnome-remote-desktop", Path: grdLocalStateConf},
		}},
		// The daemon installed, its unit and D-Bus activation present,
		// nothing switched on: no setting.
		{"installed only", map[string]string{
			"/usr/lib/systemd/user/gnome-remote-desktop.service":         "[Service]\nExecStart=/usr/libexec/gnome-remote-desktop-daemon\n",
			"/usr/share/dbus-1/services/org.gnome.RemoteDesktop.service": "[D-BUS Service]\nName=org.gnome.RemoteDesktop\n",
			"/home/alice/.config/dconf/user":                             string(readDconf(t, "unset")),
			grdCustomConf:                                                "[RDP]\nport=3390\n",
		}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			files := map[string]string{"/snapshot.json": `{"os":"linux","hostname":"g"}`}
			for k, v := range tc.files {
				files[k] = v
			}
			h, err := host.FromRoot(tree(t, files))
			if err != nil {
				t.Fatal(err)
			}
			defer h.Close()
			h.Record()
			got, errs := readGNOMESharing(h)
			if len(errs) != 0 {
				t.Fatal(errs)
			}
			if diff := cmp.Diff(tc.want, got, protocmp.Transform()); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
			var snap bytes.Buffer
			if err := h.WriteSnapshot(&snap); err != nil {
				t.Fatal(err)
			}
			s, err := host.ParseSnapshot(snap.Bytes())
			if err != nil {
				t.Fatal(err)
			}
			rh, err := s.Host()
			if err != nil {
				t.Fatal(err)
			}
			defer rh.Close()
			replayed, errs := readGNOMESharing(rh)
			if diff := cmp.Diff(tc.want, replayed, protocmp.Transform()); diff != "" || len(errs) != 0 {
				t.Errorf("replay %v (-want +got):\n%s", errs, diff)
			}
			// Through the sensor's own list too.
			all, err := listServices(context.Background(), h)
			if err != nil {
				t.Fatal(err)
			}
			n := 0
			for _, s := range all {
				if s.Manager == "setting" {
					n++
				}
			}
			if n != len(tc.want) {
				t.Errorf("listServices has %d settings, want %d", n, len(tc.want))
			}
		})
	}
}

func TestKeyFileValue(t *testing.T) {
	for _, tc := range []struct {
		in, want string
		ok       bool
	}{
		{"[RDP]\nenabled=true\n", "true", true},
		{"[RDP]\n# enabled=true\n", "", false},
		{"[VNC]\nenabled=true\n[RDP]\nport=1\n", "", false},
		{"[RDP]\nenabled = false\nenabled=true\n", "true", true},
		{"enabled=true\n", "", false},
		{"[RDP ]\nenabled=true", "", false},
	} {
		got, ok := keyFileValue([]byte(tc.in), "RDP", "enabled")
		if got != tc.want || ok != tc.ok {
			t.Errorf("%q: %q %v, want %q %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}

func FuzzParseGVDB(f *testing.F) {
	for _, n := range []string{"rdp-on", "vnc-on", "off", "unset", "wrong-type"} {
		f.Add(readDconf(f, n))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		vals, err := parseGVDB(b)
		if err != nil {
			return
		}
		for _, v := range vals {
			if on, ok := v.Bool(); ok && (v.Type != "b" || len(v.Data) != 1 || on != (v.Data[0] == 1)) {
				t.Fatalf("bool %v from %+v", on, v)
			}
		}
		gnomeUserSharing(b, "u", "/f")
	})
}
