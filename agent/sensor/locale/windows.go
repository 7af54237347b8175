package locale

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/farmwatch/farmwatch/agent/host"
	fwv1 "github.com/farmwatch/farmwatch/proto/farmwatch/v1"
)

//go:generate go run gen_windowszones.go

// keyboardRecord is api/keyboard.json: the keyboard, language and time
// zone settings read from the Windows registry. The format is a public
// snapshot interface: API.md documents it.
type keyboardRecord struct {
	Users []userKeyboard `json:"users"`
	// SystemLocale is HKLM\SYSTEM\CurrentControlSet\Control\Nls\Locale
	// (Default): an LCID in hex, "00000412".
	SystemLocale string `json:"system_locale,omitempty"`
	// TimeZoneKeyName is TimeZoneInformation\TimeZoneKeyName:
	// "Korea Standard Time".
	TimeZoneKeyName string `json:"timezone_key_name,omitempty"`
	// DynamicDaylightTimeDisabled is TimeZoneInformation's
	// DynamicDaylightTimeDisabled ("adjust for daylight saving time
	// automatically" off), when set.
	DynamicDaylightTimeDisabled *uint32  `json:"dynamic_daylight_time_disabled,omitempty"`
	Errors                      []string `json:"errors,omitempty"`
}

// userKeyboard is one loaded user hive, HKU\<SID>.
type userKeyboard struct {
	SID         string `json:"sid"`
	ProfilePath string `json:"profile_path,omitempty"` // ProfileList\<SID>\ProfileImagePath
	// Preload is Keyboard Layout\Preload: value name ("1", "2") to KLID.
	Preload map[string]string `json:"preload,omitempty"`
	// Substitutes is Keyboard Layout\Substitutes: KLID to KLID.
	Substitutes map[string]string `json:"substitutes,omitempty"`
	// Languages is Control Panel\International\User Profile\Languages.
	Languages []string `json:"languages,omitempty"`
	// Tips are the value names under User Profile\<language> that are
	// input profiles ("0412:{CLSID}{PROFILE}", or "0409:00000409" for a
	// plain layout), by language.
	Tips map[string][]string `json:"tips,omitempty"`
	// InputMethodOverride is User Profile\InputMethodOverride: the default
	// input method when one is chosen.
	InputMethodOverride string `json:"input_method_override,omitempty"`
	// LocaleName is Control Panel\International\LocaleName: "ko-KR".
	LocaleName string `json:"locale_name,omitempty"`
}

// knownTips names the input method tips the rules care about. Source: the
// indicator catalogue (Microsoft Docs "Create the Cfg.ini file" IME list;
// InstallLayoutOrTip example).
var knownTips = map[string]string{
	"{A028AE76-01B1-46C2-99C4-ACD9858AE02F}{B5FE1F02-D5F2-4445-9C03-C568F23C99A1}": "Microsoft Korean IME",
	"{A1E2B86B-924A-4D43-80F6-8A820DF7190F}{B60AF051-257A-46BC-B9D3-84DAD819BAFB}": "Old Hangul IME",
}

const (
	keyboardLayoutKey = `Keyboard Layout\Preload`
	userProfileKey    = `Control Panel\International\User Profile`
	internationalKey  = `Control Panel\International`
	nlsLocaleKey      = `HKLM\SYSTEM\CurrentControlSet\Control\Nls\Locale`
	timeZoneKey       = `HKLM\SYSTEM\CurrentControlSet\Control\TimeZoneInformation`
)

// readWindows reads api/keyboard.json (live: the registry).
func readWindows(ctx context.Context, h *host.Host) (found, error) {
	var rec keyboardRecord
	if err := h.API(ctx, "keyboard", &rec, liveKeyboard); err != nil {
		if errors.Is(err, host.ErrNotRecorded) {
			return found{}, nil // a snapshot taken before this sensor existed: unknown, not a failure
		}
		return found{}, fmt.Errorf("keyboard settings: %w", err)
	}
	return windowsFound(h, rec), nil
}

// windowsFound turns the registry record into observations: per user one
// layout per Preload entry and one input method per tip, and a locale; one
// system locale.
func windowsFound(h *host.Host, rec keyboardRecord) found {
	var f found
	zone := windowsZone(rec.TimeZoneKeyName)
	sys := &fwv1.Locale{Source: "system", Lang: klidLanguage(rec.SystemLocale), Timezone: zone, WindowsTimezone: rec.TimeZoneKeyName, Path: nlsLocaleKey}
	finishLocale(h, sys)
	f.locales = append(f.locales, sys)
	for _, u := range rec.Users {
		name := windowsUser(u)
		hive := `HKU\` + u.SID + `\`
		for i, n := range sortedPreload(u.Preload) {
			klid := strings.ToLower(strings.TrimSpace(u.Preload[n]))
			if klid == "" {
				continue
			}
			k := &fwv1.KeyboardLayout{Username: name, Source: "preload", Path: hive + keyboardLayoutKey + `\` + n, Layout: klid, Language: klidLanguage(klid), Active: i == 0}
			if sub := strings.ToLower(strings.TrimSpace(u.Substitutes[klid])); sub != "" {
				k.Variant = sub // the layout Windows loads for this entry
			}
			f.keyboards = append(f.keyboards, k)
		}
		for _, lang := range sortedKeys(u.Tips) {
			for _, tip := range u.Tips[lang] {
				k := parseTip(tip)
				if k == nil {
					continue
				}
				k.Username, k.Path = name, hive+userProfileKey+`\`+lang
				if k.Language == "" {
					k.Language = lang
				}
				k.Active = u.InputMethodOverride != "" && strings.EqualFold(u.InputMethodOverride, tip)
				f.keyboards = append(f.keyboards, k)
			}
		}
		l := &fwv1.Locale{Username: name, Source: "user", Lang: u.LocaleName, Languages: u.Languages, Timezone: zone, WindowsTimezone: rec.TimeZoneKeyName, Path: hive + internationalKey}
		finishLocale(h, l)
		f.locales = append(f.locales, l)
	}
	return f
}

// parseTip reads an input profile as Windows writes it in the User Profile
// key and in InputMethodOverride: "LANGID:{CLSID}{PROFILE}" for a text
// service (an IME), "LANGID:KLID" for a plain layout. It returns nil for
// anything else.
func parseTip(tip string) *fwv1.KeyboardLayout {
	langID, rest, ok := strings.Cut(strings.TrimSpace(tip), ":")
	if !ok || len(langID) != 4 || !isHex(langID) || rest == "" {
		return nil
	}
	k := &fwv1.KeyboardLayout{Source: "tip", Language: langIDs[strings.ToLower(langID)]}
	switch {
	case len(rest) == 76 && rest[0] == '{' && rest[37] == '}' && rest[38] == '{' && rest[75] == '}':
		k.InputMethod = strings.ToUpper(langID) + ":" + strings.ToUpper(rest)
		k.Variant = knownTips[strings.ToUpper(rest)]
	case len(rest) == 8 && isHex(rest):
		k.Layout = strings.ToLower(rest)
	default:
		return nil
	}
	return k
}

func isHex(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i] | 0x20
		if !('0' <= s[i] && s[i] <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return s != ""
}

// sortedPreload orders the Preload value names numerically ("1", "2", "10").
func sortedPreload(m map[string]string) []string {
	ks := sortedKeys(m)
	sort.SliceStable(ks, func(i, j int) bool {
		a, ea := strconv.Atoi(ks[i])
		b, eb := strconv.Atoi(ks[j])
		if ea != nil || eb != nil {
			return ea == nil && eb != nil
		}
		return a < b
	})
	return ks
}

// windowsUser names a user hive by its profile folder ("C:\Users\alice" →
// "alice"), else by its SID.
func windowsUser(u userKeyboard) string {
	p := strings.TrimRight(strings.ReplaceAll(u.ProfilePath, "/", `\`), `\`)
	if i := strings.LastIndexByte(p, '\\'); i >= 0 && i+1 < len(p) {
		if n := p[i+1:]; validUser(n) {
			return n
		}
	}
	if validUser(u.SID) {
		return u.SID
	}
	return "unknown"
}

// windowsZone maps a Windows time zone key name to its IANA name, "" when
// it is not in CLDR's table.
func windowsZone(name string) string {
	return windowsZones[strings.TrimSpace(name)]
}
