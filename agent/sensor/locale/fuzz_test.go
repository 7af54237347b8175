package locale

import (
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/farmwatch/farmwatch/agent/host"
	"howett.net/plist"
)

func FuzzParseShellVars(f *testing.F) {
	for _, s := range []string{debianKeyboard, vconsole, "LANG=ko_KR.UTF-8\n", "export X='a b' # c\n", `A="x`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		m := parseShellVars(b)
		for k := range m {
			if !isVarName(k) {
				t.Fatalf("bad name %q", k)
			}
		}
		v := localeFromVars(m)
		_ = country(v.lang)
		for _, k := range xkbLayouts("", "xkb", "/p", m["XKBLAYOUT"], m["XKBVARIANT"]) {
			if k.Layout == "" {
				t.Fatal("empty layout")
			}
		}
	})
}

func FuzzParseFcitxProfile(f *testing.F) {
	for _, s := range []string{fcitx5Profile, fcitx4Profile, "[Groups/0/Items/0]\nName=x\n", "[Groups/99999999/Items/1]\nName=y\n"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, im := range append(parseFcitx5Profile(b), parseFcitx4Profile(b)...) {
			if im.name == "" {
				t.Fatal("empty name")
			}
			k := fcitxKeyboard("u", "fcitx5", "/p", im)
			if k.InputMethod == "" && k.Layout == "" && !strings.HasPrefix(strings.TrimPrefix(im.name, "fcitx-"), "keyboard-") {
				t.Fatalf("%q: neither layout nor input method", im.name)
			}
		}
	})
}

func FuzzParseDconfEngines(f *testing.F) {
	for _, s := range []string{dconfKeyfile, "[desktop/ibus/general]\npreload-engines=@as []\n", "[desktop/ibus/general]\npreload-engines=['a\n"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, e := range parseDconfEngines(b) {
			if e == "" {
				t.Fatal("empty engine")
			}
			if k := ibusEngine("", "/p", e, false); k != nil && k.InputMethod == "" && k.Layout == "" {
				t.Fatalf("engine %q: empty", e)
			}
		}
	})
}

func FuzzParseXorgKeyboard(f *testing.F) {
	for _, s := range []string{xorgKeyboard, `Option "XkbLayout" "`, "Section\n#\"\n"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, lv := range parseXorgKeyboard(b) {
			if lv[0] == "" {
				t.Fatal("empty layout")
			}
		}
	})
}

func FuzzParseDpkgStatus(f *testing.F) {
	f.Add([]byte(dpkgStatus))
	f.Add([]byte("Package: x\nStatus:  install  ok  installed \n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, p := range parseDpkgStatus(b) {
			if p.name == "" {
				t.Fatal("empty package")
			}
			_, _ = packageLanguage(p.name)
		}
	})
}

func FuzzParseHIToolbox(f *testing.F) {
	f.Add(marshalPlist(f, hiToolboxKorean, plist.BinaryFormat))
	f.Add(marshalPlist(f, hiToolboxKorean, plist.XMLFormat))
	f.Add(marshalPlist(f, hiToolboxKorean, plist.OpenStepFormat))
	f.Add(marshalPlist(f, map[string]any{"AppleLocale": "ko_KR", "AppleLanguages": []string{"ko-KR"}}, plist.BinaryFormat))
	f.Add([]byte("<plist><dict><key>AppleEnabledInputSources</key><string>x</string></dict></plist>"))
	f.Fuzz(func(t *testing.T, b []byte) {
		if tb, err := parseHIToolbox(b); err == nil {
			for _, k := range darwinKeyboards("u", "/p", tb) {
				if k.InputMethod == "" && k.Layout == "" {
					t.Fatalf("empty input source %v", k)
				}
			}
		}
		if g, err := parseGlobalPrefs(b); err == nil {
			_ = country(g.Locale)
		}
	})
}

func FuzzKeyboardRecord(f *testing.F) {
	f.Add([]byte(windowsKeyboardJSON))
	f.Add([]byte(`{"users":[{"sid":"x","preload":{"a":"","1":"e0010412"},"tips":{"":["0412:"]}}],"timezone_key_name":"UTC"}`))
	snap, err := host.ParseSnapshot([]byte("-- snapshot.json --\n{\"os\":\"windows\",\"hostname\":\"LT\",\"captured\":\"2026-11-28T10:30:00Z\"}\n"))
	if err != nil {
		f.Fatal(err)
	}
	h, err := snap.Host()
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { h.Close() })
	f.Fuzz(func(t *testing.T, b []byte) {
		var rec keyboardRecord
		if json.Unmarshal(b, &rec) != nil {
			return
		}
		fd := windowsFound(h, rec)
		obs := observations(fd)
		seen := map[string]bool{}
		for _, o := range obs {
			if seen[o.Key] {
				t.Fatalf("duplicate key %s", o.Key)
			}
			seen[o.Key] = true
		}
	})
}

func FuzzParseTip(f *testing.F) {
	for _, s := range []string{"0412:{A028AE76-01B1-46C2-99C4-ACD9858AE02F}{B5FE1F02-D5F2-4445-9C03-C568F23C99A1}", "0409:00000409", "x:y"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		k := parseTip(s)
		if k != nil && k.InputMethod == "" && k.Layout == "" {
			t.Fatalf("parseTip(%q): empty", s)
		}
	})
}

func FuzzZoneLookup(f *testing.F) {
	for _, s := range []string{"Korea Standard Time", "/usr/share/zoneinfo/Asia/Seoul", "../zoneinfo/../../x", "Asia/Pyongyang\n"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for _, z := range []string{windowsZone(s), zoneFromLink(s), zoneFromFile([]byte(s))} {
			if z != "" && (strings.Contains(z, "..") || strings.HasPrefix(z, "/") || !utf8.ValidString(z)) {
				t.Fatalf("%q gives zone %q", s, z)
			}
		}
	})
}
