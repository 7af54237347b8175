package locale

import (
	"bytes"
	"strings"
	"unicode"
)

// iniSection is one [section] of an INI or keyfile, its keys in file order.
type iniSection struct {
	name string
	keys []string
	vals map[string]string
}

// parseINI parses the INI dialect of fcitx5 and fcitx profiles, dconf
// keyfiles and AccountsService user files: "[section]" headers, key=value
// lines, "#" and ";" comments. Keys before the first header belong to the
// section "". A repeated key keeps its last value.
func parseINI(b []byte) []iniSection {
	var out []iniSection
	cur := -1
	for _, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(strings.TrimSuffix(line, "\r"))
		if line == "" || line[0] == '#' || line[0] == ';' {
			continue
		}
		if line[0] == '[' {
			if end := strings.LastIndexByte(line, ']'); end > 0 {
				out = append(out, iniSection{name: line[1:end], vals: map[string]string{}})
				cur = len(out) - 1
				continue
			}
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			continue
		}
		k = strings.TrimSpace(k)
		if k == "" {
			continue
		}
		if cur < 0 {
			out = append(out, iniSection{vals: map[string]string{}})
			cur = 0
		}
		s := &out[cur]
		if _, dup := s.vals[k]; !dup {
			s.keys = append(s.keys, k)
		}
		s.vals[k] = strings.TrimSpace(v)
	}
	return out
}

// fcitxIM is one input method of an fcitx profile.
type fcitxIM struct {
	name   string
	layout string // the fcitx5 item's Layout=, often empty
	group  string
	active bool // the default input method of the first group
}

// parseFcitx5Profile reads ~/.config/fcitx5/profile:
//
//	[Groups/0]
//	Name=Default
//	Default Layout=us
//	DefaultIM=hangul
//
//	[Groups/0/Items/0]
//	Name=keyboard-us
//	Layout=
//
//	[Groups/0/Items/1]
//	Name=hangul
//
// It returns the items of every group, groups in their number order, items
// in theirs.
func parseFcitx5Profile(b []byte) []fcitxIM {
	type item struct {
		g, i int
		im   fcitxIM
	}
	groups := map[int]iniSection{}
	var items []item
	for _, s := range parseINI(b) {
		rest, ok := strings.CutPrefix(s.name, "Groups/")
		if !ok {
			continue
		}
		gs, is, isItem := strings.Cut(rest, "/Items/")
		g, ok := atoiSmall(gs)
		if !ok {
			continue
		}
		if !isItem {
			groups[g] = s
			continue
		}
		i, ok := atoiSmall(is)
		if !ok || s.vals["Name"] == "" {
			continue
		}
		items = append(items, item{g: g, i: i, im: fcitxIM{name: s.vals["Name"], layout: s.vals["Layout"]}})
	}
	// Order by group, then item.
	for a := 1; a < len(items); a++ {
		for b := a; b > 0 && (items[b].g < items[b-1].g || items[b].g == items[b-1].g && items[b].i < items[b-1].i); b-- {
			items[b], items[b-1] = items[b-1], items[b]
		}
	}
	first := -1
	for g := range groups {
		if first < 0 || g < first {
			first = g
		}
	}
	out := make([]fcitxIM, 0, len(items))
	for _, it := range items {
		im := it.im
		if gs, ok := groups[it.g]; ok {
			im.group = gs.vals["Name"]
			im.active = it.g == first && gs.vals["DefaultIM"] == im.name
		}
		out = append(out, im)
	}
	return out
}

// atoiSmall parses a small non-negative decimal number.
func atoiSmall(s string) (int, bool) {
	if s == "" || len(s) > 6 {
		return 0, false
	}
	n := 0
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
		n = n*10 + int(s[i]-'0')
	}
	return n, true
}

// parseFcitx4Profile reads ~/.config/fcitx/profile (fcitx 4):
//
//	[Profile]
//	IMName=hangul
//	EnabledIMList=fcitx-keyboard-us:True,hangul:True,pinyin:False
//
// It returns the enabled input methods; IMName is the active one.
func parseFcitx4Profile(b []byte) []fcitxIM {
	var out []fcitxIM
	for _, s := range parseINI(b) {
		if s.name != "Profile" {
			continue
		}
		cur := s.vals["IMName"]
		for _, e := range strings.Split(s.vals["EnabledIMList"], ",") {
			name, on, ok := strings.Cut(strings.TrimSpace(e), ":")
			if !ok || name == "" || !strings.EqualFold(on, "True") {
				continue
			}
			out = append(out, fcitxIM{name: name, active: name == cur})
		}
	}
	return out
}

// parseDconfEngines reads the ibus engine list from a dconf keyfile
// (/etc/dconf/db/NAME.d/FILE):
//
//	[desktop/ibus/general]
//	preload-engines=['xkb:us::eng', 'hangul']
//
// The value is a GVariant array of strings; only that form is understood.
func parseDconfEngines(b []byte) []string {
	var out []string
	for _, s := range parseINI(b) {
		if strings.Trim(s.name, "/") != "desktop/ibus/general" {
			continue
		}
		out = append(out, gvariantStrings(s.vals["preload-engines"])...)
	}
	return out
}

// gvariantStrings parses a GVariant text array of strings: ['a', "b"], with
// an optional "@as " type prefix. Anything else gives nil.
func gvariantStrings(v string) []string {
	v = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(v), "@as"))
	if len(v) < 2 || v[0] != '[' || v[len(v)-1] != ']' {
		return nil
	}
	var out []string
	rest := v[1 : len(v)-1]
	for {
		rest = strings.TrimLeft(rest, " \t,")
		if rest == "" {
			return out
		}
		q := rest[0]
		if q != '\'' && q != '"' {
			return out
		}
		end := strings.IndexByte(rest[1:], q)
		if end < 0 {
			return out
		}
		if s := rest[1 : 1+end]; s != "" {
			out = append(out, s)
		}
		rest = rest[2+end:]
	}
}

// parseXorgKeyboard reads the XKB options of an xorg.conf(.d) file:
//
//	Section "InputClass"
//	        Identifier "system-keyboard"
//	        MatchIsKeyboard "on"
//	        Option "XkbLayout" "us,kr"
//	        Option "XkbVariant" ",kr104"
//	EndSection
//
// It returns the layouts and variants of each section that sets a layout.
func parseXorgKeyboard(b []byte) (out [][2]string) {
	var layout, variant string
	flush := func() {
		if layout != "" {
			out = append(out, [2]string{layout, variant})
		}
		layout, variant = "", ""
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := xorgFields(line)
		if len(f) == 0 {
			continue
		}
		switch strings.ToLower(f[0]) {
		case "section", "endsection":
			flush()
		case "option":
			if len(f) < 3 {
				continue
			}
			switch strings.ToLower(f[1]) {
			case "xkblayout":
				layout = f[2]
			case "xkbvariant":
				variant = f[2]
			}
		}
	}
	flush()
	return out
}

// xorgFields splits an xorg.conf line into words and quoted strings, up to
// a "#" comment.
func xorgFields(line string) []string {
	var out []string
	for i := 0; i < len(line); {
		c := line[i]
		switch {
		case c == '#':
			return out
		case c == ' ' || c == '\t' || c == '\r':
			i++
		case c == '"':
			end := strings.IndexByte(line[i+1:], '"')
			if end < 0 {
				out = append(out, line[i+1:])
				return out
			}
			out = append(out, line[i+1:i+1+end])
			i += end + 2
		default:
			j := i
			for j < len(line) && line[j] != ' ' && line[j] != '\t' && line[j] != '"' && line[j] != '#' {
				j++
			}
			out = append(out, line[i:j])
			i = j
		}
	}
	return out
}

// dpkgPackage is one installed package of /var/lib/dpkg/status.
type dpkgPackage struct {
	name, version string
}

// parseDpkgStatus returns the installed packages of /var/lib/dpkg/status:
// the stanzas whose Status is "install ok installed". Fields continued on
// indented lines are skipped.
func parseDpkgStatus(b []byte) []dpkgPackage {
	// The file is a few MB on a desktop and read at every scan: it is
	// walked in place, and only the kept names and versions are copied.
	var (
		out           []dpkgPackage
		name, version []byte
		installed     bool
	)
	flush := func() {
		if len(name) > 0 && installed {
			out = append(out, dpkgPackage{name: string(name), version: string(version)})
		}
		name, version, installed = nil, nil, false
	}
	for len(b) > 0 {
		line := b
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			line, b = b[:i], b[i+1:]
		} else {
			b = nil
		}
		line = bytes.TrimSuffix(line, []byte("\r"))
		if len(bytes.TrimSpace(line)) == 0 {
			flush()
			continue
		}
		if line[0] == ' ' || line[0] == '\t' {
			continue
		}
		k, v, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			continue
		}
		v = bytes.TrimSpace(v)
		switch string(k) {
		case "Package":
			name = v
		case "Version":
			version = v
		case "Status":
			installed = isInstalled(v)
		}
	}
	flush()
	return out
}

// isInstalled reports whether a Status value is "install ok installed",
// however its words are spaced.
func isInstalled(v []byte) bool {
	for _, w := range []string{"install", "ok", "installed"} {
		v = bytes.TrimLeftFunc(v, unicode.IsSpace)
		i := bytes.IndexFunc(v, unicode.IsSpace)
		if i < 0 {
			i = len(v)
		}
		if string(v[:i]) != w {
			return false
		}
		v = v[i:]
	}
	return len(bytes.TrimSpace(v)) == 0
}
