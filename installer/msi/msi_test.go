package msi

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/farmwatch/farmwatch/installer/version"
)

func need(t *testing.T, tools ...string) {
	t.Helper()
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s is not installed (.ci/run installs wixl and msitools): skipped", tool)
		}
	}
}

// table reads one table with msiinfo export: rows of tab-separated
// columns, after the three header lines.
func table(t *testing.T, msi, name string) [][]string {
	t.Helper()
	out, err := exec.Command("msiinfo", "export", msi, name).Output()
	if err != nil {
		t.Fatalf("msiinfo export %s: %v", name, err)
	}
	var rows [][]string
	for i, l := range strings.Split(strings.TrimRight(string(out), "\r\n"), "\n") {
		if i >= 3 {
			rows = append(rows, strings.Split(strings.TrimRight(l, "\r"), "\t"))
		}
	}
	return rows
}

func row(rows [][]string, key string) []string {
	for _, r := range rows {
		if r[0] == key {
			return r
		}
	}
	return nil
}

// build packages stand-ins for farmwatch-agent.exe and
// farmwatch-agentd.exe, told apart by their content, which it returns by
// file name.
func build(t *testing.T, arch string) (string, map[string][]byte) {
	t.Helper()
	need(t, "wixl", "msibuild", "msiinfo")
	dir := t.TempDir()
	content := map[string][]byte{"farmwatch-agent.exe": []byte("MZ fake farmwatch-agent " + arch), "farmwatch-agentd.exe": []byte("MZ fake farmwatch-agentd " + arch)}
	for name, b := range content {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	v, _ := version.Parse("v1.2.3-4-gabc1234")
	p, err := Build(Options{Version: v, Arch: arch, Binary: filepath.Join(dir, "farmwatch-agent.exe"), Daemon: filepath.Join(dir, "farmwatch-agentd.exe"), Out: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	if filepath.Base(p) != "farmwatch-agent_1.2.3+4.gabc1234_"+arch+".msi" {
		t.Errorf("name %s", p)
	}
	return p, content
}

// TestBuildNeedsBoth: a package without either executable is refused, and
// the error says which is missing.
func TestBuildNeedsBoth(t *testing.T) {
	v, _ := version.Parse("v1.2.3")
	exe := filepath.Join(t.TempDir(), "farmwatch-agent.exe")
	os.WriteFile(exe, []byte("MZ"), 0o755)
	gone := filepath.Join(t.TempDir(), "farmwatch-agentd.exe")
	for _, c := range []struct {
		o    Options
		want string
	}{
		{Options{Binary: exe}, "no Daemon (farmwatch-agentd.exe) given"},
		{Options{Daemon: exe}, "no Binary (farmwatch-agent.exe) given"},
		{Options{Binary: exe, Daemon: gone}, gone},
	} {
		c.o.Version, c.o.Arch, c.o.Out = v, "amd64", t.TempDir()
		if _, err := Build(c.o); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: error %v, want one with %q", c.o, err, c.want)
		}
	}
}

func TestMSITables(t *testing.T) {
	p, content := build(t, "amd64")
	svc := row(table(t, p, "ServiceInstall"), "AgentService")
	// Name, ..., ServiceType 16 (own process), StartType 2 (automatic), ErrorControl 1, ..., Arguments, Component_
	if svc == nil || svc[1] != "farmwatch-agent" || svc[3] != "16" || svc[4] != "2" || svc[5] != "1" || svc[8] != "" ||
		svc[10] != `run --config "[CommonAppDataFolder]farmwatch\agent.yaml"` || svc[11] != "Daemon" {
		t.Errorf("ServiceInstall %q", svc)
	}
	// The service's image is its component's key file: farmwatch-agentd.exe.
	// farmwatch-agent.exe, which configure and purge run, is another.
	comps, files := table(t, p, "Component"), table(t, p, "File")
	for _, c := range []struct{ component, file, name string }{{"Daemon", "DaemonExe", "farmwatch-agentd.exe"}, {"Agent", "AgentExe", "farmwatch-agent.exe"}} {
		// Component: Component, ComponentId, Directory_, Attributes, Condition, KeyPath
		if r := row(comps, c.component); r == nil || r[2] != "INSTALLDIR" || r[5] != c.file {
			t.Errorf("component %s: %q, want key file %s", c.component, r, c.file)
		}
		// File: File, Component_, FileName (short|long, or long), ...
		if r := row(files, c.file); r == nil || r[1] != c.component || r[2] != c.name && !strings.HasSuffix(r[2], "|"+c.name) {
			t.Errorf("file %s: %q, want %s in %s", c.file, r, c.name, c.component)
		}
	}
	// Events 163: start on install (1), stop on install and uninstall (2|32), delete on uninstall (128); wait.
	if c := row(table(t, p, "ServiceControl"), "AgentServiceControl"); c == nil || c[1] != "farmwatch-agent" || c[2] != "163" || c[4] != "1" {
		t.Errorf("ServiceControl %q", c)
	}
	// Restart after 5 s, 30 s, then every 60 s; the count resets after a day.
	if r := row(table(t, p, "MsiServiceConfigFailureActions"), "AgentRecovery"); r == nil || r[1] != "farmwatch-agent" || r[3] != "86400" ||
		r[6] != "1[~]1[~]1" || r[7] != "5000[~]30000[~]60000" || r[8] != "Daemon" {
		t.Errorf("recovery %q", r)
	}
	if r := row(table(t, p, "MsiServiceConfig"), "AgentFailureFlag"); r == nil || r[3] != "4" || r[4] != "1" || r[5] != "Daemon" {
		t.Errorf("failure actions flag %q", r)
	}
	seq := map[string]int{}
	for _, r := range table(t, p, "InstallExecuteSequence") {
		var n int
		for _, c := range r[2] {
			n = n*10 + int(c-'0')
		}
		seq[r[0]] = n
	}
	if !(seq["InstallFiles"] < seq["InstallServices"] && seq["InstallServices"] < seq["MsiConfigureServices"] &&
		seq["MsiConfigureServices"] < seq["Configure"] && seq["Configure"] < seq["StartServices"] && seq["StartServices"] < seq["InstallFinalize"]) {
		t.Errorf("install order %v", seq)
	}
	if !(seq["StopServices"] < seq["Purge"] && seq["Purge"] < seq["RemoveFiles"]) || seq["RemoveExistingProducts"] == 0 {
		t.Errorf("removal order %v", seq)
	}
	actions := table(t, p, "CustomAction")
	ca := row(actions, "Configure")
	if ca == nil || ca[1] != "11282" || ca[2] != "AgentExe" || !strings.HasPrefix(ca[3], "configure ") {
		t.Errorf("Configure %q", ca)
	}
	if pa := row(actions, "Purge"); pa == nil || pa[2] != "AgentExe" || !strings.HasPrefix(pa[3], "purge ") {
		t.Errorf("Purge %q", pa)
	}
	for _, prop := range []string{"[COLLECTOR]", "[CA_FILE]", "[CA_PEM]", "[ENROLL_SECRET]"} {
		if ca != nil && !strings.Contains(ca[3], prop) {
			t.Errorf("Configure's command line lacks %s: %s", prop, ca[3])
		}
	}
	props := table(t, p, "Property")
	if r := row(props, "SecureCustomProperties"); r == nil || !strings.Contains(r[1], "COLLECTOR;CA_FILE;CA_PEM;ENROLL_SECRET;PURGE") {
		t.Errorf("SecureCustomProperties %q", r)
	}
	if r := row(props, "MsiHiddenProperties"); r == nil || r[1] != "ENROLL_SECRET;CA_PEM" {
		t.Errorf("MsiHiddenProperties %q", r)
	}
	if r := row(props, "ProductVersion"); r == nil || r[1] != "1.2.3" {
		t.Errorf("ProductVersion %q", r)
	}
	up := table(t, p, "Upgrade")
	var same bool
	for _, r := range up {
		if r[6] == "WIX_UPGRADE_DETECTED" && r[2] == "1.2.3" && r[4] == "513" {
			same = true
		}
	}
	if !same {
		t.Errorf("no upgrade over versions up to and with 1.2.3: %q", up)
	}
	if out, _ := exec.Command("msiinfo", "suminfo", p).Output(); !bytes.Contains(out, []byte("Template: x64;1033")) {
		t.Errorf("suminfo:\n%s", out)
	}
	if _, err := exec.LookPath("msiextract"); err == nil {
		dir := t.TempDir()
		if out, err := exec.Command("msiextract", "-C", dir, p).CombinedOutput(); err != nil {
			t.Fatalf("msiextract: %v %s", err, out)
		}
		found := map[string]bool{}
		filepath.Walk(dir, func(path string, info os.FileInfo, err error) error {
			if err != nil {
				return err
			}
			if want, ok := content[info.Name()]; ok {
				b, _ := os.ReadFile(path)
				found[info.Name()] = bytes.Equal(b, want)
				if filepath.Base(filepath.Dir(path)) != "farmwatch" {
					t.Errorf("installed at %s", path)
				}
			}
			return nil
		})
		for name := range content {
			if !found[name] {
				t.Errorf("%s is not in the package as given", name)
			}
		}
	}
}

func TestMSIArm64(t *testing.T) {
	p, _ := build(t, "arm64")
	if out, _ := exec.Command("msiinfo", "suminfo", p).Output(); !bytes.Contains(out, []byte("Template: Arm64;1033")) {
		t.Errorf("suminfo:\n%s", out)
	}
	if r := row(table(t, p, "MsiServiceConfigFailureActions"), "AgentRecovery"); r == nil {
		t.Error("no recovery actions")
	}
}
