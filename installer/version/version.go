// Package version turns the version that `git describe --tags --match v[0-9]* --always
// --dirty` prints into the version strings of each package format, so that
// every package of one build carries the same version and a later commit
// sorts after an earlier one:
//
//	describe               deb / pkg              rpm (version-release)     msi
//	v1.2.3                 1.2.3                  1.2.3-1                   1.2.3
//	v1.2.3-4-gabc1234      1.2.3+4.gabc1234       1.2.3-1.4.gabc1234        1.2.3
//	v1.3.0-rc1             1.3.0~rc1              1.3.0~rc1-1               1.3.0
//	abc1234 (no tag)       0.0.0+gabc1234         0.0.0-1.gabc1234          0.0.0
//	...-dirty              ...dirty appended      ...dirty appended         unchanged
//
// An MSI version has three numbers that Windows Installer compares; commits
// since a tag cannot be told apart there, so the MSI upgrades over the same
// version (see installer/msi).
package version

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// Version is one build's version, parsed from git describe.
type Version struct {
	Major, Minor, Patch int
	Pre                 string // "rc1" of v1.3.0-rc1
	Commits             int    // commits since the tag
	Hash                string // abbreviated commit, when not exactly on a tag
	Dirty               bool   // the work tree had changes
	Describe            string // what git describe printed
}

var (
	tagged = regexp.MustCompile(`^v?(\d+)\.(\d+)\.(\d+)(?:-([0-9A-Za-z][0-9A-Za-z.]*?))?(?:-(\d+)-g([0-9a-f]{4,40}))?$`)
	bare   = regexp.MustCompile(`^[0-9a-f]{4,40}$`)
)

// Parse reads what git describe --tags --match 'v[0-9]*' --always --dirty
// printed (other tags, such as ready-*, are not versions).
func Parse(describe string) (Version, error) {
	s := strings.TrimSpace(describe)
	v := Version{Describe: s}
	if rest, ok := strings.CutSuffix(s, "-dirty"); ok {
		s, v.Dirty = rest, true
	}
	if bare.MatchString(s) {
		v.Hash = s
		return v, nil
	}
	m := tagged.FindStringSubmatch(s)
	if m == nil {
		return Version{}, fmt.Errorf("version %q: want vMAJOR.MINOR.PATCH[-PRE][-N-gHASH][-dirty] or a commit hash", describe)
	}
	v.Major, _ = strconv.Atoi(m[1])
	v.Minor, _ = strconv.Atoi(m[2])
	v.Patch, _ = strconv.Atoi(m[3])
	v.Pre = m[4]
	if m[5] != "" {
		v.Commits, _ = strconv.Atoi(m[5])
		v.Hash = m[6]
	}
	if v.Major > 255 || v.Minor > 255 || v.Patch > 65535 {
		return Version{}, fmt.Errorf("version %q: an MSI version is at most 255.255.65535", describe)
	}
	return v, nil
}

func (v Version) base() string { return fmt.Sprintf("%d.%d.%d", v.Major, v.Minor, v.Patch) }

// build is what follows the release: "4.gabc1234", "gabc1234", with
// ".dirty"; "" for a clean tag.
func (v Version) build() string {
	var parts []string
	if v.Commits > 0 {
		parts = append(parts, strconv.Itoa(v.Commits))
	}
	if v.Hash != "" {
		parts = append(parts, "g"+v.Hash)
	}
	if v.Dirty {
		parts = append(parts, "dirty")
	}
	return strings.Join(parts, ".")
}

// pre is the pre-release part with the tilde that sorts it before the
// release in both dpkg and rpm.
func (v Version) pre() string {
	if v.Pre == "" {
		return ""
	}
	return "~" + strings.ReplaceAll(v.Pre, "-", ".")
}

// Deb is the Debian package version; the macOS package uses it too.
func (v Version) Deb() string {
	s := v.base() + v.pre()
	if b := v.build(); b != "" {
		s += "+" + b
	}
	return s
}

// RPM is the rpm Version and Release.
func (v Version) RPM() (version, release string) {
	release = "1"
	if b := v.build(); b != "" {
		release += "." + b
	}
	return v.base() + v.pre(), release
}

// MSI is the ProductVersion of the Windows package.
func (v Version) MSI() string { return v.base() }
