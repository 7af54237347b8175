//go:build windows

package locale

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"golang.org/x/sys/windows/registry"
)

// liveKeyboard reads the keyboard, language and time zone settings that
// api/keyboard.json records (API.md): every loaded user hive under
// HKEY_USERS (the users logged on, and those whose hive a service keeps
// loaded), the system locale and the time zone. A value that cannot be read
// is left out and the reason added to errors; only a failure to list
// HKEY_USERS fails the call.
func liveKeyboard(ctx context.Context) (any, error) {
	var rec keyboardRecord
	addErr := func(err error) {
		if err != nil && !errors.Is(err, registry.ErrNotExist) && len(rec.Errors) < 64 {
			rec.Errors = append(rec.Errors, err.Error())
		}
	}
	sids, err := registry.USERS.ReadSubKeyNames(-1)
	if err != nil {
		return nil, fmt.Errorf(`list HKEY_USERS: %w`, err)
	}
	for _, sid := range sids {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		// Real users only: S-1-5-21-... (domain and local accounts),
		// S-1-12-1-... (Entra ID). Not .DEFAULT, the service accounts
		// (S-1-5-18/19/20) or the _Classes hives.
		if strings.HasSuffix(sid, "_Classes") || !(strings.HasPrefix(sid, "S-1-5-21-") || strings.HasPrefix(sid, "S-1-12-1-")) {
			continue
		}
		u := userKeyboard{SID: sid}
		var err error
		u.ProfilePath, err = readString(registry.LOCAL_MACHINE, `SOFTWARE\Microsoft\Windows NT\CurrentVersion\ProfileList\`+sid, "ProfileImagePath")
		addErr(err)
		u.Preload, err = readStrings(registry.USERS, sid+`\Keyboard Layout\Preload`)
		addErr(err)
		u.Substitutes, err = readStrings(registry.USERS, sid+`\Keyboard Layout\Substitutes`)
		addErr(err)
		u.Languages, err = readMulti(registry.USERS, sid+`\`+userProfileKey, "Languages")
		addErr(err)
		u.InputMethodOverride, err = readString(registry.USERS, sid+`\`+userProfileKey, "InputMethodOverride")
		addErr(err)
		for _, lang := range u.Languages {
			names, err := valueNames(registry.USERS, sid+`\`+userProfileKey+`\`+lang)
			addErr(err)
			for _, n := range names {
				if parseTip(n) != nil {
					if u.Tips == nil {
						u.Tips = map[string][]string{}
					}
					u.Tips[lang] = append(u.Tips[lang], n)
				}
			}
		}
		u.LocaleName, err = readString(registry.USERS, sid+`\`+internationalKey, "LocaleName")
		addErr(err)
		rec.Users = append(rec.Users, u)
	}
	rec.SystemLocale, err = readString(registry.LOCAL_MACHINE, `SYSTEM\CurrentControlSet\Control\Nls\Locale`, "")
	addErr(err)
	const tz = `SYSTEM\CurrentControlSet\Control\TimeZoneInformation`
	rec.TimeZoneKeyName, err = readString(registry.LOCAL_MACHINE, tz, "TimeZoneKeyName")
	addErr(err)
	if k, err := registry.OpenKey(registry.LOCAL_MACHINE, tz, registry.QUERY_VALUE|registry.WOW64_64KEY); err == nil {
		if v, _, err := k.GetIntegerValue("DynamicDaylightTimeDisabled"); err == nil {
			d := uint32(v)
			rec.DynamicDaylightTimeDisabled = &d
		}
		k.Close()
	}
	return rec, nil
}

func open(root registry.Key, path string) (registry.Key, error) {
	return registry.OpenKey(root, path, registry.QUERY_VALUE|registry.ENUMERATE_SUB_KEYS|registry.WOW64_64KEY)
}

func readString(root registry.Key, path, name string) (string, error) {
	k, err := open(root, path)
	if err != nil {
		return "", err
	}
	defer k.Close()
	v, _, err := k.GetStringValue(name)
	if err != nil {
		return "", fmt.Errorf(`read %s\%s: %w`, path, name, err)
	}
	return v, nil
}

func readMulti(root registry.Key, path, name string) ([]string, error) {
	k, err := open(root, path)
	if err != nil {
		return nil, err
	}
	defer k.Close()
	v, _, err := k.GetStringsValue(name)
	if err != nil {
		return nil, fmt.Errorf(`read %s\%s: %w`, path, name, err)
	}
	return v, nil
}

func valueNames(root registry.Key, path string) ([]string, error) {
	k, err := open(root, path)
	if err != nil {
		return nil, err
	}
	defer k.Close()
	return k.ReadValueNames(-1)
}

// readStrings reads every string value of a key, by name.
func readStrings(root registry.Key, path string) (map[string]string, error) {
	names, err := valueNames(root, path)
	if err != nil {
		return nil, err
	}
	k, err := open(root, path)
	if err != nil {
		return nil, err
	}
	defer k.Close()
	out := map[string]string{}
	for _, n := range names {
		if v, _, err := k.GetStringValue(n); err == nil {
			out[n] = v
		}
	}
	return out, nil
}
