package remoteaccess

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"
	"syscall"

	"github.com/farmwatch/farmwatch/agent/host"
	fwv1 "github.com/farmwatch/farmwatch/proto/farmwatch/v1"
)

// dirKind is what a unit directory is for. The kind of the directory that a
// unit is linked from decides its start mode, as `systemctl is-enabled` does.
type dirKind int

const (
	kindConfig    dirKind = iota // /etc/systemd/*, ~/.config/systemd/user: the administrator's or user's choice
	kindRuntime                  // /run/systemd/{system,user}: until the next boot
	kindGenerator                // /run/systemd/generator*: written by generators at boot
	kindTransient                // /run/systemd/transient: made by systemd-run
	kindVendor                   // /usr/lib, /lib, /usr/local/lib, ~/.local/share: shipped by packages
)

func (k dirKind) startMode() string {
	switch k {
	case kindConfig:
		return "enabled"
	case kindRuntime:
		return "enabled-runtime"
	case kindGenerator, kindTransient:
		return "generated"
	default:
		return "static"
	}
}

type unitDir struct {
	path string
	kind dirKind
	own  bool // the links in its *.wants/ belong to the scope being read
}

// The system manager's unit directories, in systemd's priority order: a unit
// file in an earlier directory hides one of the same name in a later one.
var systemUnitDirs = []unitDir{
	{"/run/systemd/transient", kindTransient, true},
	{"/run/systemd/generator.early", kindGenerator, true},
	{"/etc/systemd/system", kindConfig, true},
	{"/run/systemd/system", kindRuntime, true},
	{"/run/systemd/generator", kindGenerator, true},
	{"/usr/local/lib/systemd/system", kindVendor, true},
	{"/usr/lib/systemd/system", kindVendor, true},
	{"/lib/systemd/system", kindVendor, true},
	{"/run/systemd/generator.late", kindGenerator, true},
}

// The user managers' directories that every user shares.
var globalUserUnitDirs = []unitDir{
	{"/etc/systemd/user", kindConfig, true},
	{"/run/systemd/user", kindRuntime, true},
	{"/usr/local/lib/systemd/user", kindVendor, true},
	{"/usr/lib/systemd/user", kindVendor, true},
	{"/lib/systemd/user", kindVendor, true},
}

// homeUnitDirs are the directories that the user manager of one home reads:
// the user's own first, then the shared ones, whose links belong to the
// shared scope and are not counted again.
func homeUnitDirs(home string, shared []unitDir) []unitDir {
	dirs := []unitDir{{home + "/.config/systemd/user", kindConfig, true}}
	for _, d := range shared {
		if d.kind == kindVendor && dirs[len(dirs)-1].kind != kindVendor {
			dirs = append(dirs, unitDir{home + "/.local/share/systemd/user", kindVendor, false})
		}
		d.own = false
		dirs = append(dirs, d)
	}
	return dirs
}

// unitScope is one service manager's view: the system's, the units that
// every user's manager runs, or one user's own units.
type unitScope struct {
	system bool
	owner  string // the user whose home holds the units, for a home scope
	dirs   []unitDir
}

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

// readLinux reads systemd's units; listServices says exactly what.
func readLinux(ctx context.Context, h *host.Host) ([]*fwv1.Service, error) {
	r := &systemdReader{h: h, listings: map[string][]host.Entry{}}
	sysDirs, userDirs := systemUnitDirs, globalUserUnitDirs
	// On a merged-/usr system /lib is usr/lib: list it once.
	if t, err := h.Readlink("/lib"); err == nil && strings.Trim(path.Clean(t), "/") == "usr/lib" {
		sysDirs, userDirs = withoutLib(sysDirs), withoutLib(userDirs)
	}
	scopes := []unitScope{{system: true, dirs: sysDirs}, {dirs: userDirs}}
	homes, err := h.Glob("/home/*/.config/systemd/user")
	if err != nil {
		r.fail(err)
	}
	for _, cfg := range append(homes, "/root/.config/systemd/user") {
		home := strings.TrimSuffix(cfg, "/.config/systemd/user")
		scopes = append(scopes, unitScope{owner: path.Base(home), dirs: homeUnitDirs(home, userDirs)})
	}
	var out []*fwv1.Service
	for _, sc := range scopes {
		if err := ctx.Err(); err != nil {
			r.fail(err)
			break
		}
		out = append(out, r.scope(sc)...)
	}
	return out, errors.Join(r.errs...)
}

func withoutLib(dirs []unitDir) []unitDir {
	var out []unitDir
	for _, d := range dirs {
		if !strings.HasPrefix(d.path, "/lib/") {
			out = append(out, d)
		}
	}
	return out
}

// systemdReader reads unit directories through the host door, listing each
// directory at most once.
type systemdReader struct {
	h        *host.Host
	listings map[string][]host.Entry
	errs     []error
}

func (r *systemdReader) fail(err error) { r.errs = append(r.errs, err) }

// list lists a directory; a missing one is empty.
func (r *systemdReader) list(dir string) []host.Entry {
	if ents, ok := r.listings[dir]; ok {
		return ents
	}
	ents, err := r.h.ReadDir(dir)
	if err != nil && !missing(err) {
		r.fail(fmt.Errorf("list %s: %w", dir, err))
	}
	r.listings[dir] = ents
	return ents
}

// missing reports whether err says that a path is not there, so that there
// is nothing to read.
func missing(err error) bool {
	return errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR)
}

// unitLink is where a unit is linked from.
type unitLink struct {
	from string  // the link: /etc/systemd/system/multi-user.target.wants/x.service
	kind dirKind // the kind of the highest-ranked directory it is linked from
}

// scopeIndex is what the listings of one scope's directories say.
type scopeIndex struct {
	files   map[string]unitDir  // unit file name → the first directory holding it
	symlink map[string]bool     // unit file name → that entry is a symbolic link
	dropins map[string]bool     // "<dir>/<name>.d" drop-in directories that exist
	links   map[string]unitLink // unit name → the first link that enables it
}

func (r *systemdReader) index(sc unitScope) *scopeIndex {
	idx := &scopeIndex{files: map[string]unitDir{}, symlink: map[string]bool{}, dropins: map[string]bool{}, links: map[string]unitLink{}}
	for _, d := range sc.dirs {
		for _, e := range r.list(d.path) {
			switch {
			case e.IsDir && isLinkDir(e.Name):
				if d.own {
					r.links(idx, d, d.path+"/"+e.Name)
				}
			case e.IsDir && strings.HasSuffix(e.Name, ".d"):
				idx.dropins[d.path+"/"+e.Name] = true
			case !e.IsDir && unitType(e.Name) != "":
				if _, seen := idx.files[e.Name]; !seen {
					idx.files[e.Name] = d
					idx.symlink[e.Name] = e.Symlink
				}
			}
		}
	}
	return idx
}

func isLinkDir(name string) bool {
	return strings.HasSuffix(name, ".wants") || strings.HasSuffix(name, ".requires") || strings.HasSuffix(name, ".upholds")
}

// links records the units linked from one *.wants/ directory. Each link is
// read with Readlink, so that a snapshot holds it.
func (r *systemdReader) links(idx *scopeIndex, d unitDir, dir string) {
	for _, e := range r.list(dir) {
		if unitType(e.Name) == "" || e.IsDir {
			continue
		}
		from := dir + "/" + e.Name
		if e.Symlink {
			if _, err := r.h.Readlink(from); err != nil && !missing(err) {
				r.fail(fmt.Errorf("read link %s: %w", from, err))
			}
		}
		l, seen := idx.links[e.Name]
		if !seen {
			idx.links[e.Name] = unitLink{from: from, kind: d.kind}
			continue
		}
		if d.kind < l.kind {
			l.kind = d.kind
			idx.links[e.Name] = l
		}
	}
}

// active returns the system manager's active services and sockets, from the
// /run/systemd/units/invocation:<unit> links that systemd keeps while a unit
// is active. known is false when the directory is absent (systemd is not
// running, or a --root tree without /run).
func (r *systemdReader) active() (units map[string]bool, known bool) {
	const dir = "/run/systemd/units"
	ents, err := r.h.ReadDir(dir)
	if err != nil {
		if !missing(err) {
			r.fail(fmt.Errorf("list %s: %w", dir, err))
		}
		return nil, false
	}
	units = map[string]bool{}
	for _, e := range ents {
		name, ok := strings.CutPrefix(e.Name, "invocation:")
		if !ok || !reported(name) {
			continue
		}
		if e.Symlink { // read, so that a snapshot holds it
			if _, err := r.h.Readlink(dir + "/" + e.Name); err != nil {
				if !missing(err) {
					r.fail(fmt.Errorf("read link %s/%s: %w", dir, e.Name, err))
				}
				continue
			}
		}
		units[name] = true
	}
	return units, true
}

// scope reports the services of one scope that are enabled or active.
func (r *systemdReader) scope(sc unitScope) []*fwv1.Service {
	idx := r.index(sc)
	var act map[string]bool
	known := false
	if sc.system {
		act, known = r.active()
	}
	names := map[string]bool{}
	for n := range idx.links {
		if reported(n) {
			names[n] = true
		}
	}
	for n := range act {
		names[n] = true
	}
	sorted := make([]string, 0, len(names))
	for n := range names {
		sorted = append(sorted, n)
	}
	sort.Strings(sorted)
	out := make([]*fwv1.Service, 0, len(sorted))
	for _, n := range sorted {
		s := r.unit(sc, idx, n)
		if known {
			s.State = "stopped"
			if act[n] {
				s.State = "running"
			}
		}
		out = append(out, s)
	}
	return out
}

// unit reads one unit: its file (or its template's), drop-ins and links.
func (r *systemdReader) unit(sc unitScope, idx *scopeIndex, name string) *fwv1.Service {
	s := &fwv1.Service{Name: name, Manager: "systemd"}
	link, linked := idx.links[name]
	file, dir, text, masked := r.unitFile(idx, name, link)
	s.Path = file
	var settings []unitSetting
	if text != nil {
		settings = parseUnitFile(text)
		install := interpretUnit(settings).Install
		for _, p := range r.dropins(sc, idx, name) {
			b, err := r.h.ReadFile(p)
			if err != nil {
				if !missing(err) {
					r.fail(fmt.Errorf("read %s: %w", p, err))
				}
				continue
			}
			for _, st := range parseUnitFile(b) {
				if st.Section != "Install" {
					settings = append(settings, st)
				}
			}
		}
		u := interpretUnit(settings)
		u.Install = install
		s.DisplayName = expandSpecifiers(u.Description, name)
		if len(u.ExecStart) > 0 {
			exe, args := parseExec(u.ExecStart[0])
			s.Exe = expandSpecifiers(exe, name)
			words := []string{s.Exe}
			for _, a := range args {
				words = append(words, expandSpecifiers(a, name))
			}
			s.Command = strings.Join(words, " ")
		}
		s.Username = expandSpecifiers(u.User, name)
		switch {
		case linked:
		case dir.kind == kindTransient:
			s.StartMode = "transient"
		case u.Install:
			s.StartMode = "disabled"
		default:
			s.StartMode = "static"
		}
	}
	if linked {
		s.Enabled, s.StartMode = true, link.kind.startMode()
	}
	if masked {
		s.Enabled, s.StartMode = false, "masked"
	}
	switch {
	case sc.owner != "":
		s.Username = sc.owner // a user manager runs everything as its user
	case !sc.system:
		s.Username = "" // every user's manager runs it as that user
	case s.Username == "" && unitType(name) == ".service" && text != nil:
		s.Username = "root"
	}
	return s
}

// unitFile finds and reads the file of a unit, or of the template of an
// instance. A file linked to /dev/null, or empty, masks the unit. When no
// directory holds the unit, the file at the end of its enabling link is
// read (a unit linked in from elsewhere).
func (r *systemdReader) unitFile(idx *scopeIndex, name string, link unitLink) (file string, dir unitDir, text []byte, masked bool) {
	names := []string{name}
	if t := templateOf(name); t != "" {
		names = append(names, t)
	}
	for _, n := range names {
		d, ok := idx.files[n]
		if !ok {
			continue
		}
		p := d.path + "/" + n
		if idx.symlink[n] {
			t, err := r.h.Readlink(p)
			if err == nil && path.Clean(t) == "/dev/null" {
				return p, d, nil, true
			}
		}
		b, err := r.h.ReadFile(p)
		if err != nil {
			if !missing(err) {
				r.fail(fmt.Errorf("read %s: %w", p, err))
			}
			continue // a dangling link: look further
		}
		if len(b) == 0 {
			return p, d, nil, true
		}
		return p, d, b, false
	}
	if link.from != "" {
		if b, err := r.h.ReadFile(link.from); err == nil && len(b) > 0 {
			return link.from, unitDir{}, b, false
		}
	}
	return "", unitDir{}, nil, false
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

// dropins returns the drop-in files of a unit in the order systemd applies
// them: by file name, where a file in a higher-priority directory hides one
// of the same name in a lower one.
func (r *systemdReader) dropins(sc unitScope, idx *scopeIndex, name string) []string {
	type dropin struct{ base, path string }
	var files []dropin
	seen := map[string]bool{}
	for _, d := range sc.dirs {
		for _, dn := range dropinNames(name) {
			dir := d.path + "/" + dn
			if !idx.dropins[dir] {
				continue
			}
			for _, e := range r.list(dir) {
				if e.IsDir || !strings.HasSuffix(e.Name, ".conf") || seen[e.Name] {
					continue
				}
				seen[e.Name] = true
				files = append(files, dropin{e.Name, dir + "/" + e.Name})
			}
		}
	}
	sort.Slice(files, func(i, j int) bool { return files[i].base < files[j].base })
	out := make([]string, len(files))
	for i, f := range files {
		out[i] = f.path
	}
	return out
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
