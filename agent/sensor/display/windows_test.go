package display

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestSenseWindows(t *testing.T) {
	js := strings.Replace(string(readTestdata(t, "displays.json")), "@PIKVM@", hex.EncodeToString(readKVM(t, "pikvm/v4plus.hex")), 1)
	h := packedHost(t, "windows", map[string]string{"/api/displays.json": js})
	obs, err := Sensor{}.Sense(context.Background(), h)
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, o := range obs {
		keys = append(keys, o.Key)
		switch o.Key {
		case "display/PSCCDD0/1&2a3b4c5d&0&UID256":
			d := o.GetDisplay()
			if d.Status != "connected" || !d.Enabled || d.HardwareId != "PSCCDD0" || d.Driver != "Generic PnP Monitor" || d.Edid != nil {
				t.Errorf("parsec monitor: %v", d)
			}
		case "display/LNX7773/5&1f2e3d4c&0&UID4352":
			d := o.GetDisplay()
			if d.Status != "disconnected" || d.GetEdid().GetMonitorName() != "PiKVM V4 Plus" {
				t.Errorf("pikvm monitor: %v", d)
			}
		case "driver/display_adapter/Parsec Virtual Display Adapter":
			d := o.GetDriver()
			if d.HardwareId != `root\parsec\vda` || d.Provider != "Parsec Cloud, Inc." || !strings.HasSuffix(d.Path, `{4d36e968-e325-11ce-bfc1-08002be10318}\0001`) {
				t.Errorf("parsec adapter: %v", d)
			}
		}
	}
	want := []string{
		"display/BAD0000/1", "display/LNX7773/5&1f2e3d4c&0&UID4352", "display/PSCCDD0/1&2a3b4c5d&0&UID256",
		"driver/display_adapter/Intel(R) Iris(R) Xe Graphics", "driver/display_adapter/Parsec Virtual Display Adapter",
	}
	if d := cmp.Diff(want, keys); d != "" {
		t.Errorf("keys (-want +got):\n%s", d)
	}
}

func TestSenseWindowsNotRecorded(t *testing.T) {
	h := packedHost(t, "windows", map[string]string{})
	if obs, err := (Sensor{}).Sense(context.Background(), h); err != nil || len(obs) != 0 {
		t.Fatalf("got %v, %v", obs, err)
	}
	h = packedHost(t, "windows", map[string]string{"/api/displays.json": `{"monitors": 5}`})
	if _, err := (Sensor{}).Sense(context.Background(), h); err == nil {
		t.Fatal("bad displays.json: no error")
	}
}

func TestResourceText(t *testing.T) {
	for in, want := range map[string]string{
		"@monitor.inf,%pnpmonitor.devicedesc%;Generic PnP Monitor": "Generic PnP Monitor",
		"Generic Monitor": "Generic Monitor",
		"@x":              "@x",
	} {
		if got := resourceText(in); got != want {
			t.Errorf("resourceText(%q) = %q", in, got)
		}
	}
}

func FuzzWindowsRecord(f *testing.F) {
	f.Add(readTestdata(f, "displays.json"))
	f.Fuzz(func(t *testing.T, b []byte) {
		var rec winDisplays
		if json.Unmarshal(b, &rec) != nil {
			return
		}
		ds, drv := winObservations(rec)
		if len(ds) > len(rec.Monitors) || len(drv) > len(rec.Adapters) {
			t.Fatalf("%d displays from %d monitors, %d drivers from %d adapters", len(ds), len(rec.Monitors), len(drv), len(rec.Adapters))
		}
		for _, d := range ds {
			if d.HardwareId == "" || !strings.HasPrefix(d.Connector, d.HardwareId+"/") || d.Path != enumDisplayKey+`\`+d.Connector[:len(d.HardwareId)]+`\`+d.Connector[len(d.HardwareId)+1:] ||
				d.Enabled != (d.Status == "connected") || d.Status != "connected" && d.Status != "disconnected" {
				t.Fatalf("display %v", d)
			}
		}
		for _, d := range drv {
			if d.Name == "" || d.Type != "display_adapter" || !strings.HasPrefix(d.Path, displayClassKey+`\`) {
				t.Fatalf("driver %v", d)
			}
		}
		checkFound(t, ds, drv)
	})
}
