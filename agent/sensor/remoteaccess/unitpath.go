package remoteaccess

import (
	"fmt"
	"path"
	"sort"
	"strings"
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

func withoutLib(dirs []unitDir) []unitDir {
	var out []unitDir
	for _, d := range dirs {
		if !strings.HasPrefix(d.path, "/lib/") {
			out = append(out, d)
		}
	}
	return out
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
