package remoteaccess

import (
	"fmt"
	"path"
	"strings"

	"github.com/farmwatch/farmwatch/agent/host"
	fwv1 "github.com/farmwatch/farmwatch/proto/farmwatch/v1"
)

// GNOME Remote Desktop's daemon (gnome-remote-desktop-daemon) runs in
// every GNOME session, and D-Bus starts it when the Settings panel asks
// for its state, so it running says nothing. Sharing is on when it is
// switched on:
//
//   - for a user's session (Settings > System > Remote Desktop, or
//     `grdctl rdp enable` / `grdctl vnc enable`): the GSettings keys
//     org.gnome.desktop.remote-desktop.rdp enable and .vnc enable, kept
//     by dconf in the user's ~/.config/dconf/user (GVDB, gvdb.go);
//   - for remote login (`grdctl --system rdp enable`): enabled= in the
//     [RDP] group of the system daemon's key files, /etc/gnome-remote-desktop/grd.conf
//     and its local state in the gnome-remote-desktop user's
//     ~/.local/share/gnome-remote-desktop/grd.conf, the later winning.
//
// Each is reported as a setting (manager "setting") where the file says
// it, on or off: "gnome-remote-desktop-rdp@USER" and
// "gnome-remote-desktop-vnc@USER" per user, "gnome-remote-desktop-rdp"
// for remote login. A key that was never set (off by default) is not
// reported.
//
// Sources: the schema org.gnome.desktop.remote-desktop.gschema.xml and
// src/grd-settings-system.c of GNOME/gnome-remote-desktop (the [RDP]
// enabled key, the custom and local-state grd.conf files); grdctl(1).
const (
	gnomeUserDB       = ".config/dconf/user"
	grdCustomConf     = "/etc/gnome-remote-desktop/grd.conf"
	grdLocalStateConf = "/var/lib/gnome-remote-desktop/.local/share/gnome-remote-desktop/grd.conf"
)

// gnomeSharingKeys are the dconf keys of per-user sharing, by protocol.
var gnomeSharingKeys = []struct{ proto, key string }{
	{"rdp", "/org/gnome/desktop/remote-desktop/rdp/enable"},
	{"vnc", "/org/gnome/desktop/remote-desktop/vnc/enable"},
}

// readGNOMESharing reads the per-user and the remote-login settings.
func readGNOMESharing(h *host.Host) ([]*fwv1.Service, []error) {
	var out []*fwv1.Service
	var errs []error
	dbs, err := h.Glob("/home/*/" + gnomeUserDB)
	if err != nil {
		errs = append(errs, err)
	}
	for _, db := range append(dbs, "/root/"+gnomeUserDB) {
		b, err := h.ReadFile(db)
		if err != nil {
			if !missing(err) {
				errs = append(errs, fmt.Errorf("read %s: %w", db, err))
			}
			continue
		}
		user := path.Base(strings.TrimSuffix(db, "/"+gnomeUserDB))
		svcs, err := gnomeUserSharing(b, user, db)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", db, err))
		}
		out = append(out, svcs...)
	}
	var rdp *bool
	var from string
	for _, f := range []string{grdCustomConf, grdLocalStateConf} {
		b, err := h.ReadFile(f)
		if err != nil {
			if !missing(err) {
				errs = append(errs, fmt.Errorf("read %s: %w", f, err))
			}
			continue
		}
		if v, ok := keyFileValue(b, "RDP", "enabled"); ok {
			on := v == "true"
			rdp, from = &on, f
		}
	}
	if rdp != nil {
		out = append(out, &fwv1.Service{Name: "gnome-remote-desktop-rdp", DisplayName: "GNOME Remote Desktop remote login (RDP)",
			Manager: "setting", Enabled: *rdp, Username: "gnome-remote-desktop", Path: from})
	}
	return out, errs
}

// gnomeUserSharing reads the sharing keys of one user's dconf database.
func gnomeUserSharing(db []byte, user, file string) ([]*fwv1.Service, error) {
	vals, err := parseGVDB(db)
	if err != nil {
		return nil, err
	}
	var out []*fwv1.Service
	for _, k := range gnomeSharingKeys {
		v, ok := vals[k.key]
		if !ok {
			continue
		}
		on, ok := v.Bool()
		if !ok {
			return out, fmt.Errorf("%s: type %q, not a boolean", k.key, v.Type)
		}
		out = append(out, &fwv1.Service{Name: "gnome-remote-desktop-" + k.proto + "@" + user,
			DisplayName: "GNOME Remote Desktop sharing (" + strings.ToUpper(k.proto) + ")",
			Manager:     "setting", Enabled: on, Username: user, Path: file})
	}
	return out, nil
}

// keyFileValue returns a key's value in a group of a GLib key file (the
// last one, as GLib keeps); comments and other groups are skipped.
func keyFileValue(b []byte, group, key string) (string, bool) {
	in := false
	val, found := "", false
	for _, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		switch {
		case line == "" || line[0] == '#':
		case line[0] == '[':
			in = line == "["+group+"]"
		case in:
			k, v, ok := strings.Cut(line, "=")
			if ok && strings.TrimSpace(k) == key {
				val, found = strings.TrimSpace(v), true
			}
		}
	}
	return val, found
}
