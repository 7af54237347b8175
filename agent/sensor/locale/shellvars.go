package locale

import (
	"sort"
	"strings"

	fwv1 "github.com/farmwatch/farmwatch/proto/farmwatch/v1"
)

// parseShellVars parses the KEY=VALUE files of /etc/default/keyboard,
// /etc/vconsole.conf, /etc/default/locale, /etc/locale.conf and
// ~/.config/locale.conf: one assignment a line, "#" comments, an optional
// "export ", and values in single or double quotes or bare. Nothing is
// expanded. Later assignments win.
func parseShellVars(b []byte) map[string]string {
	m := map[string]string{}
	for _, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || line[0] == '#' {
			continue
		}
		line = strings.TrimPrefix(line, "export ")
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			continue
		}
		k = strings.TrimSpace(k)
		if !isVarName(k) {
			continue
		}
		m[k] = unquote(strings.TrimSpace(v))
	}
	return m
}

func isVarName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '_' || 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || i > 0 && '0' <= c && c <= '9' {
			continue
		}
		return false
	}
	return true
}

// unquote removes one pair of matching quotes, or a trailing comment from a
// bare value.
func unquote(v string) string {
	if len(v) >= 2 && (v[0] == '"' || v[0] == '\'') {
		if end := strings.IndexByte(v[1:], v[0]); end >= 0 {
			return v[1 : 1+end]
		}
		return v[1:]
	}
	if i := strings.Index(v, " #"); i >= 0 {
		v = v[:i]
	}
	return strings.TrimSpace(v)
}

// splitList splits an XKB comma list ("us,kr"), keeping empty places so
// that layouts and variants stay aligned ("," and ",kr104").
func splitList(s string) []string {
	if strings.TrimSpace(s) == "" {
		return nil
	}
	parts := strings.Split(s, ",")
	for i := range parts {
		parts[i] = strings.TrimSpace(parts[i])
	}
	return parts
}

// xkbLayouts makes one keyboard layout per XKB layout of a comma list; the
// first is the one in use.
func xkbLayouts(user, source, path, layouts, variants string) []*fwv1.KeyboardLayout {
	ls, vs := splitList(layouts), splitList(variants)
	var out []*fwv1.KeyboardLayout
	for i, l := range ls {
		if l == "" {
			continue
		}
		v := ""
		if i < len(vs) {
			v = vs[i]
		}
		out = append(out, &fwv1.KeyboardLayout{Username: user, Source: source, Path: path, Layout: l, Variant: v, Language: xkbLanguage(l), Active: i == 0})
	}
	return out
}

// localeVars is what a locale file sets: LANG, LANGUAGE, and the LC_*
// values that differ from LANG.
type localeVars struct {
	lang      string
	languages []string
	lc        []string
}

func localeFromVars(m map[string]string) localeVars {
	var v localeVars
	v.lang = m["LANG"]
	if all := m["LC_ALL"]; all != "" {
		v.lang = all
	}
	if l := m["LANGUAGE"]; l != "" {
		for _, x := range strings.Split(l, ":") {
			if x = strings.TrimSpace(x); x != "" {
				v.languages = append(v.languages, x)
			}
		}
	}
	for _, k := range sortedKeys(m) {
		if strings.HasPrefix(k, "LC_") && k != "LC_ALL" && m[k] != "" && m[k] != v.lang {
			v.lc = append(v.lc, k+"="+m[k])
		}
	}
	return v
}

// country is the region of a POSIX or BCP 47 locale name: "ko_KR.UTF-8"
// and "ko-KR" give "KR"; "C", "en" and "zh-Hans" give "".
func country(lang string) string {
	s := lang
	if i := strings.IndexAny(s, ".@"); i >= 0 {
		s = s[:i]
	}
	parts := strings.FieldsFunc(s, func(r rune) bool { return r == '_' || r == '-' })
	for _, p := range parts[min(1, len(parts)):] {
		if len(p) == 2 && isAlpha(p) {
			return strings.ToUpper(p)
		}
	}
	return ""
}

func isAlpha(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i] | 0x20; c < 'a' || c > 'z' {
			return false
		}
	}
	return true
}

func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}
