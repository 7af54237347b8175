package dumpconv

import (
	"encoding/json"
	"testing"

	"github.com/google/go-cmp/cmp"
	"howett.net/plist"
)

const ioregSample = `+-o AppleCLCD2  <class AppleCLCD2, id 0x1000003e1, registered, matched, active, busy 0 (5 ms), retain 12>
    {
      "IOClass" = "AppleCLCD2"
      "external" = Yes
      "DisplayAttributes" = {"ProductAttributes"={"ManufacturerID"="DEL","ProductID"=53496,"LegacyManufacturerID"=4268},"MaxHorizontalImageSize"=53}
      "IONameMatch" = ("disp0,t600x","dispext0,t600x")
      "Freqs" = [30000000,5000000000]
      "compatible" = <"disp0,t8103">
      "IODisplayConnectFlags" = <00000000>
      "Cut" = {"a"=1,"b$
    }
    | +-o child@1  <class IOService, id 0x10, registered>
    |     {
    |       "n" = 18446744073709551615
    |     }
`

func TestIoregText(t *testing.T) {
	x, err := IoregText([]byte(ioregSample))
	if err != nil {
		t.Fatal(err)
	}
	var got []map[string]any
	if _, err := plist.Unmarshal(x, &got); err != nil {
		t.Fatal(err)
	}
	want := []map[string]any{{
		"IORegistryEntryName": "AppleCLCD2", "IOObjectClass": "AppleCLCD2", "IORegistryEntryID": uint64(0x1000003e1),
		"IOClass": "AppleCLCD2", "external": true,
		"DisplayAttributes": map[string]any{"ProductAttributes": map[string]any{"ManufacturerID": "DEL", "ProductID": uint64(53496), "LegacyManufacturerID": uint64(4268)},
			"MaxHorizontalImageSize": uint64(53)},
		"IONameMatch":           []any{"disp0,t600x", "dispext0,t600x"},
		"Freqs":                 []any{uint64(30000000), uint64(5000000000)},
		"compatible":            []byte("disp0,t8103"),
		"IODisplayConnectFlags": []byte{0, 0, 0, 0},
		"Cut":                   `{"a"=1,"b$`,
		"IORegistryEntryChildren": []any{map[string]any{
			"IORegistryEntryName": "child@1", "IOObjectClass": "IOService", "IORegistryEntryID": uint64(0x10), "n": uint64(18446744073709551615),
		}},
	}}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("(-want +got):\n%s", d)
	}
	if _, err := IoregText([]byte("no tree here\n")); err == nil {
		t.Error("text without entries: no error")
	}
}

func TestSystemProfilerJSON(t *testing.T) {
	xml := `<?xml version="1.0" encoding="UTF-8"?>
<plist version="1.0"><array><dict>
<key>_SPCommandLineArguments</key><array><string>/usr/sbin/system_profiler</string></array>
<key>_dataType</key><string>SPUSBDataType</string>
<key>_items</key><array><dict><key>_name</key><string>USB31Bus</string>
<key>_items</key><array><dict><key>_name</key><string>Keyboard</string><key>vendor_id</key><string>0x05ac</string>
<key>edid</key><data>AP8=</data><key>n</key><integer>7</integer></dict></array></dict></array>
</dict></array></plist>`
	b, err := SystemProfilerJSON([]byte(xml))
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"SPUSBDataType": []any{map[string]any{"_name": "USB31Bus", "_items": []any{
		map[string]any{"_name": "Keyboard", "vendor_id": "0x05ac", "edid": "0x00ff", "n": float64(7)}}}}}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("(-want +got):\n%s", d)
	}
}

func TestParseRegExport(t *testing.T) {
	text := "Windows Registry Editor Version 5.00\r\n\r\n" +
		"[HKEY_LOCAL_MACHINE\\SYSTEM\\CurrentControlSet\\Enum\\DISPLAY\\DEL405E\\5&1a2b&0&UID4352]\r\n" +
		"\"DeviceDesc\"=\"@monitor.inf,%pnpmonitor.devicedesc%;Generic PnP Monitor\"\r\n" +
		"\"Capabilities\"=dword:00000024\r\n" +
		"\"HardwareID\"=hex(7):4d,00,4f,00,4e,00,49,00,54,00,4f,00,52,00,5c,00,44,00,45,00,\\\r\n" +
		"  4c,00,00,00,00,00\r\n" +
		"\"Path\"=\"C:\\\\x \\\"q\\\"\"\r\n" +
		"@=\"def\"\r\n" +
		"\"Gone\"=-\r\n" +
		"[HKEY_LOCAL_MACHINE\\SYSTEM\\CurrentControlSet\\Enum\\DISPLAY\\DEL405E\\5&1a2b&0&UID4352\\Device Parameters]\r\n" +
		"\"EDID\"=hex:00,ff,ff,ff\r\n"
	// As reg export writes it: UTF-16LE with a byte-order mark.
	b := append([]byte{0xff, 0xfe}, utf16Bytes(text)...)
	keys, err := ParseRegExport(b)
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 2 {
		t.Fatalf("keys: %+v", keys)
	}
	v := keys[0].Values
	if v["DeviceDesc"].String() != "@monitor.inf,%pnpmonitor.devicedesc%;Generic PnP Monitor" || v[""].String() != "def" || v["Path"].String() != `C:\x "q"` {
		t.Errorf("strings: %+v", v)
	}
	if n, ok := v["Capabilities"].Uint32(); !ok || n != 0x24 {
		t.Errorf("dword: %v", n)
	}
	if d := cmp.Diff([]string{`MONITOR\DEL`}, v["HardwareID"].Strings()); d != "" || v["HardwareID"].Type != "REG_MULTI_SZ" {
		t.Errorf("multi: %s", d)
	}
	if _, ok := v["Gone"]; ok {
		t.Error("deleted value kept")
	}
	if k := Key(keys, `hkey_local_machine\SYSTEM\CurrentControlSet\Enum\DISPLAY\DEL405E\5&1a2b&0&UID4352\Device Parameters`); k == nil || len(k.Values["EDID"].Data) != 4 {
		t.Errorf("EDID: %+v", k)
	}
	if _, err := ParseRegExport([]byte("hello\n")); err == nil {
		t.Error("not a .reg file: no error")
	}
}

// The converters read published text; none may panic or loop on a
// damaged copy, and what they produce must read back.
func FuzzIoregText(f *testing.F) {
	f.Add([]byte(ioregSample))
	f.Add([]byte("+-o A  <class B, id 0x1>\n  +-o C  <class D>\n    {\n      \"k\" = ((((\n    }\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		x, err := IoregText(b)
		if err != nil {
			return
		}
		var roots []map[string]any
		if _, err := plist.Unmarshal(x, &roots); err != nil {
			t.Fatalf("output does not read back: %v", err)
		}
		if len(roots) == 0 {
			t.Fatal("no entries, but no error")
		}
	})
}

func FuzzParseRegExport(f *testing.F) {
	f.Add([]byte("Windows Registry Editor Version 5.00\n[K]\n\"a\"=hex(7):41,00,00,00,00,00\n\"b\"=dword:1\n"))
	f.Add([]byte("REGEDIT4\n[K]\n\"a\"=hex(2):41,42,00\n@=\"x\\\\\"\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		keys, err := ParseRegExport(b)
		if err != nil {
			return
		}
		for _, k := range keys {
			for _, v := range k.Values {
				_ = v.String()
				_ = v.Strings()
				if len(v.Data) > len(b)*2+2 {
					t.Fatalf("value of %d bytes from %d bytes of input", len(v.Data), len(b))
				}
			}
		}
	})
}
