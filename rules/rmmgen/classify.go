package main

import (
	"regexp"
	"strings"
	"unicode"
)

// listID names one generated list.
type listID int

const (
	lProcNames listID = iota
	lProcGlobs
	lOrigNames
	lBundleIDs
	lPathsWindows
	lPathsDarwin
	lPathsLinux
	lSvcNames
	lSvcGlobs
	nLists
)

var listNames = [nLists]string{
	"rmm_process_names", "rmm_process_globs", "rmm_original_filenames", "rmm_bundle_ids",
	"rmm_paths_windows", "rmm_paths_darwin", "rmm_paths_linux",
	"rmm_service_names", "rmm_service_globs",
}

func (l listID) String() string { return listNames[l] }

// osSet is a set of host operating systems.
type osSet uint8

const (
	osWindows osSet = 1 << iota
	osDarwin
	osLinux
	osPosix = osDarwin | osLinux
)

// item is one value bound for one list.
type item struct {
	list  listID
	value string // normalised, lower case
	os    osSet
}

// dropped is a value that does not go into any list, and why.
type dropped struct {
	value  string
	reason string
}

var (
	exeExts    = map[string]bool{"exe": true, "com": true, "scr": true, "bin": true}
	notExeExts = map[string]string{
		"msi": "an installer package", "mst": "an installer transform", "pkg": "an installer package",
		"dll": "a library", "sys": "a driver", "zip": "an archive", "lnk": "a shortcut",
		"py": "a script", "ps1": "a script", "vbs": "a script", "cmd": "a script", "bat": "a script", "sh": "a script",
		"xml": "a data file", "json": "a data file", "txt": "a data file", "log": "a log file",
		"conf": "a configuration file", "cfg": "a configuration file", "ini": "a configuration file",
		"yml": "a configuration file", "yaml": "a configuration file", "env": "a configuration file",
		"db": "a data file", "msh": "a data file", "sock": "a socket", "bashrc": "a configuration file",
		"tmp": "a temporary file", "mui": "a resource file", "plist": "a property list", "prefpane": "a preference pane",
		"desktop": "a desktop entry", "crt": "a certificate", "reg": "a registry file", "trace": "a log file",
		"service": "a systemd unit", "dat": "a data file",
	}
	hexHash     = regexp.MustCompile(`^[0-9a-f]{32,64}$`)
	placeholder = regexp.MustCompile(`<[^>]*>`)
	charClass   = regexp.MustCompile(`\[[^\]]*\]`)
	stars       = regexp.MustCompile(`\*+`)
	winUsers    = regexp.MustCompile(`^c:\\users\\(username|ieuser|user|%username%)\\`)
	progFiles   = regexp.MustCompile(`^c:\\program files( \(x86\))?\\`)
)

// winEnv are the Windows environment variables LOLRMM paths use (lower case).
var winEnv = []struct{ v, path string }{
	{"%programfiles(x86)%", `c:\program files (x86)`},
	{"%programfiles%", `c:\program files`},
	{"%programdata%", `c:\programdata`},
	{"%localappdata%", `c:\users\*\appdata\local`},
	{"%appdata%", `c:\users\*\appdata\roaming`},
	{"%userprofile%", `c:\users\*`},
	{"%systemroot%", `c:\windows`},
	{"%windir%", `c:\windows`},
	{"%temp%", `c:\users\*\appdata\local\temp`},
	{"%public%", `c:\users\public`},
	{"%systemdrive%", `c:`},
}

// ext returns the lower-case extension of a file name ("" when none). A
// "extension" that is not a short word (Idrive.File-Transfer) is returned
// whole, so that it is refused as unknown.
func ext(name string) string {
	i := strings.LastIndex(name, ".")
	if i < 0 || i == len(name)-1 {
		return ""
	}
	return lowerASCII(name[i+1:])
}

func hasWild(s string) bool { return strings.ContainsAny(s, "*?") }

// literalLen counts the characters of a glob that are not wildcards and not a
// final executable extension.
func literalLen(g string) int {
	s := g
	if e := ext(s); exeExts[e] {
		s = s[:len(s)-len(e)-1]
	}
	return len(s) - strings.Count(s, "*") - strings.Count(s, "?")
}

// classifyName classifies an image name (no folder): a process name, a
// process glob, or nothing. os is the set of systems the name belongs to
// when it has no extension of its own.
func classifyName(raw string, posix osSet) ([]item, []dropped) {
	n := lowerASCII(strings.Trim(strings.TrimSpace(raw), `"'`))
	if f, ok := fixups[n]; ok {
		n = f
	}
	n = stars.ReplaceAllString(charClass.ReplaceAllString(n, "*"), "*")
	if n == "" {
		return nil, nil
	}
	if why, ok := deniedNames[n]; ok {
		return nil, []dropped{{n, why}}
	}
	if hexHash.MatchString(n) {
		return nil, []dropped{{n, "a hash, not a name"}}
	}
	if strings.ContainsAny(n, `\/:`) || strings.ContainsAny(n, "\n\t") {
		return nil, []dropped{{n, "not a file name"}}
	}
	e := ext(n)
	var os osSet
	switch {
	case e == "app":
		// A bare macOS bundle name (ARDAgent.app): the executables inside it.
		return []item{{lPathsDarwin, "*/" + n + "/*", osDarwin}}, nil
	case exeExts[e] && e != "bin":
		os = osWindows
	case e == "bin" || e == "":
		if strings.Contains(n, " ") {
			return nil, []dropped{{n, "prose, not a name"}}
		}
		os = posix
	case notExeExts[e] != "":
		return nil, []dropped{{n, "not a process image: " + notExeExts[e]}}
	default:
		return nil, []dropped{{n, "not a file name (unknown extension ." + e + ")"}}
	}
	if hasWild(n) {
		if literalLen(n) < 3 {
			return nil, []dropped{{n, "glob too broad"}}
		}
		return []item{{lProcGlobs, n, os}}, nil
	}
	stem := n
	if e != "" {
		stem = n[:len(n)-len(e)-1]
	}
	if len(stem) <= 2 {
		return nil, []dropped{{n, "name too short to identify a tool"}}
	}
	return []item{{lProcNames, n, os}}, nil
}

// classifyOriginal classifies a PE OriginalFileName (with the Filename it
// came with): .NET programs carry "X.dll" as the original name of X.exe.
func classifyOriginal(orig, filename string) ([]item, []dropped) {
	o := lowerASCII(strings.TrimSpace(orig))
	if o == "" {
		return nil, nil
	}
	if why, ok := deniedNames[o]; ok {
		return nil, []dropped{{o, why}}
	}
	if hasWild(o) {
		return nil, []dropped{{o, "a pattern, not an original file name"}}
	}
	e := ext(o)
	fe := ext(lowerASCII(filename))
	switch {
	case exeExts[e] || e == "":
	case e == "dll" && fe == "exe":
	default:
		return nil, []dropped{{o, "original file name of a non-executable (." + e + ")"}}
	}
	return []item{{lOrigNames, o, osWindows}}, nil
}

// classifyInstallPath classifies one LOLRMM InstallationPaths value (or an
// indicator-catalogue path), which may be a Windows path, a POSIX path, or a
// bare image name. supported is the tool's SupportedOS.
func classifyInstallPath(raw string, supported osSet) ([]item, []dropped) {
	s := strings.TrimFunc(raw, spaceOrQuote)
	switch {
	case s == "":
		return nil, nil
	case strings.HasPrefix(s, "/") || strings.HasPrefix(s, "~/"):
		return classifyPosixPath(s, supported)
	case strings.Contains(s, `\`) || strings.Contains(s, "%") || (len(s) > 1 && s[1] == ':'):
		return classifyWindowsPath(s)
	case strings.Contains(s, "/"):
		// A relative POSIX path (helpwire-operator/bin/helpwire-operator).
		last := s[strings.LastIndex(s, "/")+1:]
		if strings.Trim(strings.TrimSpace(last), `"'`) == "" {
			return nil, []dropped{{lowerASCII(s), "a relative folder, not an install path"}}
		}
		return classifyName(last, posixOf(supported))
	}
	return classifyName(s, posixOf(supported))
}

// spaceOrQuote reports the characters trimmed from both ends of a value:
// white space and the quotes LOLRMM sometimes leaves around a path.
func spaceOrQuote(r rune) bool { return unicode.IsSpace(r) || r == '"' || r == '\'' }

// posixOf returns the POSIX systems of a tool's SupportedOS (both if none).
func posixOf(supported osSet) osSet {
	if p := supported & osPosix; p != 0 {
		return p
	}
	return osPosix
}

// normWindowsPath normalises a Windows path: lower case, one backslash,
// environment variables and placeholders expanded, the user folder a
// wildcard, and both Program Files folders one ("c:\program files*\", which
// classifyWindowsPath spells out as both): the folder follows the build's
// bitness, not the tool.
func normWindowsPath(raw string) string {
	s := lowerASCII(strings.Trim(strings.TrimSpace(raw), `"'`))
	for strings.Contains(s, `\\`) {
		s = strings.ReplaceAll(s, `\\`, `\`)
	}
	for _, e := range winEnv {
		s = strings.ReplaceAll(s, e.v, e.path)
	}
	s = strings.ReplaceAll(s, "%", "") // stray: "c:\program files (x86)%\mremoteng"
	s = placeholder.ReplaceAllString(s, "*")
	s = strings.ReplaceAll(s, "(random)", "(*)") // "ScreenConnect Client (Random)"
	s = charClass.ReplaceAllString(s, "*")
	s = winUsers.ReplaceAllString(s, `c:\users\*\`)
	s = progFiles.ReplaceAllString(s, `c:\program files*\`)
	return stars.ReplaceAllString(s, "*")
}

var genericWinDirs = map[string]bool{
	"c:": true, "*": true, "": true, "program files*": true, "program files": true, "program files (x86)": true,
	"programdata": true, "users": true, "appdata": true, "local": true, "roaming": true, "locallow": true,
	"windows": true, "system32": true, "syswow64": true, "temp": true, "downloads": true, "programs": true, "bin": true,
	"*users": true, "*programdata": true,
}

func classifyWindowsPath(raw string) ([]item, []dropped) {
	s := normWindowsPath(raw)
	// "Anywhere" prefixes: *\x, *\*\x, c:\*\x.
	rest := s
	for {
		switch {
		case strings.HasPrefix(rest, `*\`):
			rest = rest[2:]
			continue
		case strings.HasPrefix(rest, `c:\*\`):
			rest = rest[5:]
			continue
		}
		break
	}
	if rest != s && !strings.Contains(rest, `\`) {
		// A name anywhere on the disk: an image name when it is one.
		if e := ext(rest); exeExts[e] && e != "bin" {
			return classifyName(rest, osWindows)
		}
		if e := ext(rest); notExeExts[e] != "" {
			return nil, []dropped{{s, "not an executable: " + notExeExts[e]}}
		}
		if !hasWild(rest) {
			s = `*\` + rest + `\*` // a folder anywhere: *\mremoteng
		}
	}
	var items []item
	var drops []dropped
	last := s[strings.LastIndex(s, `\`)+1:]
	parts := strings.Split(s, `\`)
	for _, p := range parts {
		if p == "logs" || p == "log" {
			return nil, []dropped{{s, "a log folder"}}
		}
	}
	if why, ok := deniedNames[last]; ok && !hasSpecificPart(parts[:len(parts)-1], genericWinDirs) {
		return nil, []dropped{{s, why}}
	}
	switch {
	case last == "":
		s += "*"
	case hasWild(last):
		if e := ext(last); notExeExts[e] != "" {
			return nil, []dropped{{s, "not an executable: " + notExeExts[e]}}
		}
	default:
		e := ext(last)
		switch {
		case e == "":
			s += `\*`
		case exeExts[e] && e != "bin":
			it, dr := classifyName(last, osWindows)
			items, drops = append(items, it...), append(drops, dr...)
		case notExeExts[e] != "":
			return nil, []dropped{{s, "not an executable: " + notExeExts[e]}}
		default:
			s += `\*` // a folder with a dot: "c:\program files*\getscreen.me"
		}
	}
	if strings.Contains(s, `\downloads\`) {
		return items, append(drops, dropped{s, "a download location, not an install path"})
	}
	if why, ok := deniedPaths[s]; ok {
		return items, append(drops, dropped{s, why})
	}
	if !hasSpecificPart(strings.Split(s, `\`), genericWinDirs) {
		return items, append(drops, dropped{s, "path too generic"})
	}
	// Both Program Files folders, spelt out: a literal prefix lets the list
	// index the pattern (one "c:\program files*\" prefix for all would be
	// scanned pattern by pattern).
	if rest, ok := strings.CutPrefix(s, progFilesAny); ok {
		return append(items,
			item{lPathsWindows, `c:\program files\` + rest, osWindows},
			item{lPathsWindows, `c:\program files (x86)\` + rest, osWindows}), drops
	}
	return append(items, item{lPathsWindows, s, osWindows}), drops
}

// progFilesAny is how normWindowsPath writes either Program Files folder.
const progFilesAny = `c:\program files*\`

// hasSpecificPart reports whether some component names something specific:
// its literal characters (wildcards removed) are at least three, not just an
// extension, and not a generic folder name.
func hasSpecificPart(parts []string, generic map[string]bool) bool {
	for _, p := range parts {
		lit := strings.NewReplacer("*", "", "?", "").Replace(p)
		if len(lit) >= 3 && !strings.HasPrefix(lit, ".") && !generic[p] && !generic[lit] {
			return true
		}
	}
	return false
}

var genericPosixDirs = map[string]bool{
	"": true, "*": true, "usr": true, "bin": true, "sbin": true, "local": true, "opt": true, "lib": true,
	"libexec": true, "share": true, "applications": true, "library": true, "users": true, "home": true,
	"var": true, "application support": true, "privilegedhelpertools": true,
}

var darwinOnly = []string{"/applications/", "/library/", "/system/", "/users/"}

// classifyPosixPath classifies a macOS or Linux path; posix tells the systems
// a path that is not evidently one system's belongs to.
func classifyPosixPath(raw string, supported osSet) ([]item, []dropped) {
	var items []item
	var drops []dropped
	seen := map[item]bool{}
	judged := false
	for _, os := range []osSet{osDarwin, osLinux} {
		s := strings.TrimSpace(raw)
		if strings.HasPrefix(s, "~/") {
			home := "/home/*/"
			if os == osDarwin {
				home = "/users/*/"
			}
			s = home + s[2:]
		}
		s = stars.ReplaceAllString(placeholder.ReplaceAllString(lowerASCII(s), "*"), "*")
		if !posixFor(s, supported)[os] {
			continue
		}
		judged = true
		it, dr := classifyPosixOne(s, os)
		for _, i := range it {
			if !seen[i] {
				seen[i] = true
				items = append(items, i)
			}
		}
		drops = append(drops, dr...)
	}
	if !judged {
		return nil, []dropped{{lowerASCII(strings.TrimSpace(raw)), "a path of a system the tool does not support (" + supported.String() + ")"}}
	}
	return items, dedupDrops(drops)
}

// posixFor tells which systems a normalised POSIX path belongs to: what the
// path itself shows (/Applications is macOS, /home is Linux), within the
// systems the tool supports; a path that shows nothing belongs to all of
// them, or to Linux when the tool names none.
func posixFor(s string, supported osSet) map[osSet]bool {
	var evident osSet
	for _, p := range darwinOnly {
		if strings.HasPrefix(s, p) {
			evident = osDarwin
		}
	}
	if strings.HasPrefix(s, "/home/") || strings.Contains(s, "/systemd/") {
		evident = osLinux
	}
	allowed := supported & osPosix
	known := allowed != 0
	if !known {
		allowed = osPosix
	}
	var r osSet
	switch {
	case evident != 0:
		r = evident & allowed
	case !known:
		r = osLinux
	default:
		r = allowed
	}
	return map[osSet]bool{osDarwin: r&osDarwin != 0, osLinux: r&osLinux != 0}
}

func classifyPosixOne(s string, os osSet) ([]item, []dropped) {
	pathList := lPathsLinux
	if os == osDarwin {
		pathList = lPathsDarwin
	}
	last := s[strings.LastIndex(s, "/")+1:]
	if ext(last) == "service" && os == osLinux {
		return classifyUnit(last)
	}
	if ext(last) == "plist" && (strings.Contains(s, "/launchdaemons/") || strings.Contains(s, "/launchagents/")) {
		return nil, []dropped{{s, "a launchd plist: its label need not be the file name (labels come from extra.yaml)"}}
	}
	for _, p := range []string{"/etc/", "/var/log/", "/var/lib/", "/tmp/"} {
		if strings.HasPrefix(s, p) {
			return nil, []dropped{{s, "not an install path (" + strings.TrimSuffix(p, "/") + ")"}}
		}
	}
	parts := strings.Split(s, "/")
	for i, p := range parts {
		if p == "logs" || p == "log" {
			return nil, []dropped{{s, "a log folder"}}
		}
		if p == ".config" || p == ".cache" {
			return nil, []dropped{{s, "a configuration folder"}}
		}
		if strings.HasSuffix(p, ".app") && p != ".app" {
			// The executables inside a macOS bundle.
			s = strings.Join(parts[:i+1], "/") + "/*"
			return []item{{pathList, s, os}}, nil
		}
	}
	var items []item
	var drops []dropped
	switch {
	case last == "":
		s += "*"
	case hasWild(last):
	default:
		if e := ext(last); notExeExts[e] != "" {
			return nil, []dropped{{s, "not an executable: " + notExeExts[e]}}
		}
		// A file or a folder: match both, and the file's name as an image name
		// when it looks like one.
		if e := ext(last); e == "" || exeExts[e] {
			it, dr := classifyName(last, os)
			items = append(items, it...)
			drops = append(drops, dr...)
		}
		if hasSpecificPart(parts, genericPosixDirs) {
			items = append(items, item{pathList, s + "/*", os})
		}
	}
	if !hasSpecificPart(parts, genericPosixDirs) {
		return items, append(drops, dropped{s, "path too generic"})
	}
	return append(items, item{pathList, s, os}), drops
}

// classifyUnit classifies a systemd unit name; "x@.service" is a template,
// matched as the glob "x@*.service".
func classifyUnit(raw string) ([]item, []dropped) {
	u := lowerASCII(strings.TrimSpace(raw))
	u = stars.ReplaceAllString(placeholder.ReplaceAllString(u, "*"), "*")
	if !strings.HasSuffix(u, ".service") || strings.ContainsAny(u, " /") {
		return nil, []dropped{{u, "not a systemd unit name"}}
	}
	u = strings.Replace(u, "@.service", "@*.service", 1)
	if hasWild(u) {
		return []item{{lSvcGlobs, u, osLinux}}, nil
	}
	return []item{{lSvcNames, u, osLinux}}, nil
}

// classifyService classifies a Windows service name (key or display name).
func classifyService(raw string) ([]item, []dropped) {
	s := lowerASCII(strings.Trim(strings.TrimSpace(raw), `"'`))
	s = stars.ReplaceAllString(placeholder.ReplaceAllString(s, "*"), "*")
	if s == "" {
		return nil, nil
	}
	if why, ok := deniedServices[s]; ok {
		return nil, []dropped{{s, why}}
	}
	if strings.ContainsAny(s, `\/`) || len(s) > 256 {
		return nil, []dropped{{s, "not a service name"}}
	}
	if hasWild(s) {
		if literalLen(s) < 4 {
			return nil, []dropped{{s, "glob too broad"}}
		}
		return []item{{lSvcGlobs, s, osWindows}}, nil
	}
	return []item{{lSvcNames, s, osWindows}}, nil
}

// classifyLaunchd classifies a launchd label.
func classifyLaunchd(raw string) ([]item, []dropped) {
	s := lowerASCII(strings.TrimSpace(raw))
	if s == "" || strings.ContainsAny(s, " /") {
		return nil, []dropped{{s, "not a launchd label"}}
	}
	if hasWild(s) {
		return []item{{lSvcGlobs, s, osDarwin}}, nil
	}
	return []item{{lSvcNames, s, osDarwin}}, nil
}

// classifyBundleID classifies a macOS bundle identifier.
func classifyBundleID(raw string) ([]item, []dropped) {
	s := lowerASCII(strings.TrimSpace(raw))
	if !strings.Contains(s, ".") || strings.ContainsAny(s, " /*?") {
		return nil, []dropped{{s, "not a bundle identifier"}}
	}
	return []item{{lBundleIDs, s, osDarwin}}, nil
}

func dedupDrops(d []dropped) []dropped {
	seen := map[dropped]bool{}
	var out []dropped
	for _, x := range d {
		if !seen[x] {
			seen[x] = true
			out = append(out, x)
		}
	}
	return out
}

// supportedOS maps LOLRMM SupportedOS values to systems.
func supportedOS(v []string) osSet {
	var s osSet
	for _, o := range v {
		switch lowerASCII(strings.TrimSpace(o)) {
		case "windows":
			s |= osWindows
		case "mac", "macos", "osx", "os x":
			s |= osDarwin
		case "linux":
			s |= osLinux
		}
	}
	return s
}

func (s osSet) String() string {
	var p []string
	for _, x := range []struct {
		b osSet
		n string
	}{{osWindows, "windows"}, {osDarwin, "darwin"}, {osLinux, "linux"}} {
		if s&x.b != 0 {
			p = append(p, x.n)
		}
	}
	if len(p) == 0 {
		return "-"
	}
	return strings.Join(p, "+")
}

// lowerASCII lower-cases ASCII letters only, as the rule engine does when it
// matches: a value lower-cased further (Ä -> ä) would never match.
func lowerASCII(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}
