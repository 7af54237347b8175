package locale

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/farmwatch/farmwatch/agent/host"
	"github.com/farmwatch/farmwatch/agent/sensor/internal/dumpconv"
	fwv1 "github.com/farmwatch/farmwatch/proto/farmwatch/v1"
	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/testing/protocmp"
)

// keyboardFromReg converts a `reg export` of one user hive (its Keyboard
// Layout and Control Panel\International keys, rooted at hive) into the
// userKeyboard liveKeyboard reads from the same keys: Preload,
// Substitutes, User Profile's Languages and InputMethodOverride, the
// input profiles under User Profile\<language>, LocaleName.
func keyboardFromReg(keys []dumpconv.RegKey, hive, sid string) userKeyboard {
	u := userKeyboard{SID: sid}
	strs := func(path string) map[string]string {
		k := dumpconv.Key(keys, hive+`\`+path)
		if k == nil || len(k.Values) == 0 {
			return nil
		}
		m := map[string]string{}
		for n, v := range k.Values {
			if v.Type == "REG_SZ" {
				m[n] = v.String()
			}
		}
		return m
	}
	u.Preload = strs(`Keyboard Layout\Preload`)
	u.Substitutes = strs(`Keyboard Layout\Substitutes`)
	if k := dumpconv.Key(keys, hive+`\`+userProfileKey); k != nil {
		u.Languages = k.Values["Languages"].Strings()
		if v, ok := k.Values["InputMethodOverride"]; ok {
			u.InputMethodOverride = v.String()
		}
	}
	for _, lang := range u.Languages {
		k := dumpconv.Key(keys, hive+`\`+userProfileKey+`\`+lang)
		if k == nil {
			continue
		}
		for n := range k.Values {
			if parseTip(n) != nil {
				if u.Tips == nil {
					u.Tips = map[string][]string{}
				}
				u.Tips[lang] = append(u.Tips[lang], n)
			}
		}
	}
	if k := dumpconv.Key(keys, hive+`\`+internationalKey); k != nil {
		u.LocaleName = k.Values["LocaleName"].String()
	}
	return u
}

// TestWindowsKeyboardPublicReg replays real `reg export`s of a user hive's
// keyboard and language keys (testdata/public, cited in
// testdata/README.md) as api/keyboard.json snapshots: a Japanese user with
// the Microsoft IME and a US layout, a British user.
func TestWindowsKeyboardPublicReg(t *testing.T) {
	for _, tt := range []struct {
		file      string
		keyboards []*fwv1.KeyboardLayout
		lang      string
		langs     []string
	}{
		{"aib-ja-jp-default.reg", []*fwv1.KeyboardLayout{
			{Username: "S-1-5-21-1-2-3-1001", Source: "preload", Path: `HKU\S-1-5-21-1-2-3-1001\Keyboard Layout\Preload\1`, Layout: "00000411", Language: "ja-JP", Active: true},
			{Username: "S-1-5-21-1-2-3-1001", Source: "preload", Path: `HKU\S-1-5-21-1-2-3-1001\Keyboard Layout\Preload\2`, Layout: "00000409", Language: "en-US"},
			{Username: "S-1-5-21-1-2-3-1001", Source: "tip", Path: `HKU\S-1-5-21-1-2-3-1001\Control Panel\International\User Profile\ja`, InputMethod: "0411:{03B5835F-F03C-411B-9CE2-AA23E1171E36}{A76C93D9-5523-4E90-AAFA-4DB112F9AC76}", Language: "ja-JP"},
		}, "ja-JP", []string{"ja", "en-US"}},
		{"vinnie-en-gb-default.reg", []*fwv1.KeyboardLayout{
			{Username: "S-1-5-21-1-2-3-1001", Source: "preload", Path: `HKU\S-1-5-21-1-2-3-1001\Keyboard Layout\Preload\1`, Layout: "00000809", Language: "en-GB", Active: true},
			{Username: "S-1-5-21-1-2-3-1001", Source: "tip", Path: `HKU\S-1-5-21-1-2-3-1001\Control Panel\International\User Profile\en-GB`, Layout: "00000809", Language: "en-GB"},
		}, "en-GB", []string{"en-GB"}},
	} {
		t.Run(tt.file, func(t *testing.T) {
			b, err := os.ReadFile(filepath.Join("testdata", "public", tt.file))
			if err != nil {
				t.Fatal(err)
			}
			keys, err := dumpconv.ParseRegExport(b)
			if err != nil {
				t.Fatal(err)
			}
			const sid = "S-1-5-21-1-2-3-1001"
			rec := keyboardRecord{Users: []userKeyboard{keyboardFromReg(keys, `HKEY_USERS\DEFAULT_USER`, sid)}, TimeZoneKeyName: "Tokyo Standard Time"}
			js, err := json.Marshal(rec)
			if err != nil {
				t.Fatal(err)
			}
			snap, err := host.ParseSnapshot([]byte("-- snapshot.json --\n{\"os\":\"windows\",\"hostname\":\"LT\",\"captured\":\"2026-11-28T10:30:00Z\"}\n-- api/keyboard.json --\n" + string(js) + "\n"))
			if err != nil {
				t.Fatal(err)
			}
			h, err := snap.Host()
			if err != nil {
				t.Fatal(err)
			}
			defer h.Close()
			f, err := readWindows(context.Background(), h)
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(tt.keyboards, f.keyboards, protocmp.Transform()); d != "" {
				t.Errorf("keyboards (-want +got):\n%s", d)
			}
			var user *fwv1.Locale
			for _, l := range f.locales {
				if l.GetSource() == "user" {
					user = l
				}
			}
			if user == nil || user.GetLang() != tt.lang || strings.Join(user.GetLanguages(), ",") != strings.Join(tt.langs, ",") || user.GetWindowsTimezone() != "Tokyo Standard Time" || user.GetTimezone() != "Asia/Tokyo" {
				t.Errorf("user locale %v, want %s %v", user, tt.lang, tt.langs)
			}
		})
	}
}

func FuzzKeyboardFromReg(f *testing.F) {
	for _, n := range []string{"aib-ja-jp-default.reg", "vinnie-en-gb-default.reg"} {
		b, err := os.ReadFile(filepath.Join("testdata", "public", n))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		keys, err := dumpconv.ParseRegExport(b)
		if err != nil {
			return
		}
		u := keyboardFromReg(keys, `HKEY_USERS\DEFAULT_USER`, "S-1-5-21-1")
		for lang, tips := range u.Tips {
			for _, tip := range tips {
				if parseTip(tip) == nil {
					t.Fatalf("tip %q of %q does not parse", tip, lang)
				}
			}
		}
	})
}
