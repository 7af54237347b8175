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

func build(t *testing.T, arch string) (string, []byte) {
	t.Helper()
	need(t, "wixl", "msibuild", "msiinfo")
	exe := filepath.Join(t.TempDir(), "farmwatch-agent.exe")
	content := []byte("MZ fake farmwatch agent " + arch)
	if err := os.WriteFile(exe, content, 0o755); err != nil {
		t.Fatal(err)
	}
	v, _ := version.Parse("v1.2.3-4-gabc1234")
	p, err := Build(Options{Version: v, Arch: arch, Binary: exe, Out: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	if filepath.Base(p) != "farmwatch-agent_1.2.3+4.gabc1234_"+arch+".msi" {
		t.Errorf("name %s", p)
	}
	return p, content
}

func TestMSITables(t *testing.T) {
	p, content := build(t, "amd64")
	svc := row(table(t, p, "ServiceInstall"), "AgentService")
	// Name, ..., ServiceType 16 (own process), StartType 2 (automatic), ErrorControl 1, ..., Arguments
	if svc == nil || svc[1] != "farmwatch-agent" || svc[3] != "16" || svc[4] != "2" || svc[5] != "1" || svc[8] != "" ||
		svc[10] != `run --config "[CommonAppDataFolder]farmwatch\agent.yaml"` {
		t.Errorf("ServiceInstall %q", svc)
	}
	// Events 163: start on install (1), stop on install and uninstall (2|32), delete on uninstall (128); wait.
	if c := row(table(t, p, "ServiceControl"), "AgentServiceControl"); c == nil || c[1] != "farmwatch-agent" || c[2] != "163" || c[4] != "1" {
		t.Errorf("ServiceControl %q", c)
	}
	// Restart after 5 s, 30 s, then every 60 s; the count resets after a day.
	if r := row(table(t, p, "MsiServiceConfigFailureActions"), "AgentRecovery"); r == nil || r[1] != "farmwatch-agent" || r[3] != "86400" ||
		r[6] != "1[~]1[~]1" || r[7] != "5000[~]30000[~]60000" || r[8] != "Agent" {
		t.Errorf("recovery %q", r)
	}
	if r := row(table(t, p, "MsiServiceConfig"), "AgentFailureFlag"); r == nil || r[3] != "4" || r[4] != "1" {
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
	ca := row(table(t, p, "CustomAction"), "Configure")
	if ca == nil || ca[1] != "11282" || ca[2] != "AgentExe" {
		t.Errorf("Configure %q", ca)
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
		var found bool
		filepath.Walk(dir, func(path string, info os.FileInfo, err error) error {
			if err == nil && info.Name() == "farmwatch-agent.exe" {
				b, _ := os.ReadFile(path)
				found = bytes.Equal(b, content)
				if !strings.Contains(filepath.ToSlash(path), "farmwatch/farmwatch-agent.exe") {
					t.Errorf("installed at %s", path)
				}
			}
			return nil
		})
		if !found {
			t.Error("the agent is not in the package")
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
