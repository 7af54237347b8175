package main

import (
	"strings"
	"unicode"
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
