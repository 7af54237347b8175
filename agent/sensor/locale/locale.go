// Package locale is the sensor for keyboard layouts, input methods, locales
// and the time zone: the traces a worker abroad leaves on a laptop (a Korean
// input method, a Chinese locale, a clock set to Asia/Pyongyang). It reports
// neutral observations; rules/locale.yaml judges them against the
// organisation's expectations.
//
// What it reads, per OS (the OS is the host's, chosen at run time, so a
// snapshot of any OS is scanned on any machine):
//
// Linux:
//   - /etc/default/keyboard (XKBLAYOUT, XKBVARIANT: comma lists),
//     /etc/vconsole.conf (KEYMAP, XKBLAYOUT, XKBVARIANT) and
//     /etc/X11/xorg.conf.d/*.conf (Option "XkbLayout" / "XkbVariant");
//   - /etc/default/locale and /etc/locale.conf (LANG, LANGUAGE, LC_*);
//   - the /etc/localtime link (the IANA name after "zoneinfo/"), else
//     /etc/timezone;
//   - per user (each directory in /home): ~/.config/fcitx5/profile (the
//     input methods of each group), ~/.config/fcitx/profile (fcitx 4,
//     EnabledIMList), ~/.config/locale.conf, and
//     /var/lib/AccountsService/users/NAME (Language, FormatsLocale);
//   - ibus and GNOME input sources, per user from the dconf database
//     ~/.config/dconf/user (a GVariant database, read by gvdb.go):
//     /org/gnome/desktop/input-sources/sources and mru-sources, and
//     /desktop/ibus/general/preload-engines; system-wide from the text
//     keyfiles /etc/dconf/db/*.d/* ([desktop/ibus/general] preload-engines).
//     The compiled system databases (/etc/dconf/db/NAME) and settings held
//     only by a running dconf service are not read;
//   - installed input-method packages in /var/lib/dpkg/status (dpkg only:
//     the rpm database is not read).
//
// macOS:
//   - /Users/*/Library/Preferences/com.apple.HIToolbox.plist
//     (AppleEnabledInputSources, AppleSelectedInputSources), binary or XML;
//   - /Library/Preferences/.GlobalPreferences.plist and each user's
//     Library/Preferences/.GlobalPreferences.plist (AppleLocale,
//     AppleLanguages);
//   - the /etc/localtime link for the time zone.
//
// Windows (live registry reads, recorded as api/keyboard.json; API.md):
//   - for each loaded user hive HKU\<SID>: Keyboard Layout\Preload and
//     Substitutes, Control Panel\International\User Profile (Languages and
//     the input method tips of each language), Control Panel\International
//     (LocaleName);
//   - the system locale (HKLM\SYSTEM\CurrentControlSet\Control\Nls\Locale)
//     and the time zone (HKLM\SYSTEM\CurrentControlSet\Control\
//     TimeZoneInformation, TimeZoneKeyName), mapped to IANA with CLDR's
//     windowsZones table.
//
// The UTC offset of a time zone is computed at the host's capture time from
// the host's own zoneinfo file (/usr/share/zoneinfo/NAME, read through the
// host), and when the host has none (Windows) from Go's embedded copy of the
// tz database (time/tzdata), never from the tz database of the machine that
// runs the scan.
package locale

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"sort"
	"strings"

	"github.com/farmwatch/farmwatch/agent/host"
	"github.com/farmwatch/farmwatch/agent/sensor"
	fwv1 "github.com/farmwatch/farmwatch/proto/farmwatch/v1"
)

// Sensor is the keyboard, locale and time zone sensor.
type Sensor struct {
	// Packages keeps what dpkg's status said between the scans of a
	// resident agent; nil (a helpdesk scan, a snapshot) reads it every
	// time.
	Packages *Packages
}

// Name is "locale".
func (Sensor) Name() string { return "locale" }

// found is what one OS reader found.
type found struct {
	keyboards []*fwv1.KeyboardLayout
	locales   []*fwv1.Locale
}

// Sense reads the keyboard layouts, input methods, locales and time zone of
// the host. What could be read is returned beside an error naming what
// could not.
func (s Sensor) Sense(ctx context.Context, h *host.Host) ([]*fwv1.Observation, error) {
	linux := func(ctx context.Context, h *host.Host) (found, error) { return readLinux(ctx, h, s.Packages) }
	f, err := sensor.ByOS[found]{Linux: linux, Darwin: readDarwin, Windows: readWindows}.Read(ctx, h)
	return observations(f), err
}

// observations turns what was found into observations with unique keys;
// when two share a key the first is kept.
func observations(f found) []*fwv1.Observation {
	seen := map[string]bool{}
	var obs []*fwv1.Observation
	for _, k := range f.keyboards {
		key := KeyboardKey(k)
		if seen[key] {
			continue
		}
		seen[key] = true
		obs = append(obs, &fwv1.Observation{Key: key, Kind: &fwv1.Observation_KeyboardLayout{KeyboardLayout: k}})
	}
	for _, l := range f.locales {
		key := LocaleKey(l)
		if seen[key] {
			continue
		}
		seen[key] = true
		obs = append(obs, &fwv1.Observation{Key: key, Kind: &fwv1.Observation_Locale{Locale: l}})
	}
	sort.SliceStable(obs, func(i, j int) bool { return obs[i].Key < obs[j].Key })
	return obs
}

// KeyboardKey is the stable key of a keyboard layout or input method:
// keyboard/<user or system>/<source>/<input method or layout>.
func KeyboardKey(k *fwv1.KeyboardLayout) string {
	what := k.GetInputMethod()
	if what == "" {
		what = k.GetLayout()
		if v := k.GetVariant(); v != "" && k.GetSource() != "preload" {
			what += "(" + v + ")"
		}
	}
	return "keyboard/" + cmp.Or(k.GetUsername(), "system") + "/" + k.GetSource() + "/" + what
}

// LocaleKey is the stable key of a locale: locale/<user or system>.
func LocaleKey(l *fwv1.Locale) string {
	return "locale/" + cmp.Or(l.GetUsername(), "system")
}

// fileReader reads a host's files for one OS reader and keeps the errors
// of those that exist but cannot be read: a file that is not there is
// nothing to read, not a failure.
type fileReader struct {
	h    *host.Host
	errs []error
}

func (r *fileReader) fail(err error) { r.errs = append(r.errs, err) }

// read reads a file; nil when it is missing or cannot be read.
func (r *fileReader) read(p string) []byte {
	b, err := r.h.ReadFile(p)
	if err != nil {
		if !missing(err) {
			r.fail(fmt.Errorf("read %s: %w", p, err))
		}
		return nil
	}
	return b
}

// glob returns the files that match a pattern.
func (r *fileReader) glob(pattern string) []string {
	ps, err := r.h.Glob(pattern)
	if err != nil {
		r.fail(err)
	}
	return ps
}

// list lists a directory; nil when it is missing.
func (r *fileReader) list(dir string) []host.Entry {
	ents, err := r.h.ReadDir(dir)
	if err != nil && !missing(err) {
		r.fail(fmt.Errorf("list %s: %w", dir, err))
	}
	return ents
}

// missing reports an error that means the thing is not there.
func missing(err error) bool {
	return errors.Is(err, fs.ErrNotExist) || errors.Is(err, host.ErrNotRecorded) || errors.Is(err, host.ErrNotLive) || isNotDir(err)
}

func isNotDir(err error) bool {
	var pe *fs.PathError
	return errors.As(err, &pe) && strings.Contains(pe.Err.Error(), "not a directory")
}
