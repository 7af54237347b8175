package remoteaccess

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strings"
	"syscall"

	"github.com/farmwatch/farmwatch/agent/host"
	fwv1 "github.com/farmwatch/farmwatch/proto/farmwatch/v1"
)

// readLinux reads systemd's units and GNOME Remote Desktop's sharing
// settings (gnome.go); listServices says exactly what.
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
	grd, errs := readGNOMESharing(h)
	out = append(out, grd...)
	r.errs = append(r.errs, errs...)
	return out, errors.Join(r.errs...)
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
