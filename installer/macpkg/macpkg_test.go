package macpkg

import (
	"bytes"
	"compress/gzip"
	"encoding/xml"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/farmwatch/farmwatch/installer/bom"
	"github.com/farmwatch/farmwatch/installer/cpio"
	"github.com/farmwatch/farmwatch/installer/version"
	"github.com/farmwatch/farmwatch/installer/xar"
	"howett.net/plist"
)

var mtime = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// fakes are stand-ins for farmwatch-agent and farmwatch-agentd, told
// apart by their content.
type fakes struct{ cli, daemon []byte }

func build(t *testing.T, arch string) (string, fakes) {
	t.Helper()
	dir := t.TempDir()
	f := fakes{cli: []byte("\xcf\xfa\xed\xfe fake farmwatch-agent " + arch), daemon: []byte("\xcf\xfa\xed\xfe fake farmwatch-agentd " + arch)}
	cli, daemon := filepath.Join(dir, "farmwatch-agent"), filepath.Join(dir, "farmwatch-agentd")
	os.WriteFile(cli, f.cli, 0o755)
	os.WriteFile(daemon, f.daemon, 0o755)
	v, _ := version.Parse("v1.2.3-4-gabc1234")
	p, err := Build(Options{Version: v, Arch: arch, Binary: cli, Daemon: daemon, Out: t.TempDir(), MTime: mtime})
	if err != nil {
		t.Fatal(err)
	}
	if filepath.Base(p) != "farmwatch-agent_1.2.3+4.gabc1234_"+arch+".pkg" {
		t.Errorf("name %s", p)
	}
	return p, f
}

// TestBuildNeedsBoth: a package without either executable is refused, and
// the error says which is missing.
func TestBuildNeedsBoth(t *testing.T) {
	v, _ := version.Parse("v1.2.3")
	cli := filepath.Join(t.TempDir(), "farmwatch-agent")
	os.WriteFile(cli, []byte("\xcf\xfa\xed\xfe"), 0o755)
	gone := filepath.Join(t.TempDir(), "farmwatch-agentd")
	for _, c := range []struct {
		o    Options
		want string
	}{
		{Options{Binary: cli}, "no Daemon (farmwatch-agentd) given"},
		{Options{Daemon: cli}, "no Binary (farmwatch-agent) given"},
		{Options{Binary: cli, Daemon: gone}, gone},
	} {
		c.o.Version, c.o.Arch, c.o.Out = v, "arm64", t.TempDir()
		if _, err := Build(c.o); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: error %v, want one with %q", c.o, err, c.want)
		}
	}
}

func gunzipCpio(t *testing.T, b []byte) []cpio.Entry {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	e, err := cpio.Read(zr)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// TestReadBack reads the package back with this repo's readers: the xar
// TOC, the Distribution and PackageInfo, the payload, the Bom and the
// scripts, and the LaunchDaemon's plist.
func TestReadBack(t *testing.T) {
	p, fake := build(t, "arm64")
	b, _ := os.ReadFile(p)
	a, err := xar.Read(b)
	if err != nil {
		t.Fatal(err)
	}
	var paths []string
	a.Walk(func(p string, f *xar.File) { paths = append(paths, p) })
	if got := strings.Join(paths, " "); got != "Distribution farmwatch-agent.pkg farmwatch-agent.pkg/Bom farmwatch-agent.pkg/Payload farmwatch-agent.pkg/Scripts farmwatch-agent.pkg/PackageInfo" {
		t.Fatalf("TOC: %s", got)
	}
	var dist struct {
		Options struct {
			HostArchitectures string `xml:"hostArchitectures,attr"`
		} `xml:"options"`
		PkgRefs []struct {
			ID      string `xml:"id,attr"`
			Version string `xml:"version,attr"`
			Ref     string `xml:",chardata"`
		} `xml:"pkg-ref"`
		OS struct {
			Min string `xml:"min,attr"`
		} `xml:"volume-check>allowed-os-versions>os-version"`
	}
	if err := xml.Unmarshal(a.Lookup("Distribution").Data, &dist); err != nil {
		t.Fatal(err)
	}
	if dist.Options.HostArchitectures != "arm64" || dist.OS.Min != "12.0" || len(dist.PkgRefs) != 1 || dist.PkgRefs[0].Ref != "#farmwatch-agent.pkg" || dist.PkgRefs[0].Version != "1.2.3+4.gabc1234" {
		t.Errorf("Distribution %+v", dist)
	}
	var info struct {
		Identifier string `xml:"identifier,attr"`
		Version    string `xml:"version,attr"`
		Location   string `xml:"install-location,attr"`
		Payload    struct {
			Files int `xml:"numberOfFiles,attr"`
		} `xml:"payload"`
		Post struct {
			File string `xml:"file,attr"`
		} `xml:"scripts>postinstall"`
	}
	if err := xml.Unmarshal(a.Lookup("farmwatch-agent.pkg/PackageInfo").Data, &info); err != nil {
		t.Fatal(err)
	}
	if info.Identifier != Identifier || info.Version != "1.2.3+4.gabc1234" || info.Location != "/" || info.Post.File != "./postinstall" {
		t.Errorf("PackageInfo %+v", info)
	}
	payload := gunzipCpio(t, a.Lookup("farmwatch-agent.pkg/Payload").Data)
	if info.Payload.Files != len(payload) {
		t.Errorf("PackageInfo counts %d files, the payload has %d", info.Payload.Files, len(payload))
	}
	byName := map[string]cpio.Entry{}
	for _, e := range payload {
		byName[e.Name] = e
	}
	for name, mode := range map[string]fs.FileMode{
		"./usr/local/bin/farmwatch-agent":                      0o755,
		"./usr/local/bin/farmwatch-agentd":                     0o755,
		"./Library/LaunchDaemons/farmwatch-agent.plist":        0o644,
		"./Library/Application Support/farmwatch/uninstall.sh": 0o755,
		"./private/etc/newsyslog.d/farmwatch-agent.conf":       0o644,
		"./Library/Application Support":                        fs.ModeDir | 0o755,
	} {
		e, ok := byName[name]
		if !ok || e.Mode != mode || e.UID != 0 {
			t.Errorf("%s: %+v (want mode %v)", name, e, mode)
		}
	}
	if !bytes.Equal(byName["./usr/local/bin/farmwatch-agent"].Data, fake.cli) || !bytes.Equal(byName["./usr/local/bin/farmwatch-agentd"].Data, fake.daemon) ||
		byName["./Library/Application Support"].GID != 80 {
		t.Error("payload content or owner")
	}
	var daemon struct {
		Label            string
		ProgramArguments []string
		KeepAlive        bool
		RunAtLoad        bool
	}
	if _, err := plist.Unmarshal(byName["./Library/LaunchDaemons/farmwatch-agent.plist"].Data, &daemon); err != nil {
		t.Fatal(err)
	}
	if daemon.Label != "farmwatch-agent" || len(daemon.ProgramArguments) == 0 || daemon.ProgramArguments[0] != "/usr/local/bin/farmwatch-agentd" || !daemon.KeepAlive || !daemon.RunAtLoad {
		t.Errorf("LaunchDaemon %+v", daemon)
	}
	boms, err := bom.Read(a.Lookup("farmwatch-agent.pkg/Bom").Data)
	if err != nil {
		t.Fatal(err)
	}
	if len(boms) != len(payload) {
		t.Errorf("Bom lists %d paths, the payload has %d", len(boms), len(payload))
	}
	inBom := map[string]bool{}
	for _, e := range boms {
		inBom[e.Path] = true
		pe, ok := byName[e.Path]
		if !ok || e.Mode != pe.Mode || int(e.GID) != pe.GID || int(e.Size) != len(pe.Data) || pe.Mode.IsRegular() && e.Checksum != bom.Cksum(pe.Data) {
			t.Errorf("Bom %+v, payload %s %v", e, pe.Name, pe.Mode)
		}
	}
	for _, exe := range []string{"./usr/local/bin/farmwatch-agent", "./usr/local/bin/farmwatch-agentd"} {
		if !inBom[exe] {
			t.Errorf("the Bom lacks %s", exe)
		}
	}
	scripts := gunzipCpio(t, a.Lookup("farmwatch-agent.pkg/Scripts").Data)
	for _, e := range scripts {
		if e.Name == "./postinstall" && (e.Mode != 0o755 || !bytes.Contains(e.Data, []byte("launchctl bootstrap system"))) {
			t.Errorf("postinstall %v:\n%s", e.Mode, e.Data)
		}
	}
	if len(scripts) != 3 {
		t.Errorf("scripts %d", len(scripts))
	}
}

// TestScriptsParse has sh check the scripts' syntax.
func TestScriptsParse(t *testing.T) {
	for _, s := range []string{"scripts/preinstall", "scripts/postinstall", "scripts/uninstall.sh"} {
		if out, err := exec.Command("sh", "-n", s).CombinedOutput(); err != nil {
			t.Errorf("%s: %v\n%s", s, err, out)
		}
	}
}

// TestOtherReaders has bsdtar (libarchive) and 7-Zip list the package and
// its payload.
func TestOtherReaders(t *testing.T) {
	p, _ := build(t, "amd64")
	ran := false
	if _, err := exec.LookPath("bsdtar"); err == nil {
		ran = true
		out, err := exec.Command("bsdtar", "-tf", p).CombinedOutput()
		if err != nil || !strings.Contains(string(out), "farmwatch-agent.pkg/Payload") || !strings.Contains(string(out), "Distribution") {
			t.Errorf("bsdtar -tf: %v\n%s", err, out)
		}
		dir := t.TempDir()
		if out, err := exec.Command("bsdtar", "-xf", p, "-C", dir).CombinedOutput(); err != nil {
			t.Fatalf("bsdtar -xf: %v\n%s", err, out)
		}
		out, err = exec.Command("bsdtar", "-tvf", filepath.Join(dir, "farmwatch-agent.pkg/Payload")).CombinedOutput()
		if err != nil {
			t.Fatalf("bsdtar -tvf Payload: %v\n%s", err, out)
		}
		var exes int
		for _, l := range strings.Split(string(out), "\n") {
			if strings.HasSuffix(l, " ./usr/local/bin/farmwatch-agent") || strings.HasSuffix(l, " ./usr/local/bin/farmwatch-agentd") {
				exes++
				if !strings.HasPrefix(l, "-rwxr-xr-x") {
					t.Errorf("bsdtar -tvf Payload: %s", l)
				}
			}
		}
		if exes != 2 {
			t.Errorf("bsdtar -tvf Payload lists %d of the 2 executables:\n%s", exes, out)
		}
	}
	for _, sz := range []string{"7zz", "7z"} {
		if _, err := exec.LookPath(sz); err != nil {
			continue
		}
		ran = true
		out, err := exec.Command(sz, "l", p).CombinedOutput()
		if err != nil || !strings.Contains(string(out), "Payload") || !strings.Contains(string(out), "Bom") {
			t.Errorf("%s l: %v\n%s", sz, err, out)
		}
		break
	}
	if !ran {
		t.Skip("neither bsdtar nor 7-Zip is installed (.ci/run installs them)")
	}
}

func TestMobileConfig(t *testing.T) {
	type content struct {
		PayloadType string
		Rules       []struct{ RuleType, RuleValue string }
		Services    map[string][]struct {
			Identifier, IdentifierType, CodeRequirement, Authorization string
		}
		Collector, CAPEM, EnrollSecret string
	}
	var prof struct {
		PayloadType, PayloadScope string
		PayloadContent            []content
	}
	b, err := MobileConfig(Profile{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := plist.Unmarshal(b, &prof); err != nil {
		t.Fatal(err)
	}
	if prof.PayloadType != "Configuration" || prof.PayloadScope != "System" || len(prof.PayloadContent) != 1 ||
		prof.PayloadContent[0].PayloadType != "com.apple.servicemanagement" || prof.PayloadContent[0].Rules[0].RuleValue != "farmwatch-agent" {
		t.Fatalf("profile %+v", prof)
	}
	b, err = MobileConfig(Profile{TeamID: "ABCDE12345", Collector: "c:7443", CAPEM: "-----BEGIN CERTIFICATE-----", EnrollSecret: "s"})
	if err != nil {
		t.Fatal(err)
	}
	prof.PayloadContent = nil
	if _, err := plist.Unmarshal(b, &prof); err != nil {
		t.Fatal(err)
	}
	if len(prof.PayloadContent) != 3 || len(prof.PayloadContent[0].Rules) != 2 {
		t.Fatalf("profile %+v", prof)
	}
	// Full disk access for the daemon, which reads /Users as the
	// LaunchDaemon, and for the command's helpdesk scans.
	fda := prof.PayloadContent[1].Services["SystemPolicyAllFiles"]
	if len(fda) != 2 {
		t.Fatalf("privacy policy %+v", fda)
	}
	for i, want := range []struct{ path, id string }{{"/usr/local/bin/farmwatch-agentd", "farmwatch-agentd"}, {"/usr/local/bin/farmwatch-agent", "farmwatch-agent"}} {
		e := fda[i]
		if e.Identifier != want.path || e.IdentifierType != "path" || e.Authorization != "Allow" ||
			!strings.HasPrefix(e.CodeRequirement, `identifier "`+want.id+`" and anchor apple generic`) || !strings.Contains(e.CodeRequirement, `leaf[subject.OU] = "ABCDE12345"`) {
			t.Errorf("privacy policy entry %d: %+v", i, e)
		}
	}
	if s := prof.PayloadContent[2]; s.PayloadType != Identifier || s.Collector != "c:7443" || s.EnrollSecret != "s" {
		t.Errorf("settings %+v", s)
	}
	if _, err := MobileConfig(Profile{TeamID: "bad"}); err == nil {
		t.Error("a bad team ID was taken")
	}
	if _, err := MobileConfig(Profile{Collector: "c:1"}); err == nil {
		t.Error("a collector without CA and secret was taken")
	}
}
