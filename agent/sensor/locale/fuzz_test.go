package locale

import (
	"bytes"
	"cmp"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/farmwatch/farmwatch/agent/host"
	"google.golang.org/protobuf/proto"
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
		for k, v := range m {
			if strings.Contains(v, "\n") || !bytes.Contains(b, []byte(k)) {
				t.Fatalf("%s=%q: not a one-line assignment of the input", k, v)
			}
		}
		v := localeFromVars(m)
		if c := country(v.lang); c != "" && (len(c) != 2 || c != strings.ToUpper(c) || !isAlpha(c)) {
			t.Fatalf("country(%q) = %q", v.lang, c)
		}
		ks := xkbLayouts("", "xkb", "/p", m["XKBLAYOUT"], m["XKBVARIANT"])
		if len(ks) > strings.Count(m["XKBLAYOUT"], ",")+1 {
			t.Fatalf("%d layouts from %q", len(ks), m["XKBLAYOUT"])
		}
		for i, k := range ks {
			if k.Layout == "" || k.Active && (i > 0 || splitList(m["XKBLAYOUT"])[0] != k.Layout) {
				t.Fatalf("layout %v: empty, or active and not the first", k)
			}
		}
		// Any value, quoted, reads back as it is; the last assignment wins.
		val := strings.NewReplacer("'", "", "\n", "", "\r", "").Replace(string(b))
		if got := parseShellVars([]byte(string(b) + "\nexport XKBLAYOUT='" + val + "'\n")); got["XKBLAYOUT"] != val {
			t.Fatalf("XKBLAYOUT='%s' read as %q", val, got["XKBLAYOUT"])
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
			if k.InputMethod != "" && k.InputMethod != im.name || k.Username != "u" || k.Path != "/p" {
				t.Fatalf("%q gives %v", im.name, k)
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
		// Any two engine names, in either quotes, read back in order.
		clean := strings.NewReplacer("\n", "", "\r", "").Replace(string(b))
		a, d := strings.ReplaceAll(clean, "'", ""), strings.ReplaceAll(clean, `"`, "")
		file := "[desktop/ibus/general]\npreload-engines=@as ['" + a + "', \"" + d + "\"]\n"
		var want []string
		for _, e := range []string{a, d} {
			if e != "" {
				want = append(want, e)
			}
		}
		if got := parseDconfEngines([]byte(file)); !slices.Equal(got, want) {
			t.Fatalf("parseDconfEngines(%q) = %q, want %q", file, got, want)
		}
	})
}

func FuzzParseXorgKeyboard(f *testing.F) {
	for _, s := range []string{xorgKeyboard, `Option "XkbLayout" "`, "Section\n#\"\n"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		lvs := parseXorgKeyboard(b)
		if n := bytes.Count(b, []byte("\n")) + 1; len(lvs) > n {
			t.Fatalf("%d layouts from %d lines", len(lvs), n)
		}
		for _, lv := range lvs {
			if lv[0] == "" || strings.ContainsAny(lv[0]+lv[1], "\"\n") {
				t.Fatalf("layout %q", lv)
			}
		}
	})
}

func FuzzParseDpkgStatus(f *testing.F) {
	f.Add([]byte(dpkgStatus))
	f.Add([]byte("Package: x\nStatus:  install  ok  installed \n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		ps := parseDpkgStatus(b)
		if n := bytes.Count(b, []byte("Package:")); len(ps) > n {
			t.Fatalf("%d packages from %d Package fields", len(ps), n)
		}
		for _, p := range ps {
			if p.name == "" || strings.ContainsAny(p.name+p.version, "\n") {
				t.Fatalf("package %+v", p)
			}
			_, _ = packageLanguage(p.name)
		}
		// An installed package after anything is read as it was written.
		name := strings.TrimSpace(strings.NewReplacer("\n", "", "\r", "").Replace(string(b)))
		if name == "" {
			return
		}
		ps = parseDpkgStatus([]byte(string(b) + "\n\nPackage: " + name + "\nStatus: install ok installed\nVersion: 1:2.3-4\n"))
		if len(ps) == 0 || ps[len(ps)-1] != (dpkgPackage{name: name, version: "1:2.3-4"}) {
			t.Fatalf("package %q not read last: %+v", name, ps)
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
			selected := map[string]bool{}
			for _, src := range tb.Selected {
				selected[src.id()] = true
			}
			ks := darwinKeyboards("u", "/p", tb)
			if len(ks) > len(tb.Enabled) {
				t.Fatalf("%d input sources from %d enabled", len(ks), len(tb.Enabled))
			}
			for _, k := range ks {
				if k.InputMethod == "" && k.Layout == "" {
					t.Fatalf("empty input source %v", k)
				}
				id := cmp.Or(k.InputMethod, k.Layout)
				if k.Active != selected[id] || k.Username != "u" || k.Source != "hitoolbox" {
					t.Fatalf("input source %v: active %v, selected %v", k, k.Active, selected[id])
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
			if o.Key == "" || o.Kind == nil || seen[o.Key] {
				t.Fatalf("observation %v: no key, no kind, or a key twice", o)
			}
			seen[o.Key] = true
		}
		if !seen["locale/system"] || len(fd.locales) != len(rec.Users)+1 {
			t.Fatalf("%d locales for %d users, system's %v", len(fd.locales), len(rec.Users), seen["locale/system"])
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
		if k != nil && (k.InputMethod != strings.ToUpper(k.InputMethod) || k.Layout != strings.ToLower(k.Layout) || k.Source != "tip") {
			t.Fatalf("parseTip(%q) = %v: not in its case", s, k)
		}
		// Windows writes hex in either case: the case says nothing.
		if lo, up := parseTip(asciiCase(s, 'a'-'A')), parseTip(asciiCase(s, 0)); !proto.Equal(lo, up) {
			t.Fatalf("parseTip of %q: %v lower case, %v upper case", s, lo, up)
		}
	})
}

func FuzzZoneLookup(f *testing.F) {
	for _, s := range []string{"Korea Standard Time", "/usr/share/zoneinfo/Asia/Seoul", "../zoneinfo/../../x", "Asia/Pyongyang\n"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for _, z := range []string{windowsZone(s), zoneFromLink(s), zoneFromFile([]byte(s))} {
			if z != "" && (strings.Contains(z, "..") || strings.HasPrefix(z, "/") || !utf8.ValidString(z) || !zoneName.MatchString(z)) {
				t.Fatalf("%q gives zone %q", s, z)
			}
			// A zone the link names, the file names too, and the reverse.
			if z != "" && !strings.Contains(z, "zoneinfo/") && !strings.HasPrefix(z, "posix/") && !strings.HasPrefix(z, "right/") &&
				(zoneFromLink("/usr/share/zoneinfo/posix/"+z) != z || zoneFromFile([]byte(z+"\n")) != z) {
				t.Fatalf("zone %q is not read back from a link and a file", z)
			}
		}
	})
}

// asciiCase writes the ASCII letters of s in lower case (shift 'a'-'A')
// or upper case (shift 0), and leaves every other byte.
func asciiCase(s string, shift byte) string {
	b := []byte(s)
	for i, c := range b {
		if c|0x20 >= 'a' && c|0x20 <= 'z' {
			b[i] = c&^0x20 + shift
		}
	}
	return string(b)
}
