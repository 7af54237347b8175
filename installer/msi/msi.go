// Package msi builds the agent's Windows Installer package with wixl
// (Debian's msitools), from farmwatch-agent.wxs, then adds with msibuild
// what wixl cannot write:
//   - the recovery actions (MsiServiceConfigFailureActions: restart after
//     installer/servicedef's delays) and the failure actions flag
//     (MsiServiceConfig), applied by MsiConfigureServices (Windows
//     Installer 5);
//   - upgrades over the same version (a build between two tags);
//   - COLLECTOR, CA_FILE, CA_PEM, ENROLL_SECRET and PURGE as secure
//     properties, ENROLL_SECRET and CA_PEM kept out of logs, and the
//     configure action's command line hidden (it carries the secret);
//   - for arm64, the Arm64 platform in the summary information (wixl
//     knows x86 and x64 only; the tables of an x64 package are the same).
//
// The package installs, in C:\Program Files\farmwatch, farmwatch-agent.exe
// (the command) and farmwatch-agentd.exe, which the farmwatch-agent service
// runs (LocalSystem, automatic start), and runs `farmwatch-agent configure`
// with the properties before the service starts: msiexec /i
// farmwatch-agent.msi COLLECTOR=... CA_PEM=... ENROLL_SECRET=... /qn. An
// upgrade needs no properties: the config is kept. msiexec /x keeps
// C:\ProgramData\farmwatch unless PURGE=1.
package msi

import (
	_ "embed"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"text/template"
	"time"

	"github.com/farmwatch/farmwatch/installer/servicedef"
	"github.com/farmwatch/farmwatch/installer/version"
)

//go:embed farmwatch-agent.wxs
var wxs string

// UpgradeCode ties every version of the agent's package together; it
// never changes.
const UpgradeCode = "{6F1E3C2A-8B7D-4E5F-9A0B-1C2D3E4F5A6B}"

// componentGUID and daemonGUID are the components' (farmwatch-agent.exe;
// farmwatch-agentd.exe with the service), fixed so that upgrades and
// repairs recognise them. The service was farmwatch-agent.exe's before
// farmwatch-agentd existed; an upgrade removes the old product first
// (RemoveExistingProducts after InstallValidate), so it moves cleanly.
const (
	componentGUID = "{3C9B2D41-7E0A-4F6B-8D15-2A9C4E7B1F30}"
	daemonGUID    = "{EC8E891C-1851-4F67-9CF2-462F22F7E2A1}"
)

// binaryName and daemonName are the installed files' names, from
// installer/servicedef's Windows paths.
var (
	binaryName = windowsBase(servicedef.Windows.Binary)
	daemonName = windowsBase(servicedef.Windows.Daemon)
)

func windowsBase(p string) string { return p[strings.LastIndexByte(p, '\\')+1:] }

// Properties are the public properties an install reads.
var Properties = []string{"COLLECTOR", "CA_FILE", "CA_PEM", "ENROLL_SECRET", "PURGE"}

// Custom action type of Configure: an executable in the File table (18),
// deferred (1024), as LocalSystem (2048), its command line not logged
// (8192, msidbCustomActionTypeHideTarget).
const configureType = 18 + 1024 + 2048 + 8192

// Options say what to package.
type Options struct {
	Version version.Version
	Arch    string // amd64 or arm64
	Binary  string // farmwatch-agent.exe for Arch, signed already if it is to be
	Daemon  string // farmwatch-agentd.exe for Arch, likewise
	Out     string
}

// Build writes dist/farmwatch-agent_VERSION_ARCH.msi and returns its path.
func Build(o Options) (string, error) {
	var template string
	switch o.Arch {
	case "amd64":
		template = "x64;1033"
	case "arm64":
		template = "Arm64;1033"
	default:
		return "", fmt.Errorf("msi: arch %q: want amd64 or arm64", o.Arch)
	}
	// wixl would report a missing source by its link's name only.
	for _, b := range []struct{ what, path string }{{"Binary (" + binaryName + ")", o.Binary}, {"Daemon (" + daemonName + ")", o.Daemon}} {
		if b.path == "" {
			return "", fmt.Errorf("msi: no %s given", b.what)
		}
		if _, err := os.Stat(b.path); err != nil {
			return "", fmt.Errorf("msi: %s: %w", b.what, err)
		}
	}
	wixl, err := exec.LookPath("wixl")
	if err != nil {
		return "", fmt.Errorf("msi: wixl is not installed (apt-get install wixl msitools): %w", err)
	}
	msibuild, err := exec.LookPath("msibuild")
	if err != nil {
		return "", fmt.Errorf("msi: msibuild is not installed (apt-get install msitools): %w", err)
	}
	src, err := Source(o)
	if err != nil {
		return "", err
	}
	tmp, err := os.MkdirTemp("", "farmwatch-msi-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(tmp)
	// wixl takes sources relative to where it runs only.
	for name, src := range map[string]string{binaryName: o.Binary, daemonName: o.Daemon} {
		if err := os.Symlink(mustAbs(src), filepath.Join(tmp, name)); err != nil {
			return "", err
		}
	}
	wxsPath := filepath.Join(tmp, "farmwatch-agent.wxs")
	if err := os.WriteFile(wxsPath, []byte(src), 0o644); err != nil {
		return "", err
	}
	if err := os.MkdirAll(o.Out, 0o755); err != nil {
		return "", err
	}
	out := filepath.Join(mustAbs(o.Out), fmt.Sprintf("farmwatch-agent_%s_%s.msi", o.Version.Deb(), o.Arch))
	cmd := exec.Command(wixl, "--arch", "x64", "-o", out, "farmwatch-agent.wxs")
	cmd.Dir = tmp
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("msi: wixl: %v: %s", err, b)
	}
	args := []string{out}
	for _, q := range Queries(o.Version) {
		args = append(args, "-q", q)
	}
	if b, err := exec.Command(msibuild, args...).CombinedOutput(); err != nil {
		os.Remove(out)
		return "", fmt.Errorf("msi: msibuild: %v: %s", err, b)
	}
	if o.Arch != "amd64" {
		// msibuild -s sets title, author, template and package code.
		b, err := exec.Command("msiinfo", "suminfo", out).Output()
		if err != nil {
			return "", fmt.Errorf("msi: msiinfo suminfo: %w", err)
		}
		code := regexp.MustCompile(`Revision number \(UUID\): (\{[0-9A-Fa-f-]+\})`).FindSubmatch(b)
		if code == nil {
			return "", fmt.Errorf("msi: no package code in:\n%s", b)
		}
		if b, err := exec.Command(msibuild, out, "-s", "farmwatch agent", "farmwatch", template, string(code[1])).CombinedOutput(); err != nil {
			return "", fmt.Errorf("msi: msibuild -s: %v: %s", err, b)
		}
	}
	return out, nil
}

// Source is the package's WiX source for wixl, which runs where the
// executables are linked as farmwatch-agent.exe and farmwatch-agentd.exe.
func Source(o Options) (string, error) {
	config := `[CommonAppDataFolder]farmwatch\agent.yaml`
	t := template.Must(template.New("wxs").Parse(wxs))
	var b strings.Builder
	err := t.Execute(&b, map[string]string{
		"Version": o.Version.MSI(), "Describe": xmlAttr(o.Version.Describe), "UpgradeCode": UpgradeCode,
		"ComponentGuid": componentGUID, "DaemonGuid": daemonGUID, "Binary": binaryName, "Daemon": daemonName, "Name": servicedef.Name,
		"ServiceArgs":   xmlAttr(`run --config "` + config + `"`),
		"ConfigureArgs": xmlAttr(`configure --config "` + config + `" --collector "[COLLECTOR]" --ca "[CA_FILE]" --ca-pem "[CA_PEM]" --enroll-secret "[ENROLL_SECRET]"`),
		"PurgeArgs":     xmlAttr(`purge --config "` + config + `"`),
	})
	return b.String(), err
}

func mustAbs(p string) string {
	a, err := filepath.Abs(p)
	if err != nil {
		return p
	}
	return a
}

func xmlAttr(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&quot;").Replace(s)
}

// Queries are the SQL statements msibuild runs on wixl's package.
func Queries(v version.Version) []string {
	var actions, delays []string
	for _, d := range servicedef.WindowsRestartDelays {
		actions = append(actions, "1") // SC_ACTION_RESTART
		delays = append(delays, fmt.Sprint(int64(d/time.Millisecond)))
	}
	const install, reinstall = 1, 4 // msidbServiceConfigEvent*
	secure := "WIX_DOWNGRADE_DETECTED;WIX_UPGRADE_DETECTED;" + strings.Join(Properties, ";")
	return []string{
		"CREATE TABLE `MsiServiceConfigFailureActions` (`MsiServiceConfigFailureActions` CHAR(72) NOT NULL, `Name` CHAR(255) NOT NULL, `Event` SHORT NOT NULL, " +
			"`ResetPeriod` LONG, `RebootMessage` CHAR(255) LOCALIZABLE, `Command` CHAR(255), `Actions` CHAR(255), `DelayActions` CHAR(255), `Component_` CHAR(72) NOT NULL " +
			"PRIMARY KEY `MsiServiceConfigFailureActions`)",
		fmt.Sprintf("INSERT INTO `MsiServiceConfigFailureActions` (`MsiServiceConfigFailureActions`, `Name`, `Event`, `ResetPeriod`, `Actions`, `DelayActions`, `Component_`) "+
			"VALUES ('AgentRecovery', '%s', %d, %d, '%s', '%s', 'Daemon')", servicedef.Name, install|reinstall,
			int(servicedef.WindowsResetPeriod/time.Second), strings.Join(actions, "[~]"), strings.Join(delays, "[~]")),
		"CREATE TABLE `MsiServiceConfig` (`MsiServiceConfig` CHAR(72) NOT NULL, `Name` CHAR(255) NOT NULL, `Event` SHORT NOT NULL, `ConfigType` LONG NOT NULL, " +
			"`Argument` CHAR(255), `Component_` CHAR(72) NOT NULL PRIMARY KEY `MsiServiceConfig`)",
		// ConfigType 4 is SERVICE_CONFIG_FAILURE_ACTIONS_FLAG: the actions
		// apply also when the service stops itself with an error.
		fmt.Sprintf("INSERT INTO `MsiServiceConfig` (`MsiServiceConfig`, `Name`, `Event`, `ConfigType`, `Argument`, `Component_`) VALUES ('AgentFailureFlag', '%s', %d, 4, '1', 'Daemon')",
			servicedef.Name, install|reinstall),
		"INSERT INTO `InstallExecuteSequence` (`Action`, `Condition`, `Sequence`) VALUES ('MsiConfigureServices', 'VersionMsi >= \"5.00\"', 5850)",
		// 513: migrate features (1) and include the maximum version (512),
		// so a build of the same version upgrades rather than installing
		// beside it.
		// (Attributes is part of the key: the row is replaced.)
		"DELETE FROM `Upgrade` WHERE `ActionProperty` = 'WIX_UPGRADE_DETECTED'",
		fmt.Sprintf("INSERT INTO `Upgrade` (`UpgradeCode`, `VersionMax`, `Attributes`, `ActionProperty`) VALUES ('%s', '%s', 513, 'WIX_UPGRADE_DETECTED')", UpgradeCode, v.MSI()),
		fmt.Sprintf("UPDATE `Property` SET `Value` = '%s' WHERE `Property` = 'SecureCustomProperties'", secure),
		fmt.Sprintf("UPDATE `CustomAction` SET `Type` = %d WHERE `Action` = 'Configure'", configureType),
	}
}
