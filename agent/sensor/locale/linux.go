package locale

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"strings"

	"github.com/farmwatch/farmwatch/agent/host"
	fwv1 "github.com/farmwatch/farmwatch/proto/farmwatch/v1"
)

// maxUsers bounds how many home directories are read.
const maxUsers = 256

// readLinux reads what the package doc lists for Linux. A file that does
// not exist is no error; one that exists and cannot be read is.
func readLinux(ctx context.Context, h *host.Host) (found, error) {
	var (
		f    found
		errs []error
	)
	read := func(p string) []byte {
		b, err := h.ReadFile(p)
		if err != nil {
			if !missing(err) {
				errs = append(errs, fmt.Errorf("read %s: %w", p, err))
			}
			return nil
		}
		return b
	}

	// System keyboard.
	if b := read("/etc/default/keyboard"); b != nil {
		m := parseShellVars(b)
		f.keyboards = append(f.keyboards, xkbLayouts("", "xkb", "/etc/default/keyboard", m["XKBLAYOUT"], m["XKBVARIANT"])...)
	}
	if b := read("/etc/vconsole.conf"); b != nil {
		m := parseShellVars(b)
		if km := m["KEYMAP"]; km != "" {
			f.keyboards = append(f.keyboards, &fwv1.KeyboardLayout{Source: "vconsole", Path: "/etc/vconsole.conf", Layout: km, Language: keymapLanguage(km), Active: true})
		}
		f.keyboards = append(f.keyboards, xkbLayouts("", "vconsole-xkb", "/etc/vconsole.conf", m["XKBLAYOUT"], m["XKBVARIANT"])...)
	}
	xorg, err := h.Glob("/etc/X11/xorg.conf.d/*.conf")
	if err != nil {
		errs = append(errs, err)
	}
	for _, p := range xorg {
		if b := read(p); b != nil {
			for _, lv := range parseXorgKeyboard(b) {
				f.keyboards = append(f.keyboards, xkbLayouts("", "xorg", p, lv[0], lv[1])...)
			}
		}
	}

	// System ibus engines set by a dconf keyfile.
	dconf, err := h.Glob("/etc/dconf/db/*.d/*")
	if err != nil {
		errs = append(errs, err)
	}
	for _, p := range dconf {
		if path.Base(p) == "locks" { // the lock lists' directory
			continue
		}
		b := read(p)
		for i, e := range parseDconfEngines(b) {
			if k := ibusEngine("", p, e, i == 0); k != nil {
				f.keyboards = append(f.keyboards, k)
			}
		}
	}

	// Installed input-method packages.
	if b := read("/var/lib/dpkg/status"); b != nil {
		for _, p := range parseDpkgStatus(b) {
			if lang, ok := packageLanguage(p.name); ok {
				f.keyboards = append(f.keyboards, &fwv1.KeyboardLayout{Source: "dpkg", Path: "/var/lib/dpkg/status", InputMethod: p.name, Variant: p.version, Language: lang, Installed: true})
			}
		}
	}

	// System locale and time zone.
	zone, zpath := linuxZone(h, read)
	sys := &fwv1.Locale{Source: "system", Timezone: zone}
	for _, p := range []string{"/etc/default/locale", "/etc/locale.conf"} {
		if b := read(p); b != nil && sys.Lang == "" {
			v := localeFromVars(parseShellVars(b))
			sys.Lang, sys.Languages, sys.Lc, sys.Path = v.lang, v.languages, v.lc, p
		}
	}
	if sys.Path == "" {
		sys.Path = zpath
	}
	finishLocale(h, sys)
	f.locales = append(f.locales, sys)

	// Users: the home directories, and the users AccountsService knows.
	users := map[string]bool{}
	homes, err := h.ReadDir("/home")
	if err != nil && !missing(err) {
		errs = append(errs, fmt.Errorf("list /home: %w", err))
	}
	acct, err := h.ReadDir("/var/lib/AccountsService/users")
	if err != nil && !missing(err) {
		errs = append(errs, fmt.Errorf("list /var/lib/AccountsService/users: %w", err))
	}
	for _, e := range homes {
		if (e.IsDir || e.Symlink) && validUser(e.Name) && len(users) < maxUsers {
			users[e.Name] = true
		}
	}
	for _, e := range acct {
		if !e.IsDir && validUser(e.Name) && len(users) < maxUsers {
			users[e.Name] = true
		}
	}
	for _, u := range sortedKeys(users) {
		if ctx.Err() != nil {
			return f, errors.Join(append(errs, ctx.Err())...)
		}
		home := "/home/" + u
		p5 := home + "/.config/fcitx5/profile"
		for _, im := range parseFcitx5Profile(read(p5)) {
			f.keyboards = append(f.keyboards, fcitxKeyboard(u, "fcitx5", p5, im))
		}
		p4 := home + "/.config/fcitx/profile"
		for _, im := range parseFcitx4Profile(read(p4)) {
			f.keyboards = append(f.keyboards, fcitxKeyboard(u, "fcitx", p4, im))
		}
		pd := home + "/.config/dconf/user"
		if b := read(pd); b != nil {
			db, err := parseGVDB(b)
			if err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", pd, err))
			}
			f.keyboards = append(f.keyboards, dconfKeyboards(u, pd, db)...)
		}
		ul := &fwv1.Locale{Username: u, Source: "user", Timezone: zone}
		pa := "/var/lib/AccountsService/users/" + u
		for _, s := range parseINI(read(pa)) {
			if s.name == "User" && s.vals["Language"] != "" {
				ul.Lang, ul.Path = s.vals["Language"], pa
				if fl := s.vals["FormatsLocale"]; fl != "" && fl != ul.Lang {
					ul.Lc = append(ul.Lc, "FormatsLocale="+fl)
				}
			}
		}
		pl := home + "/.config/locale.conf"
		if b := read(pl); b != nil {
			if v := localeFromVars(parseShellVars(b)); v.lang != "" {
				ul.Lang, ul.Languages, ul.Lc, ul.Path = v.lang, v.languages, v.lc, pl
			}
		}
		if ul.Lang != "" {
			finishLocale(h, ul)
			f.locales = append(f.locales, ul)
		}
	}
	return f, errors.Join(errs...)
}

// validUser is a name that is safe in a path: no separators, no dot files.
func validUser(u string) bool {
	return u != "" && u[0] != '.' && !strings.ContainsAny(u, `/\`) && len(u) <= 64 && u != "lost+found"
}

// linuxZone is the time zone from the /etc/localtime link, else from
// /etc/timezone, with the path it came from.
func linuxZone(h *host.Host, read func(string) []byte) (string, string) {
	if t, err := h.Readlink("/etc/localtime"); err == nil {
		if z := zoneFromLink(t); z != "" {
			return z, "/etc/localtime"
		}
	}
	if z := zoneFromFile(read("/etc/timezone")); z != "" {
		return z, "/etc/timezone"
	}
	return "", ""
}

// finishLocale fills in what follows from the others: the country of the
// locale and the UTC offset of the time zone.
func finishLocale(h *host.Host, l *fwv1.Locale) {
	l.Country = country(l.GetLang())
	if off, ok := utcOffset(h, l.GetTimezone()); ok {
		l.UtcOffsetSeconds = off
	}
}

func fcitxKeyboard(user, source, p string, im fcitxIM) *fwv1.KeyboardLayout {
	k := &fwv1.KeyboardLayout{Username: user, Source: source, Path: p, Language: imLanguage(im.name), Active: im.active}
	name := strings.TrimPrefix(im.name, "fcitx-") // fcitx 4 names its keyboards fcitx-keyboard-us
	if rest, ok := strings.CutPrefix(name, "keyboard-"); ok {
		k.Layout, k.Variant, _ = strings.Cut(rest, "-")
		k.Language = xkbLanguage(k.Layout)
		return k
	}
	k.InputMethod = im.name
	return k
}

// ibusEngine is one ibus engine: "xkb:kr:kr104:kor" is a layout, anything
// else an input method; nil for an empty name.
func ibusEngine(user, p, engine string, first bool) *fwv1.KeyboardLayout {
	if engine == "" || engine == "xkb:" || strings.HasPrefix(engine, "xkb::") {
		return nil
	}
	k := &fwv1.KeyboardLayout{Username: user, Source: "ibus", Path: p, Language: imLanguage(engine), Active: first}
	if rest, ok := strings.CutPrefix(engine, "xkb:"); ok {
		parts := strings.SplitN(rest, ":", 3)
		k.Layout = parts[0]
		if len(parts) > 1 {
			k.Variant = parts[1]
		}
		return k
	}
	k.InputMethod = engine
	return k
}

// missing reports an error that means the thing is not there.
func missing(err error) bool {
	return errors.Is(err, fs.ErrNotExist) || errors.Is(err, host.ErrNotRecorded) || errors.Is(err, host.ErrNotLive) || isNotDir(err)
}

func isNotDir(err error) bool {
	var pe *fs.PathError
	return errors.As(err, &pe) && strings.Contains(pe.Err.Error(), "not a directory")
}
