package locale

import (
	"context"
	"errors"
	"fmt"
	"path"
	"strings"
	"sync"

	"github.com/farmwatch/farmwatch/agent/host"
	fwv1 "github.com/farmwatch/farmwatch/proto/farmwatch/v1"
)

// maxUsers bounds how many home directories are read.
const maxUsers = 256

// The system files read on Linux.
const (
	defaultKeyboard = "/etc/default/keyboard"
	vconsoleConf    = "/etc/vconsole.conf"
	dpkgStatusFile  = "/var/lib/dpkg/status"
	accountsUsers   = "/var/lib/AccountsService/users"
)

// readLinux reads what the package doc lists for Linux, one source after
// the other: each get function reads its files through r and hands the
// bytes to a pure parser. A file that does not exist is no error; one that
// exists and cannot be read is.
func readLinux(ctx context.Context, h *host.Host, pkgs *Packages) (found, error) {
	r := &fileReader{h: h}
	var f found
	f.keyboards = append(f.keyboards, parseDefaultKeyboard(r.read(defaultKeyboard))...)
	f.keyboards = append(f.keyboards, parseVconsole(r.read(vconsoleConf))...)
	f.keyboards = append(f.keyboards, getXorgKeyboards(r)...)
	f.keyboards = append(f.keyboards, getDconfEngines(r)...)
	f.keyboards = append(f.keyboards, pkgs.keyboards(r, dpkgStatusFile)...)
	zone, zpath := getLinuxZone(r)
	f.locales = append(f.locales, getLinuxSystemLocale(r, zone, zpath))
	for _, u := range getLinuxUsers(r) {
		if ctx.Err() != nil {
			return f, errors.Join(append(r.errs, ctx.Err())...)
		}
		kb, l := getLinuxUser(r, u, zone)
		f.keyboards = append(f.keyboards, kb...)
		if l != nil {
			f.locales = append(f.locales, l)
		}
	}
	return f, errors.Join(r.errs...)
}

// parseDefaultKeyboard reads /etc/default/keyboard: XKBLAYOUT and
// XKBVARIANT, comma lists.
func parseDefaultKeyboard(b []byte) []*fwv1.KeyboardLayout {
	m := parseShellVars(b)
	return xkbLayouts("", "xkb", defaultKeyboard, m["XKBLAYOUT"], m["XKBVARIANT"])
}

// parseVconsole reads /etc/vconsole.conf: the console KEYMAP, and the
// XKBLAYOUT and XKBVARIANT that systemd-localed keeps beside it.
func parseVconsole(b []byte) []*fwv1.KeyboardLayout {
	m := parseShellVars(b)
	var out []*fwv1.KeyboardLayout
	if km := m["KEYMAP"]; km != "" {
		out = append(out, &fwv1.KeyboardLayout{Source: "vconsole", Path: vconsoleConf, Layout: km, Language: keymapLanguage(km), Active: true})
	}
	return append(out, xkbLayouts("", "vconsole-xkb", vconsoleConf, m["XKBLAYOUT"], m["XKBVARIANT"])...)
}

// getXorgKeyboards reads the XKB options of /etc/X11/xorg.conf.d/*.conf.
func getXorgKeyboards(r *fileReader) []*fwv1.KeyboardLayout {
	var out []*fwv1.KeyboardLayout
	for _, p := range r.glob("/etc/X11/xorg.conf.d/*.conf") {
		for _, lv := range parseXorgKeyboard(r.read(p)) {
			out = append(out, xkbLayouts("", "xorg", p, lv[0], lv[1])...)
		}
	}
	return out
}

// getDconfEngines reads the system ibus engines set by the dconf keyfiles
// /etc/dconf/db/*.d/*.
func getDconfEngines(r *fileReader) []*fwv1.KeyboardLayout {
	var out []*fwv1.KeyboardLayout
	for _, p := range r.glob("/etc/dconf/db/*.d/*") {
		if path.Base(p) == "locks" { // the lock lists' directory
			continue
		}
		for i, e := range parseDconfEngines(r.read(p)) {
			if k := ibusEngine("", p, e, i == 0); k != nil {
				out = append(out, k)
			}
		}
	}
	return out
}

// parseDpkgKeyboards returns the installed input-method packages of
// /var/lib/dpkg/status.
func parseDpkgKeyboards(b []byte) []*fwv1.KeyboardLayout {
	return dpkgKeyboards(inputMethodPackages(b))
}

// inputMethodPackage is an installed package of an input method or a
// keyboard layout, and the language it is for.
type inputMethodPackage struct{ name, version, lang string }

// inputMethodPackages are the installed input-method packages of dpkg's
// status.
func inputMethodPackages(b []byte) []inputMethodPackage {
	var out []inputMethodPackage
	for _, p := range parseDpkgStatus(b) {
		if lang, ok := packageLanguage(p.name); ok {
			out = append(out, inputMethodPackage{p.name, p.version, lang})
		}
	}
	return out
}

// dpkgKeyboards are the packages as observations, fresh each scan (the
// report owns them).
func dpkgKeyboards(ps []inputMethodPackage) []*fwv1.KeyboardLayout {
	var out []*fwv1.KeyboardLayout
	for _, p := range ps {
		out = append(out, &fwv1.KeyboardLayout{Source: "dpkg", Path: dpkgStatusFile, InputMethod: p.name, Variant: p.version, Language: p.lang, Installed: true})
	}
	return out
}

// Packages keeps, for a resident agent, the input-method packages of
// dpkg's status with the file's stamp (host.Stamp). The file is 0.6 to
// 4 MB, changes only when packages are installed or removed, and reading
// and parsing it was the locale sensor's largest cost at every scan; it is
// read again when its stamp changes, or when the host gives none (a
// snapshot, a recording). Safe for concurrent scans.
type Packages struct {
	mu    sync.Mutex
	stamp host.Stamp
	kept  []inputMethodPackage
	valid bool
	reads int // times the file was read and parsed (tests)
}

// NewPackages is an empty cache.
func NewPackages() *Packages { return &Packages{} }

// keyboards are the input-method packages of the dpkg status file at p,
// from the cache while the file's stamp is the one read last; a nil cache
// reads every time. The stamp is taken before the read, so a file changed
// in between is read again at the next scan, never kept stale.
func (c *Packages) keyboards(r *fileReader, p string) []*fwv1.KeyboardLayout {
	if c == nil {
		return parseDpkgKeyboards(r.read(p))
	}
	st, ok := r.h.Stamp(p)
	c.mu.Lock()
	defer c.mu.Unlock()
	if ok && c.valid && st == c.stamp {
		return dpkgKeyboards(c.kept)
	}
	b := r.read(p)
	c.reads++
	c.kept, c.stamp, c.valid = inputMethodPackages(b), st, ok && b != nil
	return dpkgKeyboards(c.kept)
}

// getLinuxZone is the time zone from the /etc/localtime link, else from
// /etc/timezone, with the path it came from.
func getLinuxZone(r *fileReader) (string, string) {
	if t, err := r.h.Readlink("/etc/localtime"); err == nil {
		if z := zoneFromLink(t); z != "" {
			return z, "/etc/localtime"
		}
	}
	if z := zoneFromFile(r.read("/etc/timezone")); z != "" {
		return z, "/etc/timezone"
	}
	return "", ""
}

// getLinuxSystemLocale reads /etc/default/locale and /etc/locale.conf: the
// first that sets a language wins.
func getLinuxSystemLocale(r *fileReader, zone, zpath string) *fwv1.Locale {
	sys := &fwv1.Locale{Source: "system", Timezone: zone}
	for _, p := range []string{"/etc/default/locale", "/etc/locale.conf"} {
		if b := r.read(p); b != nil && sys.Lang == "" {
			v := localeFromVars(parseShellVars(b))
			sys.Lang, sys.Languages, sys.Lc, sys.Path = v.lang, v.languages, v.lc, p
		}
	}
	if sys.Path == "" {
		sys.Path = zpath
	}
	finishLocale(r.h, sys)
	return sys
}

// getLinuxUsers lists the users: the directories in /home and the users
// AccountsService knows.
func getLinuxUsers(r *fileReader) []string {
	return linuxUsers(r.list("/home"), r.list(accountsUsers))
}

// linuxUsers names the users, sorted, from the entries of /home (its
// directories and links to them) and of /var/lib/AccountsService/users
// (its files): at most maxUsers, each a name that is safe in a path.
func linuxUsers(homes, accounts []host.Entry) []string {
	users := map[string]bool{}
	for _, e := range homes {
		if (e.IsDir || e.Symlink) && validUser(e.Name) && len(users) < maxUsers {
			users[e.Name] = true
		}
	}
	for _, e := range accounts {
		if !e.IsDir && validUser(e.Name) && len(users) < maxUsers {
			users[e.Name] = true
		}
	}
	return sortedKeys(users)
}

// getLinuxUser reads one user's input methods and locale: the fcitx5 and
// fcitx profiles, the dconf database, the AccountsService file and
// ~/.config/locale.conf. The locale is nil when none of them sets a
// language.
func getLinuxUser(r *fileReader, u, zone string) ([]*fwv1.KeyboardLayout, *fwv1.Locale) {
	home := "/home/" + u
	var kb []*fwv1.KeyboardLayout
	p5 := home + "/.config/fcitx5/profile"
	for _, im := range parseFcitx5Profile(r.read(p5)) {
		kb = append(kb, fcitxKeyboard(u, "fcitx5", p5, im))
	}
	p4 := home + "/.config/fcitx/profile"
	for _, im := range parseFcitx4Profile(r.read(p4)) {
		kb = append(kb, fcitxKeyboard(u, "fcitx", p4, im))
	}
	pd := home + "/.config/dconf/user"
	if b := r.read(pd); b != nil {
		db, err := parseGVDB(b)
		if err != nil {
			r.fail(fmt.Errorf("%s: %w", pd, err))
		}
		kb = append(kb, dconfKeyboards(u, pd, db)...)
	}
	ul := &fwv1.Locale{Username: u, Source: "user", Timezone: zone}
	pa := accountsUsers + "/" + u
	if lang, lc := parseAccountsService(r.read(pa)); lang != "" {
		ul.Lang, ul.Lc, ul.Path = lang, lc, pa
	}
	pl := home + "/.config/locale.conf"
	if b := r.read(pl); b != nil {
		if v := localeFromVars(parseShellVars(b)); v.lang != "" {
			ul.Lang, ul.Languages, ul.Lc, ul.Path = v.lang, v.languages, v.lc, pl
		}
	}
	if ul.Lang == "" {
		return kb, nil
	}
	finishLocale(r.h, ul)
	return kb, ul
}

// parseAccountsService reads an AccountsService user file
// (/var/lib/AccountsService/users/NAME): the Language of its [User]
// section, and its FormatsLocale as "FormatsLocale=..." when it differs.
func parseAccountsService(b []byte) (lang string, lc []string) {
	for _, s := range parseINI(b) {
		if s.name == "User" && s.vals["Language"] != "" {
			lang = s.vals["Language"]
			if fl := s.vals["FormatsLocale"]; fl != "" && fl != lang {
				lc = append(lc, "FormatsLocale="+fl)
			}
		}
	}
	return lang, lc
}

// validUser is a name that is safe in a path: no separators, no dot files.
func validUser(u string) bool {
	return u != "" && u[0] != '.' && !strings.ContainsAny(u, `/\`) && len(u) <= 64 && u != "lost+found"
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
