package locale

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/farmwatch/farmwatch/agent/host"
	fwv1 "github.com/farmwatch/farmwatch/proto/farmwatch/v1"
	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/testing/protocmp"
	"howett.net/plist"
)

// tree writes files (and links, for values starting with "->") under a new
// root with a snapshot.json of the given OS.
func tree(t *testing.T, goos string, files map[string]string) *host.Host {
	t.Helper()
	dir := t.TempDir()
	files["/snapshot.json"] = `{"os":"` + goos + `","hostname":"h","captured":"2026-11-28T10:30:00Z"}`
	for p, c := range files {
		fp := filepath.Join(dir, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(fp), 0o755); err != nil {
			t.Fatal(err)
		}
		if len(c) > 2 && c[:2] == "->" {
			if err := os.Symlink(c[2:], fp); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if err := os.WriteFile(fp, []byte(c), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	h, err := host.FromRoot(dir)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func keys(obs []*fwv1.Observation) []string {
	var out []string
	for _, o := range obs {
		out = append(out, o.Key)
	}
	return out
}

func find(t *testing.T, obs []*fwv1.Observation, key string) *fwv1.Observation {
	t.Helper()
	for _, o := range obs {
		if o.Key == key {
			return o
		}
	}
	t.Fatalf("no observation %s in %v", key, keys(obs))
	return nil
}

func TestSenseLinux(t *testing.T) {
	h := tree(t, "linux", map[string]string{
		"/etc/default/keyboard":                     debianKeyboard,
		"/etc/vconsole.conf":                        "KEYMAP=kr\n",
		"/etc/X11/xorg.conf.d/00-keyboard.conf":     xorgKeyboard,
		"/etc/default/locale":                       "LANG=ko_KR.UTF-8\nLC_TIME=en_US.UTF-8\n",
		"/etc/localtime":                            "->/usr/share/zoneinfo/Asia/Seoul",
		"/etc/timezone":                             "Asia/Shanghai\n",
		"/etc/dconf/db/local.d/00-ibus":             dconfKeyfile,
		"/etc/dconf/db/local.d/locks/ibus":          "/desktop/ibus/general/preload-engines\n",
		"/var/lib/dpkg/status":                      dpkgStatus,
		"/home/minsu/.config/fcitx5/profile":        fcitx5Profile,
		"/home/minsu/.config/fcitx/profile":         fcitx4Profile,
		"/home/bob/.bashrc":                         "",
		"/var/lib/AccountsService/users/minsu":      "[User]\nLanguage=ko_KR.UTF-8\nFormatsLocale=en_US.UTF-8\nXSession=ubuntu\n",
		"/var/lib/AccountsService/users/../../../x": "",
		"/home/.hidden/.config/fcitx5/profile":      fcitx5Profile,
		"/home/lost+found/x":                        "",
		"/home/bob/.config/locale.conf":             "LANG=en_US.UTF-8\n",
	})
	obs, err := Sensor{}.Sense(context.Background(), h)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"keyboard/minsu/fcitx/hangul",
		"keyboard/minsu/fcitx/mozc",
		"keyboard/minsu/fcitx/us",
		"keyboard/minsu/fcitx5/hangul",
		"keyboard/minsu/fcitx5/pinyin",
		"keyboard/minsu/fcitx5/us",
		"keyboard/system/dpkg/fcitx5-hangul",
		"keyboard/system/dpkg/ibus-libpinyin",
		"keyboard/system/ibus/hangul",
		"keyboard/system/ibus/kr(kr104)",
		"keyboard/system/ibus/us",
		"keyboard/system/vconsole/kr",
		"keyboard/system/xkb/kr(kr104)",
		"keyboard/system/xkb/us",
		"keyboard/system/xorg/kr(kr104)",
		"keyboard/system/xorg/us",
		"locale/bob",
		"locale/minsu",
		"locale/system",
	}
	if d := cmp.Diff(want, keys(obs)); d != "" {
		t.Errorf("keys -want +got\n%s", d)
	}
	sys := find(t, obs, "locale/system").GetLocale()
	wantSys := &fwv1.Locale{Source: "system", Lang: "ko_KR.UTF-8", Country: "KR", Timezone: "Asia/Seoul", UtcOffsetSeconds: 9 * 3600, Lc: []string{"LC_TIME=en_US.UTF-8"}, Path: "/etc/default/locale"}
	if d := cmp.Diff(wantSys, sys, protocmp.Transform()); d != "" {
		t.Errorf("system locale -want +got\n%s", d)
	}
	hangul := find(t, obs, "keyboard/minsu/fcitx5/hangul").GetKeyboardLayout()
	wantHangul := &fwv1.KeyboardLayout{Username: "minsu", Source: "fcitx5", Path: "/home/minsu/.config/fcitx5/profile", InputMethod: "hangul", Language: "ko", Active: true}
	if d := cmp.Diff(wantHangul, hangul, protocmp.Transform()); d != "" {
		t.Errorf("fcitx5 hangul -want +got\n%s", d)
	}
	pkg := find(t, obs, "keyboard/system/dpkg/fcitx5-hangul").GetKeyboardLayout()
	if !pkg.Installed || pkg.Language != "ko" || pkg.Active {
		t.Errorf("dpkg package: %v", pkg)
	}
	user := find(t, obs, "locale/minsu").GetLocale()
	if user.Lang != "ko_KR.UTF-8" || user.Timezone != "Asia/Seoul" || user.Country != "KR" {
		t.Errorf("user locale: %v", user)
	}
}

func TestSenseLinuxEmpty(t *testing.T) {
	obs, err := Sensor{}.Sense(context.Background(), tree(t, "linux", map[string]string{"/etc/hostname": "h\n"}))
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff([]string{"locale/system"}, keys(obs)); d != "" {
		t.Errorf("-want +got\n%s", d)
	}
}

func TestSenseLinuxTimezoneFile(t *testing.T) {
	// Without the link, /etc/timezone; the offset of Asia/Pyongyang at the
	// capture time (2026) is +09:00.
	obs, err := Sensor{}.Sense(context.Background(), tree(t, "linux", map[string]string{"/etc/timezone": "Asia/Pyongyang\n"}))
	if err != nil {
		t.Fatal(err)
	}
	l := find(t, obs, "locale/system").GetLocale()
	if l.Timezone != "Asia/Pyongyang" || l.UtcOffsetSeconds != 9*3600 || l.Path != "/etc/timezone" {
		t.Errorf("locale: %v", l)
	}
}

func TestUTCOffsetFromHostZoneinfo(t *testing.T) {
	// The host's own zoneinfo file wins over the scanning machine's: a
	// zone file for a made-up name is found only in the host.
	src, err := os.ReadFile("/usr/share/zoneinfo/Asia/Kathmandu")
	if err != nil {
		t.Skip("no zoneinfo on this machine:", err)
	}
	h := tree(t, "linux", map[string]string{"/usr/share/zoneinfo/Farm/Zone": string(src)})
	off, ok := utcOffset(h, "Farm/Zone")
	if !ok || off != 5*3600+45*60 {
		t.Errorf("utcOffset = %d, %v; want +05:45", off, ok)
	}
	if _, ok := utcOffset(h, "No/Such_Zone"); ok {
		t.Error("unknown zone: offset known")
	}
	if _, ok := utcOffset(h, "../../etc/passwd"); ok {
		t.Error("path as a zone: offset known")
	}
}

// hiToolboxKorean is the HIToolbox preferences of a user with U.S. and the
// Korean 2-Set input mode, Korean selected.
var hiToolboxKorean = map[string]any{
	"AppleEnabledInputSources": []any{
		map[string]any{"InputSourceKind": "Keyboard Layout", "KeyboardLayout ID": 0, "KeyboardLayout Name": "U.S."},
		map[string]any{"Bundle ID": "com.apple.inputmethod.Korean", "InputSourceKind": "Keyboard Input Method"},
		map[string]any{"Bundle ID": "com.apple.inputmethod.Korean", "Input Mode": "com.apple.inputmethod.Korean.2SetKorean", "InputSourceKind": "Input Mode"},
		map[string]any{"Bundle ID": "com.apple.CharacterPaletteIM", "InputSourceKind": "Non Keyboard Input Method"},
	},
	"AppleSelectedInputSources": []any{
		map[string]any{"Bundle ID": "com.apple.inputmethod.Korean", "Input Mode": "com.apple.inputmethod.Korean.2SetKorean", "InputSourceKind": "Input Mode"},
	},
	"AppleCurrentKeyboardLayoutInputSourceID": "com.apple.keylayout.2SetHangul",
}

func marshalPlist(t testing.TB, v any, format int) []byte {
	t.Helper()
	b, err := plist.Marshal(v, format)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestSenseDarwin(t *testing.T) {
	h := tree(t, "darwin", map[string]string{
		"/etc/localtime": "->/var/db/timezone/zoneinfo/Asia/Seoul",
		"/Library/Preferences/.GlobalPreferences.plist":               string(marshalPlist(t, map[string]any{"AppleLocale": "en_US", "AppleLanguages": []string{"en-US"}}, plist.BinaryFormat)),
		"/Users/alice/Library/Preferences/com.apple.HIToolbox.plist":  string(marshalPlist(t, hiToolboxKorean, plist.BinaryFormat)),
		"/Users/alice/Library/Preferences/.GlobalPreferences.plist":   string(marshalPlist(t, map[string]any{"AppleLocale": "ko_KR", "AppleLanguages": []string{"ko-KR", "en-US"}}, plist.XMLFormat)),
		"/Users/Shared/Library/Preferences/com.apple.HIToolbox.plist": string(marshalPlist(t, hiToolboxKorean, plist.XMLFormat)),
		"/Users/bob/Library/Preferences/com.apple.HIToolbox.plist":    "not a plist",
	})
	obs, err := Sensor{}.Sense(context.Background(), h)
	if err == nil {
		t.Error("a broken plist: no error")
	}
	want := []string{
		"keyboard/alice/hitoolbox/U.S.(0)",
		"keyboard/alice/hitoolbox/com.apple.CharacterPaletteIM",
		"keyboard/alice/hitoolbox/com.apple.inputmethod.Korean",
		"keyboard/alice/hitoolbox/com.apple.inputmethod.Korean.2SetKorean",
		"locale/alice",
		"locale/system",
	}
	if d := cmp.Diff(want, keys(obs)); d != "" {
		t.Errorf("keys -want +got\n%s", d)
	}
	k := find(t, obs, "keyboard/alice/hitoolbox/com.apple.inputmethod.Korean.2SetKorean").GetKeyboardLayout()
	wantK := &fwv1.KeyboardLayout{Username: "alice", Source: "hitoolbox", Path: "/Users/alice/Library/Preferences/com.apple.HIToolbox.plist", InputMethod: "com.apple.inputmethod.Korean.2SetKorean", Variant: "com.apple.inputmethod.Korean", Language: "ko", Active: true}
	if d := cmp.Diff(wantK, k, protocmp.Transform()); d != "" {
		t.Errorf("korean -want +got\n%s", d)
	}
	l := find(t, obs, "locale/alice").GetLocale()
	if l.Lang != "ko_KR" || l.Country != "KR" || l.Timezone != "Asia/Seoul" || l.UtcOffsetSeconds != 9*3600 || len(l.Languages) != 2 {
		t.Errorf("user locale: %v", l)
	}
	if s := find(t, obs, "locale/system").GetLocale(); s.Lang != "en_US" || s.Timezone != "Asia/Seoul" {
		t.Errorf("system locale: %v", s)
	}
}

const windowsKeyboardJSON = `{
 "users": [
  {"sid": "S-1-5-21-1004336348-1177238915-682003330-1001", "profile_path": "C:\\Users\\alice",
   "preload": {"1": "00000409", "2": "00000412"},
   "languages": ["en-US", "ko-KR"],
   "tips": {"en-US": ["0409:00000409"], "ko-KR": ["0412:{A028AE76-01B1-46C2-99C4-ACD9858AE02F}{B5FE1F02-D5F2-4445-9C03-C568F23C99A1}"]},
   "input_method_override": "0412:{A028AE76-01B1-46C2-99C4-ACD9858AE02F}{B5FE1F02-D5F2-4445-9C03-C568F23C99A1}",
   "locale_name": "en-US"}
 ],
 "system_locale": "00000409",
 "timezone_key_name": "Korea Standard Time"
}
`

func TestSenseWindows(t *testing.T) {
	snap, err := host.ParseSnapshot([]byte("-- snapshot.json --\n{\"os\":\"windows\",\"hostname\":\"LT\",\"captured\":\"2026-11-28T10:30:00Z\"}\n-- api/keyboard.json --\n" + windowsKeyboardJSON))
	if err != nil {
		t.Fatal(err)
	}
	h, err := snap.Host()
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	obs, err := Sensor{}.Sense(context.Background(), h)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"keyboard/alice/preload/00000409",
		"keyboard/alice/preload/00000412",
		"keyboard/alice/tip/00000409",
		"keyboard/alice/tip/0412:{A028AE76-01B1-46C2-99C4-ACD9858AE02F}{B5FE1F02-D5F2-4445-9C03-C568F23C99A1}",
		"locale/alice",
		"locale/system",
	}
	if d := cmp.Diff(want, keys(obs)); d != "" {
		t.Errorf("keys -want +got\n%s", d)
	}
	ime := find(t, obs, want[3]).GetKeyboardLayout()
	wantIME := &fwv1.KeyboardLayout{Username: "alice", Source: "tip", Path: `HKU\S-1-5-21-1004336348-1177238915-682003330-1001\Control Panel\International\User Profile\ko-KR`,
		InputMethod: "0412:{A028AE76-01B1-46C2-99C4-ACD9858AE02F}{B5FE1F02-D5F2-4445-9C03-C568F23C99A1}", Variant: "Microsoft Korean IME", Language: "ko-KR", Active: true}
	if d := cmp.Diff(wantIME, ime, protocmp.Transform()); d != "" {
		t.Errorf("ime -want +got\n%s", d)
	}
	sys := find(t, obs, "locale/system").GetLocale()
	wantSys := &fwv1.Locale{Source: "system", Lang: "en-US", Country: "US", Timezone: "Asia/Seoul", UtcOffsetSeconds: 9 * 3600, WindowsTimezone: "Korea Standard Time", Path: nlsLocaleKey}
	if d := cmp.Diff(wantSys, sys, protocmp.Transform()); d != "" {
		t.Errorf("system -want +got\n%s", d)
	}
	if p := find(t, obs, "keyboard/alice/preload/00000412").GetKeyboardLayout(); p.Language != "ko-KR" || p.Active {
		t.Errorf("preload 2: %v", p)
	}
}

// A Windows snapshot taken before the locale sensor existed has no
// api/keyboard.json: that is "unknown", as for the other sensors' API
// entries, not a failure that would mark every older scan incomplete.
func TestSenseWindowsNotRecorded(t *testing.T) {
	snap, err := host.ParseSnapshot([]byte("-- snapshot.json --\n{\"os\":\"windows\",\"hostname\":\"LT\"}\n"))
	if err != nil {
		t.Fatal(err)
	}
	h, err := snap.Host()
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	obs, err := (Sensor{}).Sense(context.Background(), h)
	if err != nil {
		t.Errorf("no api/keyboard.json: %v", err)
	}
	if len(obs) != 0 {
		t.Errorf("no api/keyboard.json, yet observations: %v", obs)
	}
}

func TestWindowsUser(t *testing.T) {
	for _, tt := range []struct {
		u    userKeyboard
		want string
	}{
		{userKeyboard{SID: "S-1-5-21-1", ProfilePath: `C:\Users\alice`}, "alice"},
		{userKeyboard{SID: "S-1-5-21-1", ProfilePath: `C:\Users\alice\`}, "alice"},
		{userKeyboard{SID: "S-1-5-21-1", ProfilePath: `C:\Users\..`}, "S-1-5-21-1"},
		{userKeyboard{SID: "S-1-5-21-1"}, "S-1-5-21-1"},
		{userKeyboard{SID: "a/b"}, "unknown"},
	} {
		if got := windowsUser(tt.u); got != tt.want {
			t.Errorf("windowsUser(%+v) = %q, want %q", tt.u, got, tt.want)
		}
	}
}

func TestKeyboardRecordRoundTrip(t *testing.T) {
	var rec keyboardRecord
	if err := json.Unmarshal([]byte(windowsKeyboardJSON), &rec); err != nil {
		t.Fatal(err)
	}
	if len(rec.Users) != 1 || rec.Users[0].Preload["2"] != "00000412" || len(rec.Users[0].Tips["ko-KR"]) != 1 {
		t.Errorf("decoded %+v", rec)
	}
}
