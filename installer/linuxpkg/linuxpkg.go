// Package linuxpkg builds the agent's deb and rpm packages with nfpm
// (github.com/goreleaser/nfpm/v2, used as a library). A package holds:
//
//	/usr/bin/farmwatch-agent                          0755  the command: configure, status, scans
//	/usr/sbin/farmwatch-agentd                        0755  the service's executable (the unit runs it)
//	/etc/farmwatch/agent.yaml                         0644  conffile (rpm: %config(noreplace))
//	/usr/lib/systemd/system/farmwatch-agent.service   0644  installer/servicedef's unit
//	/var/lib/farmwatch/                               0700  the state directory
//
// and the maintainer scripts in scripts/: a first install enables and
// starts the service when the config names a collector, an upgrade
// restarts it and keeps config and state, remove stops and disables it,
// and purge (deb) deletes the state and the settings. With a GPG key the
// packages are signed (deb: debsign's _gpgorigin; rpm: header signature).
package linuxpkg

import (
	"embed"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/farmwatch/farmwatch/installer/servicedef"
	"github.com/farmwatch/farmwatch/installer/version"
	"github.com/goreleaser/nfpm/v2"
	_ "github.com/goreleaser/nfpm/v2/deb" // registers the deb packager
	"github.com/goreleaser/nfpm/v2/files"
	_ "github.com/goreleaser/nfpm/v2/rpm" // registers the rpm packager
)

//go:embed agent.yaml scripts
var assets embed.FS

// Options say what to package.
type Options struct {
	Version version.Version
	Arch    string // Go's: amd64 or arm64
	Binary  string // farmwatch-agent, the linux command for Arch
	Daemon  string // farmwatch-agentd, the linux service executable for Arch
	Out     string // the directory the package is written to
	MTime   time.Time
	// GPGKey is an armored or binary PGP secret key file; empty: unsigned.
	GPGKey, GPGPassphrase string
}

// Build writes the format ("deb" or "rpm") package and returns its path.
func Build(format string, o Options) (string, error) {
	if format != "deb" && format != "rpm" {
		return "", fmt.Errorf("linuxpkg: format %q: want deb or rpm", format)
	}
	if o.Arch != "amd64" && o.Arch != "arm64" {
		return "", fmt.Errorf("linuxpkg: arch %q: want amd64 or arm64", o.Arch)
	}
	// nfpm would name a missing source only once it packs it, and an
	// empty one not at all.
	for _, b := range []struct{ what, path string }{{"Binary (farmwatch-agent)", o.Binary}, {"Daemon (farmwatch-agentd)", o.Daemon}} {
		if b.path == "" {
			return "", fmt.Errorf("linuxpkg: no %s given", b.what)
		}
		if _, err := os.Stat(b.path); err != nil {
			return "", fmt.Errorf("linuxpkg: %s: %w", b.what, err)
		}
	}
	tmp, err := os.MkdirTemp("", "farmwatch-linuxpkg-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(tmp)
	write := func(name string, b []byte, mode os.FileMode) (string, error) {
		p := filepath.Join(tmp, name)
		return p, os.WriteFile(p, b, mode)
	}
	unit, err := servicedef.SystemdUnit(servicedef.Linux)
	if err != nil {
		return "", err
	}
	unitPath, err := write("farmwatch-agent.service", []byte(unit), 0o644)
	if err != nil {
		return "", err
	}
	conf, _ := assets.ReadFile("agent.yaml")
	confPath, err := write("agent.yaml", conf, 0o644)
	if err != nil {
		return "", err
	}
	script := func(name string) (string, error) {
		b, err := assets.ReadFile("scripts/" + name)
		if err != nil {
			return "", err
		}
		return write(name, b, 0o755)
	}
	mtime := o.MTime
	if mtime.IsZero() {
		mtime = time.Unix(0, 0)
	}
	fi := func(mode os.FileMode) *files.ContentFileInfo {
		return &files.ContentFileInfo{Owner: "root", Group: "root", Mode: mode, MTime: mtime}
	}
	info := &nfpm.Info{
		Name:          "farmwatch-agent",
		Arch:          o.Arch,
		Platform:      "linux",
		VersionSchema: "none",
		Section:       "admin",
		Priority:      "optional",
		Maintainer:    "farmwatch <farmwatch@localhost>",
		Vendor:        "farmwatch",
		Description:   "farmwatch agent: reports signs that this computer is controlled from elsewhere (remote-access tools, IP-KVMs, virtual displays, VPN hops) to a farmwatch collector.",
		License:       "Proprietary",
		MTime:         mtime,
	}
	info.Contents = files.Contents{
		{Source: o.Binary, Destination: servicedef.Linux.Binary, FileInfo: fi(0o755)},
		{Source: o.Daemon, Destination: servicedef.Linux.Daemon, FileInfo: fi(0o755)},
		{Destination: "/etc/farmwatch", Type: files.TypeDir, FileInfo: fi(0o755)},
		{Source: confPath, Destination: servicedef.Linux.Config, Type: files.TypeConfigNoReplace, FileInfo: fi(0o644)},
		{Source: unitPath, Destination: "/usr/lib/systemd/system/" + servicedef.Name + ".service", FileInfo: fi(0o644)},
		{Destination: servicedef.Linux.State, Type: files.TypeDir, FileInfo: fi(0o700)},
	}
	switch format {
	case "deb":
		info.Version = o.Version.Deb()
		for dst, name := range map[*string]string{&info.Scripts.PostInstall: "deb-postinst", &info.Scripts.PreRemove: "deb-prerm", &info.Scripts.PostRemove: "deb-postrm"} {
			if *dst, err = script(name); err != nil {
				return "", err
			}
		}
		info.Deb.Signature.KeyFile, info.Deb.Signature.KeyPassphrase = o.GPGKey, o.GPGPassphrase
	case "rpm":
		info.Version, info.Release = o.Version.RPM()
		info.RPM.Summary = "farmwatch agent"
		info.RPM.Group = "System Environment/Daemons"
		info.RPM.Compression = "gzip"
		for dst, name := range map[*string]string{&info.Scripts.PostInstall: "rpm-post", &info.Scripts.PreRemove: "rpm-preun", &info.Scripts.PostRemove: "rpm-postun"} {
			if *dst, err = script(name); err != nil {
				return "", err
			}
		}
		info.RPM.Signature.KeyFile, info.RPM.Signature.KeyPassphrase = o.GPGKey, o.GPGPassphrase
	}
	info = nfpm.WithDefaults(info)
	if err := nfpm.PrepareForPackager(info, format); err != nil {
		return "", fmt.Errorf("%s: %w", format, err)
	}
	pkgr, err := nfpm.Get(format)
	if err != nil {
		return "", err
	}
	name := pkgr.ConventionalFileName(info)
	if format == "deb" {
		name = fmt.Sprintf("farmwatch-agent_%s_%s.deb", o.Version.Deb(), o.Arch)
	}
	if err := os.MkdirAll(o.Out, 0o755); err != nil {
		return "", err
	}
	out := filepath.Join(o.Out, name)
	f, err := os.Create(out)
	if err != nil {
		return "", err
	}
	if err := pkgr.Package(info, f); err != nil {
		f.Close()
		os.Remove(out)
		return "", fmt.Errorf("%s: %w", format, err)
	}
	return out, f.Close()
}
