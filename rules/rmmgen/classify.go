package main

import (
	"regexp"
	"strings"
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
	lNameStems
	lProcNamesLinux
	nLists
)

var listNames = [nLists]string{
	"rmm_process_names", "rmm_process_globs", "rmm_original_filenames", "rmm_bundle_ids",
	"rmm_paths_windows", "rmm_paths_darwin", "rmm_paths_linux",
	"rmm_service_names", "rmm_service_globs", "rmm_name_stems", "rmm_process_names_linux",
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

// minStem is the shortest product stem extra.yaml may give: a shorter one
// ("nx", "sr", "tv") begins too many unrelated names. A suffix may be one
// character shorter (minSuffix): "*vnc" (Xvnc, x11vnc, wayvnc, Xtigervnc)
// ends no common program's name, while three-letter prefixes abound.
const (
	minStem   = 4
	minSuffix = 3
)

// classifyStem turns a product-level name stem of extra.yaml into a glob of
// rmm_name_stems (a list of its own: the rule ranks a stem below an exact
// name and an install folder, and lets a foreign bundle id veto it): "teamviewer" becomes "teamviewer*" (TeamViewer, TeamViewer_Service,
// TeamViewer Helper, teamviewerd), and with suffix set "vncserver" becomes
// "*vncserver" (tigervncserver, x0vncserver, AppleVNCServer). Unlike a
// process name, a stem may hold spaces (macOS names: "splashtop streamer"),
// but no wildcard, path separator or control character, and at least minStem
// characters (minSuffix for a suffix).
func classifyStem(raw string, suffix bool) ([]item, []dropped) {
	n := lowerASCII(strings.TrimSpace(raw))
	switch {
	case n == "":
		return nil, []dropped{{raw, "empty stem"}}
	case hasWild(n):
		return nil, []dropped{{n, "a stem holds no wildcard (the generator adds it)"}}
	case strings.ContainsAny(n, "\\/:\n\t\r"):
		return nil, []dropped{{n, "not a file name"}}
	case !suffix && len(n) < minStem, suffix && len(n) < minSuffix:
		return nil, []dropped{{n, "stem too short to identify a product"}}
	}
	if why, ok := deniedNames[n]; ok {
		return nil, []dropped{{n, why}}
	}
	if suffix {
		return []item{{lNameStems, "*" + n, osWindows | osPosix}}, nil
	}
	return []item{{lNameStems, n + "*", osWindows | osPosix}}, nil
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
