package remoteaccess

import (
	"strconv"
	"strings"
)

var unitTypes = []string{".service", ".socket", ".target", ".device", ".mount", ".automount",
	".swap", ".timer", ".path", ".slice", ".scope"}

// unitType returns the suffix of a unit name (".service"), or "" when the
// name is not a unit's.
func unitType(name string) string {
	for _, t := range unitTypes {
		if strings.HasSuffix(name, t) && len(name) > len(t) && !strings.ContainsAny(name, "/\x00") {
			return t
		}
	}
	return ""
}

// reported says which units are reported as services: services and the
// sockets that start them. The other types (targets, mounts, scopes, slices,
// timers...) run no program of their own.
func reported(name string) bool {
	t := unitType(name)
	return t == ".service" || t == ".socket"
}

// templateOf returns the template of an instance name
// ("getty@tty1.service" → "getty@.service"), or "".
func templateOf(name string) string {
	at := strings.IndexByte(name, '@')
	t := unitType(name)
	if at < 0 || t == "" || at+1 == len(name)-len(t) {
		return ""
	}
	return name[:at+1] + t
}

// dropinNames are the drop-in directory names that apply to a unit, most
// specific first: the unit's, its template's, each dash prefix's (longest
// first: "foo-bar-.service.d", "foo-.service.d"), and its type's ("service.d").
func dropinNames(name string) []string {
	t := unitType(name)
	out := []string{name + ".d"}
	if tmpl := templateOf(name); tmpl != "" {
		out = append(out, tmpl+".d")
	}
	stem := strings.TrimSuffix(name, t)
	if at := strings.IndexByte(stem, '@'); at >= 0 {
		stem = stem[:at]
	}
	for i := strings.LastIndexByte(stem, '-'); i > 0; i = strings.LastIndexByte(stem[:i], '-') {
		out = append(out, stem[:i+1]+t+".d")
	}
	return append(out, t[1:]+".d")
}

// unitSetting is one assignment of a unit file: [Section] Key=Value.
type unitSetting struct {
	Section, Key, Value string
}

// parseUnitFile parses systemd unit-file text (systemd.syntax(7)) into its
// assignments, in order. Lines are trimmed; empty lines and lines starting
// with '#' or ';' are comments; a line ending in an unescaped backslash
// continues on the next, the backslash becoming a space, and comment lines
// inside a continuation are skipped. Lines that are neither a [Section]
// header nor Key=Value are ignored, as systemd ignores them.
func parseUnitFile(b []byte) []unitSetting {
	var (
		out     []unitSetting
		section string
		cont    strings.Builder
		inCont  bool
	)
	handle := func(line string) {
		if strings.HasPrefix(line, "[") && strings.HasSuffix(line, "]") && len(line) >= 2 {
			section = line[1 : len(line)-1]
			return
		}
		k, v, ok := strings.Cut(line, "=")
		k = strings.TrimSpace(k)
		if !ok || k == "" {
			return
		}
		out = append(out, unitSetting{Section: section, Key: k, Value: strings.TrimSpace(v)})
	}
	for _, raw := range strings.Split(string(b), "\n") {
		l := strings.Trim(raw, " \t\r\f\v")
		if strings.HasPrefix(l, "#") || strings.HasPrefix(l, ";") || (l == "" && !inCont) {
			continue
		}
		if endsEscaped(l) {
			cont.WriteString(l[:len(l)-1])
			cont.WriteByte(' ')
			inCont = true
			continue
		}
		if inCont {
			cont.WriteString(l)
			l = cont.String()
			cont.Reset()
			inCont = false
		}
		handle(l)
	}
	if inCont {
		handle(strings.TrimSpace(cont.String()))
	}
	return out
}

// endsEscaped reports whether a line ends in a backslash that is not
// itself escaped.
func endsEscaped(l string) bool {
	escaped := false
	for i := 0; i < len(l); i++ {
		if escaped {
			escaped = false
		} else if l[i] == '\\' {
			escaped = true
		}
	}
	return escaped
}

// unitInfo is what the agent takes from a unit and its drop-ins.
type unitInfo struct {
	Description string
	ExecStart   []string // raw command lines, in order, since the last reset
	User        string
	Install     bool // [Install] says how to enable it: WantedBy=, RequiredBy=, UpheldBy= or Alias=
}

// interpretUnit applies assignments in order, as systemd does: the last
// Description= and User= win, and ExecStart= appends a command, or clears
// the list when empty (how a drop-in replaces a command).
func interpretUnit(settings []unitSetting) unitInfo {
	var u unitInfo
	for _, s := range settings {
		switch s.Section + "." + s.Key {
		case "Unit.Description":
			u.Description = s.Value
		case "Service.User":
			u.User = s.Value
		case "Service.ExecStart":
			if s.Value == "" {
				u.ExecStart = nil
			} else {
				u.ExecStart = append(u.ExecStart, s.Value)
			}
		case "Install.WantedBy", "Install.RequiredBy", "Install.UpheldBy", "Install.Alias":
			if s.Value != "" {
				u.Install = true
			}
		}
	}
	return u
}

// parseExec splits one ExecStart= command line (systemd.service(5),
// "Command lines") into the executable and its arguments. The prefixes "@",
// "-", ":", "+", "!", "!!" and "|" are dropped; after "@" the second word is the
// argv[0] the program is shown under, and it is dropped too, so that the
// arguments are what follows. Words are split on white space; single and
// double quotes group, and backslash escapes (\n, \t, \s, \xNN, \\, \", \')
// are undone. A bare ";" word ends the command. Specifiers (%i) are left as
// they are.
func parseExec(line string) (exe string, args []string) {
	s := strings.TrimLeft(line, " \t")
	at := false
	for len(s) > 0 && strings.IndexByte("@-:+!|", s[0]) >= 0 {
		if s[0] == '@' {
			at = true
		}
		s = s[1:]
	}
	words := splitExecWords(s)
	if len(words) == 0 || words[0] == "" {
		return "", nil // systemd refuses an empty executable
	}
	exe, args = words[0], words[1:]
	if at && len(args) > 0 {
		args = args[1:]
	}
	if len(args) == 0 {
		args = nil
	}
	return exe, args
}

// splitExecWords splits a command line into words the way systemd's
// extract_first_word does with unquoting and C unescaping.
func splitExecWords(s string) []string {
	var (
		words  []string
		cur    strings.Builder
		inWord bool
		quote  byte
		bare   bool // the word so far is nothing but an unquoted, unescaped ";"
	)
	end := func() bool {
		if !inWord {
			return false
		}
		if bare && cur.String() == ";" {
			return true
		}
		words = append(words, cur.String())
		cur.Reset()
		inWord = false
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case quote != 0:
			switch {
			case c == quote:
				quote = 0
			case c == '\\' && i+1 < len(s):
				i += unescape(&cur, s[i+1:])
			default:
				cur.WriteByte(c)
			}
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			if end() {
				return words
			}
		case c == '"' || c == '\'':
			quote, inWord, bare = c, true, false
		case c == '\\' && i+1 < len(s):
			i += unescape(&cur, s[i+1:])
			inWord, bare = true, false
		default:
			if !inWord {
				bare = true
			}
			if c != ';' {
				bare = false
			}
			inWord = true
			cur.WriteByte(c)
		}
	}
	end()
	return words
}

// unescape writes the character that the escape at the start of rest (the
// text after a backslash) stands for and returns how many bytes it used.
func unescape(b *strings.Builder, rest string) int {
	switch rest[0] {
	case 'n':
		b.WriteByte('\n')
	case 't':
		b.WriteByte('\t')
	case 's':
		b.WriteByte(' ')
	case 'x':
		if len(rest) >= 3 {
			if v, err := strconv.ParseUint(rest[1:3], 16, 8); err == nil {
				b.WriteByte(byte(v))
				return 3
			}
		}
		b.WriteByte('x')
	default:
		b.WriteByte(rest[0])
	}
	return 1
}

// expandSpecifiers expands the specifiers of systemd.unit(5) that depend
// only on the unit's name: %n (full name), %N (without the type suffix), %p
// (prefix), %P (unescaped prefix), %i (instance), %I (unescaped instance)
// and %%. Others (%h, %u, %H...) need the running system and are kept.
func expandSpecifiers(s, unit string) string {
	if !strings.Contains(s, "%") {
		return s
	}
	stem := strings.TrimSuffix(unit, unitType(unit))
	prefix, instance, _ := strings.Cut(stem, "@")
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '%' || i+1 == len(s) {
			b.WriteByte(s[i])
			continue
		}
		i++
		switch s[i] {
		case 'n':
			b.WriteString(unit)
		case 'N':
			b.WriteString(stem)
		case 'p':
			b.WriteString(prefix)
		case 'P':
			b.WriteString(unescapeUnitName(prefix))
		case 'i':
			b.WriteString(instance)
		case 'I':
			b.WriteString(unescapeUnitName(instance))
		case '%':
			b.WriteByte('%')
		default:
			b.WriteByte('%')
			b.WriteByte(s[i])
		}
	}
	return b.String()
}

// unescapeUnitName undoes systemd-escape: "-" is "/" and \xNN is a byte.
func unescapeUnitName(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		switch {
		case s[i] == '-':
			b.WriteByte('/')
		case s[i] == '\\' && i+4 <= len(s) && s[i+1] == 'x':
			if v, err := strconv.ParseUint(s[i+2:i+4], 16, 8); err == nil {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
			b.WriteByte(s[i])
		default:
			b.WriteByte(s[i])
		}
	}
	return b.String()
}
