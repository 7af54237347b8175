package locale

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/farmwatch/farmwatch/agent/host"
	fwv1 "github.com/farmwatch/farmwatch/proto/farmwatch/v1"
	"howett.net/plist"
)

// hiToolbox is the part of com.apple.HIToolbox.plist that is read.
type hiToolbox struct {
	Enabled  []inputSource `plist:"AppleEnabledInputSources"`
	Selected []inputSource `plist:"AppleSelectedInputSources"`
	Current  string        `plist:"AppleCurrentKeyboardLayoutInputSourceID"`
}

// inputSource is one entry of AppleEnabledInputSources: a keyboard layout
//
//	{InputSourceKind = "Keyboard Layout"; "KeyboardLayout ID" = 0; "KeyboardLayout Name" = "U.S.";}
//
// or an input method and its modes
//
//	{"Bundle ID" = "com.apple.inputmethod.Korean"; InputSourceKind = "Keyboard Input Method";}
//	{"Bundle ID" = "com.apple.inputmethod.Korean"; "Input Mode" = "com.apple.inputmethod.Korean.2SetKorean"; InputSourceKind = "Input Mode";}
type inputSource struct {
	Kind       string `plist:"InputSourceKind"`
	BundleID   string `plist:"Bundle ID"`
	InputMode  string `plist:"Input Mode"`
	LayoutName string `plist:"KeyboardLayout Name"`
	LayoutID   *int64 `plist:"KeyboardLayout ID"`
}

// globalPrefs is the part of .GlobalPreferences.plist that is read.
type globalPrefs struct {
	Locale    string   `plist:"AppleLocale"`
	Languages []string `plist:"AppleLanguages"`
}

// parseHIToolbox decodes com.apple.HIToolbox.plist, binary or XML.
func parseHIToolbox(b []byte) (hiToolbox, error) {
	var t hiToolbox
	_, err := plist.Unmarshal(b, &t)
	return t, err
}

// parseGlobalPrefs decodes a .GlobalPreferences.plist, binary or XML.
func parseGlobalPrefs(b []byte) (globalPrefs, error) {
	var g globalPrefs
	_, err := plist.Unmarshal(b, &g)
	return g, err
}

// id is the identifier an input source is known by: its input mode, its
// bundle, or its layout's name.
func (s inputSource) id() string {
	switch {
	case s.InputMode != "":
		return s.InputMode
	case s.BundleID != "":
		return s.BundleID
	}
	return s.LayoutName
}

// darwinKeyboards makes one keyboard layout per enabled input source of a
// user. An input source is active when it is among the selected ones.
func darwinKeyboards(user, p string, t hiToolbox) []*fwv1.KeyboardLayout {
	selected := map[string]bool{}
	for _, s := range t.Selected {
		selected[s.id()] = true
	}
	var out []*fwv1.KeyboardLayout
	for _, s := range t.Enabled {
		if s.id() == "" {
			continue
		}
		k := &fwv1.KeyboardLayout{Username: user, Source: "hitoolbox", Path: p, Active: selected[s.id()]}
		switch {
		case s.BundleID != "" || s.InputMode != "": // an input mode without its bundle is still an input method
			k.InputMethod = s.BundleID
			if s.InputMode != "" {
				k.InputMethod, k.Variant = s.InputMode, s.BundleID
			}
			k.Language = darwinLanguage(k.InputMethod)
		default:
			k.Layout = s.LayoutName
			if s.LayoutID != nil {
				k.Variant = fmt.Sprint(*s.LayoutID)
			}
			k.Language = darwinLayoutLanguage(s.LayoutName)
		}
		out = append(out, k)
	}
	return out
}

// darwinLayoutLanguage is the language of a macOS keyboard layout by its
// name ("U.S.", "ABC", "Russian - PC", "Vietnamese", "Persian").
func darwinLayoutLanguage(name string) string {
	n := strings.ToLower(name)
	for _, p := range []struct{ pre, lang string }{
		{"u.s.", "en"}, {"abc", "en"}, {"british", "en"}, {"australian", "en"}, {"canadian english", "en"},
		{"2-set", "ko"}, {"3-set", "ko"}, {"390", "ko"}, {"korean", "ko"},
		{"russian", "ru"}, {"ukrainian", "uk"}, {"vietnamese", "vi"}, {"persian", "fa"},
		{"pinyin", "zh"}, {"chinese", "zh"}, {"japanese", "ja"}, {"kana", "ja"},
		{"german", "de"}, {"french", "fr"}, {"spanish", "es"}, {"italian", "it"},
	} {
		if strings.HasPrefix(n, p.pre) {
			return p.lang
		}
	}
	return ""
}

// globalPreferences is the system's .GlobalPreferences.plist.
const globalPreferences = "/Library/Preferences/.GlobalPreferences.plist"

// readDarwin reads what the package doc lists for macOS: the system locale,
// then each user's input sources and locale.
func readDarwin(ctx context.Context, h *host.Host) (found, error) {
	r := &fileReader{h: h}
	var f found
	zone := ""
	if t, err := h.Readlink("/etc/localtime"); err == nil {
		zone = zoneFromLink(t)
	}
	f.locales = append(f.locales, getDarwinSystemLocale(r, zone))
	for _, u := range darwinUsers(r.list("/Users")) {
		if ctx.Err() != nil {
			return f, errors.Join(append(r.errs, ctx.Err())...)
		}
		kb, l := getDarwinUser(r, u, zone)
		f.keyboards = append(f.keyboards, kb...)
		if l != nil {
			f.locales = append(f.locales, l)
		}
	}
	return f, errors.Join(r.errs...)
}

// getDarwinSystemLocale reads the system's .GlobalPreferences.plist.
func getDarwinSystemLocale(r *fileReader, zone string) *fwv1.Locale {
	sys := &fwv1.Locale{Source: "system", Timezone: zone, Path: "/etc/localtime"}
	if b := r.read(globalPreferences); b != nil {
		if g, err := parseGlobalPrefs(b); err != nil {
			r.fail(fmt.Errorf("%s: %w", globalPreferences, err))
		} else {
			sys.Lang, sys.Languages, sys.Path = g.Locale, g.Languages, globalPreferences
		}
	}
	finishLocale(r.h, sys)
	return sys
}

// darwinUsers names the users of the directories in /Users, in order, at
// most maxUsers: not Shared or Guest, each a name that is safe in a path.
func darwinUsers(ents []host.Entry) []string {
	var out []string
	for _, e := range ents {
		if !e.IsDir || !validUser(e.Name) || e.Name == "Shared" || e.Name == "Guest" {
			continue
		}
		if len(out) == maxUsers {
			break
		}
		out = append(out, e.Name)
	}
	return out
}

// getDarwinUser reads one user's com.apple.HIToolbox.plist (input sources)
// and .GlobalPreferences.plist (locale). The locale is nil when the user
// sets none.
func getDarwinUser(r *fileReader, u, zone string) ([]*fwv1.KeyboardLayout, *fwv1.Locale) {
	prefs := "/Users/" + u + "/Library/Preferences/"
	var kb []*fwv1.KeyboardLayout
	if b := r.read(prefs + "com.apple.HIToolbox.plist"); b != nil {
		if t, err := parseHIToolbox(b); err != nil {
			r.fail(fmt.Errorf("%scom.apple.HIToolbox.plist: %w", prefs, err))
		} else {
			kb = darwinKeyboards(u, prefs+"com.apple.HIToolbox.plist", t)
		}
	}
	b := r.read(prefs + ".GlobalPreferences.plist")
	if b == nil {
		return kb, nil
	}
	g, err := parseGlobalPrefs(b)
	if err != nil {
		r.fail(fmt.Errorf("%s.GlobalPreferences.plist: %w", prefs, err))
		return kb, nil
	}
	if g.Locale == "" && len(g.Languages) == 0 {
		return kb, nil
	}
	ul := &fwv1.Locale{Username: u, Source: "user", Lang: g.Locale, Languages: g.Languages, Timezone: zone, Path: prefs + ".GlobalPreferences.plist"}
	finishLocale(r.h, ul)
	return kb, ul
}
