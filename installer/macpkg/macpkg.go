// Package macpkg builds the agent's macOS flat package (a product archive,
// as productbuild makes, that MDMs can push) and its configuration profile,
// from Linux, with installer/xar, installer/bom and installer/cpio.
//
// The package is a xar archive of
//
//	Distribution                        the product's choices, the host architecture, macOS 12 or later
//	farmwatch-agent.pkg/PackageInfo     identifier com.farmwatch.agent, version, scripts
//	farmwatch-agent.pkg/Bom             every payload path with mode, owner, size, CRC
//	farmwatch-agent.pkg/Payload         gzip'd cpio (odc) of the files below, from /
//	farmwatch-agent.pkg/Scripts         gzip'd cpio of preinstall and postinstall
//
// and installs
//
//	/usr/local/bin/farmwatch-agent                         0755  the command: configure, status, scans
//	/usr/local/bin/farmwatch-agentd                        0755  the LaunchDaemon's executable
//	/Library/LaunchDaemons/farmwatch-agent.plist           0644  installer/servicedef's (KeepAlive, RunAtLoad)
//	/Library/Application Support/farmwatch/uninstall.sh    0755
//	/private/etc/newsyslog.d/farmwatch-agent.conf          0644  rotates /Library/Logs/farmwatch-agent.log
//
// preinstall stops a running agent (upgrade); postinstall makes the state
// directory 0700, takes the settings of an MDM profile when there is one,
// and loads the daemon when the config names a collector. The package is
// not signed: productsign needs a Developer ID Installer certificate and a
// Mac.
package macpkg

import (
	"bytes"
	"compress/gzip"
	"embed"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"text/template"
	"time"

	"github.com/farmwatch/farmwatch/installer/bom"
	"github.com/farmwatch/farmwatch/installer/cpio"
	"github.com/farmwatch/farmwatch/installer/servicedef"
	"github.com/farmwatch/farmwatch/installer/version"
	"github.com/farmwatch/farmwatch/installer/xar"
)

//go:embed scripts newsyslog.conf
var assets embed.FS

// Identifier is the package's (and the receipt's) identifier.
const Identifier = "com.farmwatch.agent"

// Options say what to package.
type Options struct {
	Version version.Version
	Arch    string // amd64 or arm64
	Binary  string // farmwatch-agent, the darwin command for Arch
	Daemon  string // farmwatch-agentd, the darwin service executable for Arch
	Out     string
	MTime   time.Time
}

// file is one payload entry.
type file struct {
	path string // "./usr/local/bin/farmwatch-agent"
	mode fs.FileMode
	gid  int
	data []byte
}

// Payload lists what the package installs, directories first: binary is
// farmwatch-agent's content, daemon farmwatch-agentd's.
func Payload(binary, daemon []byte) ([]file, error) {
	plist, err := servicedef.LaunchdPlist(servicedef.Darwin)
	if err != nil {
		return nil, err
	}
	uninstall, _ := assets.ReadFile("scripts/uninstall.sh")
	rotate, _ := assets.ReadFile("newsyslog.conf")
	dir := func(p string, gid int) file { return file{path: p, mode: fs.ModeDir | 0o755, gid: gid} }
	return []file{
		dir(".", 0), // root:wheel, as macOS has them; Application Support is root:admin
		dir("./Library", 0),
		dir("./Library/Application Support", 80),
		dir("./Library/Application Support/farmwatch", 0),
		{path: "./Library/Application Support/farmwatch/uninstall.sh", mode: 0o755, data: uninstall},
		dir("./Library/LaunchDaemons", 0),
		{path: "./Library/LaunchDaemons/" + servicedef.Name + ".plist", mode: 0o644, data: []byte(plist)},
		dir("./private", 0),
		dir("./private/etc", 0),
		dir("./private/etc/newsyslog.d", 0),
		{path: "./private/etc/newsyslog.d/farmwatch-agent.conf", mode: 0o644, data: rotate},
		dir("./usr", 0),
		dir("./usr/local", 0),
		dir("./usr/local/bin", 0),
		{path: "." + servicedef.Darwin.Binary, mode: 0o755, data: binary},
		{path: "." + servicedef.Darwin.Daemon, mode: 0o755, data: daemon},
	}, nil
}

func gzipCpio(entries []cpio.Entry) ([]byte, error) {
	var b bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&b, gzip.BestCompression)
	if err := cpio.Write(zw, entries); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// Build writes dist/farmwatch-agent_VERSION_ARCH.pkg and returns its path.
func Build(o Options) (string, error) {
	hostArch := map[string]string{"amd64": "x86_64", "arm64": "arm64"}[o.Arch]
	if hostArch == "" {
		return "", fmt.Errorf("macpkg: arch %q: want amd64 or arm64", o.Arch)
	}
	var bin, daemon []byte
	for _, b := range []struct {
		what, path string
		data       *[]byte
	}{{"Binary (farmwatch-agent)", o.Binary, &bin}, {"Daemon (farmwatch-agentd)", o.Daemon, &daemon}} {
		if b.path == "" {
			return "", fmt.Errorf("macpkg: no %s given", b.what)
		}
		var err error
		if *b.data, err = os.ReadFile(b.path); err != nil {
			return "", fmt.Errorf("macpkg: %s: %w", b.what, err)
		}
	}
	mtime := o.MTime
	if mtime.IsZero() {
		mtime = time.Unix(0, 0)
	}
	files, err := Payload(bin, daemon)
	if err != nil {
		return "", err
	}
	var payload []cpio.Entry
	var bomEntries []bom.Entry
	var size int64
	for _, f := range files {
		payload = append(payload, cpio.Entry{Name: f.path, Mode: f.mode, GID: f.gid, MTime: mtime, Data: f.data})
		bomEntries = append(bomEntries, bom.Entry{Path: f.path, Mode: f.mode, GID: uint32(f.gid), MTime: uint32(mtime.Unix()),
			Size: uint32(len(f.data)), Checksum: map[bool]uint32{true: bom.Cksum(f.data)}[f.mode.IsRegular()]})
		size += int64(len(f.data))
	}
	payloadGz, err := gzipCpio(payload)
	if err != nil {
		return "", err
	}
	bomFile, err := bom.Write(bomEntries)
	if err != nil {
		return "", err
	}
	pre, _ := assets.ReadFile("scripts/preinstall")
	post, _ := assets.ReadFile("scripts/postinstall")
	scriptsGz, err := gzipCpio([]cpio.Entry{
		{Name: ".", Mode: fs.ModeDir | 0o755, MTime: mtime},
		{Name: "./postinstall", Mode: 0o755, MTime: mtime, Data: post},
		{Name: "./preinstall", Mode: 0o755, MTime: mtime, Data: pre},
	})
	if err != nil {
		return "", err
	}
	kb := (size + 1023) / 1024
	vars := map[string]any{"ID": Identifier, "Version": o.Version.Deb(), "KB": kb, "Files": len(files), "Arch": hostArch}
	var pkgInfo, dist bytes.Buffer
	if err := pkgInfoTemplate.Execute(&pkgInfo, vars); err != nil {
		return "", err
	}
	if err := distTemplate.Execute(&dist, vars); err != nil {
		return "", err
	}
	xf := func(name string, data []byte) *xar.File {
		return &xar.File{Name: name, Mode: 0o644, User: "root", Group: "wheel", MTime: mtime, Data: data}
	}
	archive := []*xar.File{
		xf("Distribution", dist.Bytes()),
		{Name: "farmwatch-agent.pkg", Dir: true, Mode: 0o755, User: "root", Group: "wheel", MTime: mtime, Children: []*xar.File{
			xf("Bom", bomFile), xf("Payload", payloadGz), xf("Scripts", scriptsGz), xf("PackageInfo", pkgInfo.Bytes()),
		}},
	}
	if err := os.MkdirAll(o.Out, 0o755); err != nil {
		return "", err
	}
	out := filepath.Join(o.Out, fmt.Sprintf("farmwatch-agent_%s_%s.pkg", o.Version.Deb(), o.Arch))
	var b bytes.Buffer
	if err := xar.Write(&b, archive, mtime); err != nil {
		return "", err
	}
	return out, os.WriteFile(out, b.Bytes(), 0o644)
}

var xmlEsc = template.FuncMap{"x": func(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&quot;").Replace(s)
}}

var pkgInfoTemplate = template.Must(template.New("PackageInfo").Funcs(xmlEsc).Parse(`<?xml version="1.0" encoding="utf-8"?>
<pkg-info format-version="2" identifier="{{x .ID}}" version="{{x .Version}}" install-location="/" auth="root" generator-version="farmwatch">
    <payload numberOfFiles="{{.Files}}" installKBytes="{{.KB}}"/>
    <bundle-version/>
    <upgrade-bundle/>
    <update-bundle/>
    <atomic-update-bundle/>
    <strict-identifier/>
    <relocate/>
    <scripts>
        <preinstall file="./preinstall"/>
        <postinstall file="./postinstall"/>
    </scripts>
</pkg-info>
`))

var distTemplate = template.Must(template.New("Distribution").Funcs(xmlEsc).Parse(`<?xml version="1.0" encoding="utf-8"?>
<installer-gui-script minSpecVersion="2">
    <title>farmwatch agent</title>
    <options customize="never" require-scripts="false" hostArchitectures="{{.Arch}}"/>
    <domains enable_anywhere="false" enable_currentUserHome="false" enable_localSystem="true"/>
    <volume-check>
        <allowed-os-versions>
            <os-version min="12.0"/>
        </allowed-os-versions>
    </volume-check>
    <choices-outline>
        <line choice="default">
            <line choice="{{x .ID}}"/>
        </line>
    </choices-outline>
    <choice id="default"/>
    <choice id="{{x .ID}}" visible="false">
        <pkg-ref id="{{x .ID}}"/>
    </choice>
    <pkg-ref id="{{x .ID}}" version="{{x .Version}}" onConclusion="none" installKBytes="{{.KB}}">#farmwatch-agent.pkg</pkg-ref>
    <product id="{{x .ID}}" version="{{x .Version}}"/>
</installer-gui-script>
`))
