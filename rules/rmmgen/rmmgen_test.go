package main

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"go.yaml.in/yaml/v3"
)

func TestClassifyName(t *testing.T) {
	tests := []struct {
		in    string
		posix osSet
		want  []item
		drop  string // part of the drop reason, "" for none
	}{
		{"AnyDesk.exe", osPosix, []item{{lProcNames, "anydesk.exe", osWindows}}, ""},
		{"  'TeamViewer_Service.exe' ", osPosix, []item{{lProcNames, "teamviewer_service.exe", osWindows}}, ""},
		{"anydesk", osLinux, []item{{lProcNames, "anydesk", osLinux}}, ""},
		{"nxserver.bin", osDarwin, []item{{lProcNames, "nxserver.bin", osDarwin}}, ""},
		{"remote access.exe", osPosix, []item{{lProcNames, "remote access.exe", osWindows}}, ""},
		{"rustdesk*.exe", osPosix, []item{{lProcGlobs, "rustdesk*.exe", osWindows}}, ""},
		{"wec_launcher_[a-Z0-9]*_.exe", osPosix, []item{{lProcGlobs, "wec_launcher_*_.exe", osWindows}}, ""},
		{"nxservice*.ese", osPosix, []item{{lProcGlobs, "nxservice*.exe", osWindows}}, ""}, // fixup
		{"ARDAgent.app", osPosix, []item{{lPathsDarwin, "*/ardagent.app/*", osDarwin}}, ""},
		{"agent.exe", osPosix, nil, "generic"},
		{"Setup.exe", osPosix, nil, "generic"},
		{"mstsc.exe", osPosix, nil, "RDP client"},
		{"dd.exe", osPosix, nil, "too short"},
		{"g*.exe", osPosix, nil, "too broad"},
		{"FSAgent.msi", osPosix, nil, "installer"},
		{"wintun.dll", osPosix, nil, "library"},
		{"Idrive.File-Transfer", osPosix, nil, "unknown extension"},
		{"can't find this one", osPosix, nil, "prose"},
		{"9380CC75B872221A7425D7503565B67580407F60", osPosix, nil, "hash"},
		{"", osPosix, nil, ""},
	}
	for _, tt := range tests {
		got, drops := classifyName(tt.in, tt.posix)
		if diff := cmp.Diff(tt.want, got, cmp.AllowUnexported(item{})); diff != "" {
			t.Errorf("classifyName(%q) items (-want +got):\n%s", tt.in, diff)
		}
		checkDrop(t, tt.in, drops, tt.drop)
	}
}

func checkDrop(t *testing.T, in string, drops []dropped, want string) {
	t.Helper()
	if want == "" {
		if len(drops) > 0 {
			t.Errorf("%q: unexpected drop %+v", in, drops)
		}
		return
	}
	for _, d := range drops {
		if strings.Contains(d.reason, want) {
			return
		}
	}
	t.Errorf("%q: drops %+v, want a reason containing %q", in, drops, want)
}

func TestClassifyOriginal(t *testing.T) {
	tests := []struct {
		orig, file string
		want       []item
		drop       string
	}{
		{"AnyDesk.exe", "anydesk.exe", []item{{lOrigNames, "anydesk.exe", osWindows}}, ""},
		{"ControlR.Agent.dll", "ControlR.Agent.exe", []item{{lOrigNames, "controlr.agent.dll", osWindows}}, ""}, // .NET
		{"wintun.dll", "wintun.dll", nil, "non-executable"},
		{"InstallShield Setup.exe", "x.exe", nil, "generic"},
		{"", "x.exe", nil, ""},
	}
	for _, tt := range tests {
		got, drops := classifyOriginal(tt.orig, tt.file)
		if diff := cmp.Diff(tt.want, got, cmp.AllowUnexported(item{})); diff != "" {
			t.Errorf("classifyOriginal(%q) (-want +got):\n%s", tt.orig, diff)
		}
		checkDrop(t, tt.orig, drops, tt.drop)
	}
}

func TestClassifyWindowsPath(t *testing.T) {
	w := func(vs ...string) []item {
		var out []item
		for _, v := range vs {
			l := lPathsWindows
			if !strings.Contains(v, `\`) {
				l = lProcNames
			}
			out = append(out, item{l, v, osWindows})
		}
		return out
	}
	tests := []struct {
		in   string
		want []item
		drop string
	}{
		{`C:\Program Files (x86)\AnyDesk\*`, w(`c:\program files\anydesk\*`, `c:\program files (x86)\anydesk\*`), ""},
		{`C:\Program Files\RustDesk`, w(`c:\program files\rustdesk\*`, `c:\program files (x86)\rustdesk\*`), ""},
		{`%ProgramData%\AnyDesk\`, w(`c:\programdata\anydesk\*`), ""},
		{`%APPDATA%\JWrapper-SimpleSetup\*`, w(`c:\users\*\appdata\roaming\jwrapper-simplesetup\*`), ""},
		{`%LOCALAPPDATA%\rustdesk\`, w(`c:\users\*\appdata\local\rustdesk\*`), ""},
		{`C:\\ProgramData\\AMMYY\\*`, w(`c:\programdata\ammyy\*`), ""},
		{`C:\Users\USERNAME\AppData\Roaming\Insync\App\Insync.exe`, w("insync.exe", `c:\users\*\appdata\roaming\insync\app\insync.exe`), ""},
		{`C:\Program Files (x86)\ScreenConnect Client (<string ID>)\*`, w(`c:\program files\screenconnect client (*)\*`, `c:\program files (x86)\screenconnect client (*)\*`), ""},
		{`c:\Program Files (x86)%\mRemoteNG`, w(`c:\program files\mremoteng\*`, `c:\program files (x86)\mremoteng\*`), ""},
		{`*\AMMYY_Admin.exe`, w("ammyy_admin.exe"), ""},
		{`*\*\ScreenConnect.ClientService.exe`, w("screenconnect.clientservice.exe"), ""},
		{`C:\*\kitty.exe`, w("kitty.exe"), ""},
		{`*%\mRemoteNG`, w(`*\mremoteng\*`), ""},
		{`*\ATERA Networks\AteraAgent\*`, w(`*\atera networks\ateraagent\*`), ""},
		{`*\ngrok*`, w(`*\ngrok*`), ""},
		{`C:\Users\*\Downloads\AMMYY_Admin.exe`, w("ammyy_admin.exe"), "download location"},
		{`C:\Windows\<random>.exe`, nil, "too generic"},
		{`C:\Windows\System32\mstsc.exe`, nil, "RDP client"},
		{`C:\Program Files\GLPI-Agent\logs\*`, nil, "log folder"},
		{`C:\Program Files\Remotely\ConnectionInfo.json`, nil, "data file"},
		{`*\Lunixar\Lunixar.dll`, nil, "library"},
		{`*\Yandex\*`, nil, "Yandex"},
	}
	for _, tt := range tests {
		got, drops := classifyInstallPath(tt.in, osWindows)
		if diff := cmp.Diff(tt.want, got, cmp.AllowUnexported(item{})); diff != "" {
			t.Errorf("classifyInstallPath(%q) (-want +got):\n%s", tt.in, diff)
		}
		checkDrop(t, tt.in, drops, tt.drop)
	}
}

func TestClassifyPosixPath(t *testing.T) {
	tests := []struct {
		in        string
		supported osSet
		want      []item
		drop      string
	}{
		{"/Applications/AnyDesk.app", osDarwin | osWindows, []item{{lPathsDarwin, "/applications/anydesk.app/*", osDarwin}}, ""},
		{"/Applications/Teleport Connect.app/*", osPosix, []item{{lPathsDarwin, "/applications/teleport connect.app/*", osDarwin}}, ""},
		{"/opt/google/chrome-remote-desktop/", osLinux, []item{{lPathsLinux, "/opt/google/chrome-remote-desktop/*", osLinux}}, ""},
		{"/usr/bin/anydesk", osLinux, []item{
			{lProcNames, "anydesk", osLinux},
			{lPathsLinux, "/usr/bin/anydesk/*", osLinux},
			{lPathsLinux, "/usr/bin/anydesk", osLinux},
		}, ""},
		{"/usr/local/bin/tmate", osDarwin | osLinux, []item{
			{lProcNames, "tmate", osDarwin},
			{lPathsDarwin, "/usr/local/bin/tmate/*", osDarwin},
			{lPathsDarwin, "/usr/local/bin/tmate", osDarwin},
			{lProcNames, "tmate", osLinux},
			{lPathsLinux, "/usr/local/bin/tmate/*", osLinux},
			{lPathsLinux, "/usr/local/bin/tmate", osLinux},
		}, ""},
		{"/etc/systemd/system/pitunnel.service", osLinux, []item{{lSvcNames, "pitunnel.service", osLinux}}, ""},
		{"/lib/systemd/system/helpwire-unattended.service", osDarwin | osLinux, []item{{lSvcNames, "helpwire-unattended.service", osLinux}}, ""},
		{"~/.config/AnyDesk/Logs/", osLinux, nil, "configuration folder"},
		{"~/Library/Application Support/AnyDesk/Logs/", osDarwin, nil, "log folder"},
		{"/Library/LaunchDaemons/remotely-agent.plist", osDarwin, nil, "launchd plist"},
		{"/etc/shellhub-agent/*", osLinux, nil, "not an install path"},
		{"/home/*/.local/bin/agentx", osDarwin, nil, "does not support"},
		{"helpwire-operator/bin/", osLinux, nil, "relative folder"},
		{"/opt/nezha/agent", osLinux, []item{
			{lPathsLinux, "/opt/nezha/agent/*", osLinux},
			{lPathsLinux, "/opt/nezha/agent", osLinux},
		}, "generic"},
	}
	for _, tt := range tests {
		got, drops := classifyInstallPath(tt.in, tt.supported)
		if diff := cmp.Diff(tt.want, got, cmp.AllowUnexported(item{})); diff != "" {
			t.Errorf("classifyInstallPath(%q, %v) (-want +got):\n%s", tt.in, tt.supported, diff)
		}
		checkDrop(t, tt.in, drops, tt.drop)
	}
}

func TestClassifyServices(t *testing.T) {
	tests := []struct {
		kind, in string
		want     []item
		drop     string
	}{
		{"win", "AnyDesk Service", []item{{lSvcNames, "anydesk service", osWindows}}, ""},
		{"win", "Splashtop® Remote Service", []item{{lSvcNames, "splashtop® remote service", osWindows}}, ""},
		{"win", "GoToResolve_*", []item{{lSvcGlobs, "gotoresolve_*", osWindows}}, ""},
		{"win", "WinRing0_1_2_0", nil, "WinRing0"},
		{"unit", "chrome-remote-desktop@.service", []item{{lSvcGlobs, "chrome-remote-desktop@*.service", osLinux}}, ""},
		{"unit", "vncserver@<display>.service", []item{{lSvcGlobs, "vncserver@*.service", osLinux}}, ""},
		{"unit", "rustdesk.service", []item{{lSvcNames, "rustdesk.service", osLinux}}, ""},
		{"unit", "CLI grdctl", nil, "systemd unit"},
		{"launchd", "com.carriez.RustDesk_service", []item{{lSvcNames, "com.carriez.rustdesk_service", osDarwin}}, ""},
		{"bundle", "com.teamviewer.TeamViewer", []item{{lBundleIDs, "com.teamviewer.teamviewer", osDarwin}}, ""},
		{"bundle", "TeamViewer", nil, "bundle identifier"},
	}
	for _, tt := range tests {
		var got []item
		var drops []dropped
		switch tt.kind {
		case "win":
			got, drops = classifyService(tt.in)
		case "unit":
			got, drops = classifyUnit(tt.in)
		case "launchd":
			got, drops = classifyLaunchd(tt.in)
		case "bundle":
			got, drops = classifyBundleID(tt.in)
		}
		if diff := cmp.Diff(tt.want, got, cmp.AllowUnexported(item{})); diff != "" {
			t.Errorf("%s %q (-want +got):\n%s", tt.kind, tt.in, diff)
		}
		checkDrop(t, tt.in, drops, tt.drop)
	}
}

func TestCatalogItems(t *testing.T) {
	tests := []struct {
		in    string
		paths bool
		want  []string
	}{
		{"TeamViewer.exe; TeamViewer_Service.exe; tv_w32.exe", false, []string{"TeamViewer.exe", "TeamViewer_Service.exe", "tv_w32.exe"}},
		{"TeamViewer_Service (parent) -> TeamViewer_Desktop --IPCport 5939 --Module 1 (incoming session)", false,
			[]string{"TeamViewer_Service", "TeamViewer_Desktop --IPCport 5939 --Module 1"}},
		{"SplashtopRemoteService; 'Splashtop® Remote Service'", false, []string{"SplashtopRemoteService", "Splashtop® Remote Service"}},
		{"action1_agent.exe; action1_remote.exe (service A1Agent)", false, []string{"action1_agent.exe", "action1_remote.exe"}},
		{`C:\Program Files (x86)\ScreenConnect Client (<id>)\*`, true, []string{`C:\Program Files (x86)\ScreenConnect Client (<id>)\*`}},
		{"/usr/local/mesh_services/meshagent/meshagent (.db, .msh)", true, []string{"/usr/local/mesh_services/meshagent/meshagent"}},
	}
	for _, tt := range tests {
		if diff := cmp.Diff(tt.want, catalogItems(tt.in, tt.paths)); diff != "" {
			t.Errorf("catalogItems(%q) (-want +got):\n%s", tt.in, diff)
		}
	}
}

const anydeskYAML = `Name: AnyDesk
Category: RMM
Details:
    PEMetadata:
        Filename: anydesk.exe
        OriginalFileName: AnyDesk.exe
    SupportedOS: [Linux, Mac, Windows]
    InstallationPaths:
        - C:\Program Files (x86)\AnyDesk\*
        - /Applications/AnyDesk.app
Artifacts:
    EventLog:
        - EventID: 7045
          ServiceName: AnyDesk Service
    Registry:
        - Path: HKLM\SYSTEM\CurrentControlSet\Services\AnyDesk
    Other:
        - Type: macOS LaunchDaemon label
          Value: com.example.anydesk
`

func TestParseLOLRMM(t *testing.T) {
	got, err := parseLOLRMM("anydesk.yaml", []byte(anydeskYAML))
	if err != nil {
		t.Fatal(err)
	}
	want := tool{
		File: "anydesk.yaml", Name: "AnyDesk", SupportedOS: []string{"Linux", "Mac", "Windows"},
		PE:       []peMeta{{"anydesk.exe", "AnyDesk.exe"}},
		Paths:    []string{`C:\Program Files (x86)\AnyDesk\*`, "/Applications/AnyDesk.app"},
		Services: []string{"AnyDesk Service", "AnyDesk"},
		Launchd:  []string{"com.example.anydesk"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("parseLOLRMM (-want +got):\n%s", diff)
	}
	list := strings.Replace(anydeskYAML, "        Filename: anydesk.exe\n        OriginalFileName: AnyDesk.exe",
		"        - Filename: a.exe\n        - Filename: b.exe\n          OriginalFileName: b.exe", 1)
	got, err = parseLOLRMM("x.yaml", []byte(list))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]peMeta{{"a.exe", ""}, {"b.exe", "b.exe"}}, got.PE); diff != "" {
		t.Errorf("PEMetadata list (-want +got):\n%s", diff)
	}
}

func TestLoadLOLRMMNamesBadFile(t *testing.T) {
	dir := t.TempDir()
	write(t, filepath.Join(dir, "anydesk.yaml"), anydeskYAML)
	write(t, filepath.Join(dir, "broken.yaml"), "Name: [unclosed\n")
	_, err := loadLOLRMM(dir)
	if err == nil || !strings.Contains(err.Error(), "broken.yaml") {
		t.Fatalf("err = %v, want one naming broken.yaml", err)
	}
}

func TestParseExtra(t *testing.T) {
	if _, err := parseExtra("e.yaml", []byte("entries:\n  - label: X\n    process_names: [x]\n")); err == nil || !strings.Contains(err.Error(), "without source") {
		t.Errorf("entry without source: err = %v", err)
	}
	if _, err := parseExtra("e.yaml", []byte("entries:\n  - label: X\n    source: s\n    process_name: [x]\n")); err == nil {
		t.Error("misspelt field: no error")
	}
	got, err := parseExtra("e.yaml", []byte("entries:\n  - label: X\n    source: s\n    process_names: [x]\n"))
	if err != nil || len(got) != 1 || got[0].ProcessNames[0] != "x" {
		t.Errorf("parseExtra = %+v, %v", got, err)
	}
}

func TestBuildCollapsesAliasesAndResolvesConflicts(t *testing.T) {
	tools := []tool{
		{File: "splashtop.yaml", Name: "Splashtop", Paths: []string{"srservice.exe"}},
		{File: "splashtop_remote.yaml", Name: "Splashtop Remote", Paths: []string{"srservice.exe", "sragent.exe"}},
	}
	res, err := build(tools, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range []string{"srservice.exe", "sragent.exe"} {
		if e := res.lists[lProcNames][v]; e == nil || e.label != "Splashtop" {
			t.Errorf("%s: entry %+v, want label Splashtop", v, e)
		}
	}
	// Two unrelated tools claiming one name, without a decision, is an error.
	tools = append(tools, tool{File: "other.yaml", Name: "Other", Paths: []string{"sragent.exe"}})
	if _, err := build(tools, nil, nil); err == nil || !strings.Contains(err.Error(), "sragent.exe") {
		t.Errorf("conflict: err = %v", err)
	}
	// A tool whose only value went to another label is not covered.
	tools = []tool{
		{File: "a.yaml", Name: "Pocket Cloud (Wyse)", Paths: []string{"pocketcloudservice.exe"}},
		{File: "b.yaml", Name: "Pocket Controller", Paths: []string{"pocketcloudservice.exe"}},
	}
	if _, err := build(tools, nil, nil); err == nil || !strings.Contains(err.Error(), "b.yaml") {
		t.Errorf("uncovered tool: err = %v", err)
	}
}

func TestRenderIsStableAndParses(t *testing.T) {
	tools := []tool{{File: "t.yaml", Name: "T", SupportedOS: []string{"Windows"},
		Paths: []string{`*\T Corp\Agent\*`, "t-agent.exe", "tcorp*.exe", `%ProgramFiles%\T Corp\`}}}
	res, err := build(tools, nil, []extraEntry{{Label: "T", Source: "s", Launchd: []string{"com.t.agent"}}})
	if err != nil {
		t.Fatal(err)
	}
	a, err := render(res, []string{"src"})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := render(res, []string{"src"})
	if !bytes.Equal(a, b) {
		t.Fatal("two renders differ")
	}
	var doc struct {
		Lists map[string]struct {
			Match  string            `yaml:"match"`
			Values map[string]string `yaml:"values"`
		} `yaml:"lists"`
	}
	if err := yaml.Unmarshal(a, &doc); err != nil {
		t.Fatalf("output does not parse: %v\n%s", err, a)
	}
	want := map[string]string{`*\t corp\agent\*`: "T", `c:\program files\t corp\*`: "T", `c:\program files (x86)\t corp\*`: "T"}
	if diff := cmp.Diff(want, doc.Lists["rmm_paths_windows"].Values); diff != "" {
		t.Errorf("paths (-want +got):\n%s", diff)
	}
	if got := doc.Lists["rmm_process_globs"]; got.Match != "glob" || got.Values["tcorp*.exe"] != "T" {
		t.Errorf("globs = %+v", got)
	}
	if got := doc.Lists["rmm_service_names"].Values["com.t.agent"]; got != "T" {
		t.Errorf("launchd label = %q", got)
	}
}

// TestGeneratedFileIsCurrent regenerates rules/rmm_lists.yaml from the
// catalogues beside the repository (where the flags point by default) and
// compares; it is skipped where they are not there.
func TestGeneratedFileIsCurrent(t *testing.T) {
	root := filepath.Join("..", "..")
	lolrmm := filepath.Join(root, "..", "shared", "corpus", "lolrmm", "yaml")
	indicators := filepath.Join(root, "..", "shared", "indicators", "indicators.yaml")
	if _, err := os.Stat(lolrmm); err != nil {
		t.Skipf("no LOLRMM catalogue at %s", lolrmm)
	}
	if _, err := os.Stat(indicators); err != nil {
		t.Skipf("no indicator catalogue at %s", indicators)
	}
	c := config{
		lolrmmDir: lolrmm, lolrmmRev: "3c75cf091b10bf7e8ecd576055c44d172b35ff21",
		indicators: indicators, extra: "extra.yaml",
		out: filepath.Join(root, "rules", "rmm_lists.yaml"), audit: "AUDIT.md", check: true, quiet: true,
	}
	if err := run(c, io.Discard); err != nil {
		t.Fatal(err)
	}
}

func TestSplitRefs(t *testing.T) {
	tests := []struct {
		in   string
		want []string
	}{
		{"repo magicsword-io/LOLRMM: yaml/anydesk.yaml", []string{"repo magicsword-io/LOLRMM: yaml/anydesk.yaml"}},
		{"repo magicsword-io/LOLRMM: yaml/rustdesk.yaml; repo elastic/detection-rules: rules/x.toml",
			[]string{"repo magicsword-io/LOLRMM: yaml/rustdesk.yaml", "repo elastic/detection-rules: rules/x.toml"}},
		{"repo TigerVNC/tigervnc: unix/a.service.in; unix/x0vncserver; unix/b.c",
			[]string{"repo TigerVNC/tigervnc: unix/a.service.in; unix/x0vncserver; unix/b.c"}},
		{"repo magicsword-io/LOLRMM: yaml/apple_remote_desktop.yaml; public scripts (a/OSX: enable_ard.sh; b/mac-scripts); CIS check 'x'",
			[]string{"repo magicsword-io/LOLRMM: yaml/apple_remote_desktop.yaml", "public scripts (a/OSX: enable_ard.sh; b/mac-scripts)", "CIS check 'x'"}},
		{"repo magicsword-io/LOLRMM: yaml/crd.yaml; DPRK honeypot threat brief (secondary)",
			[]string{"repo magicsword-io/LOLRMM: yaml/crd.yaml", "DPRK honeypot threat brief (secondary)"}},
		{" ; ", nil},
	}
	for _, tt := range tests {
		if diff := cmp.Diff(tt.want, splitRefs(tt.in)); diff != "" {
			t.Errorf("splitRefs(%q) (-want +got):\n%s", tt.in, diff)
		}
	}
}

// TestListsCiteCatalogueRowSources: a list cites the upstream source of each
// catalogue row behind its values, once, without the LOLRMM references it
// already cites; a row whose values went elsewhere is not cited.
func TestListsCiteCatalogueRowSources(t *testing.T) {
	rows := []row{
		{N: 7, Platform: "windows", Kind: "process", Match: "AnyDesk.exe", Tool: "AnyDesk", Confidence: "high",
			Source: "repo magicsword-io/LOLRMM: yaml/anydesk.yaml; repo elastic/detection-rules: rules/rmm.toml"},
		{N: 8, Platform: "linux", Kind: "process", Match: "anydesk", Tool: "AnyDesk", Confidence: "high",
			Source: "repo elastic/detection-rules: rules/rmm.toml"},
		{N: 9, Platform: "linux", Kind: "service", Match: "rustdesk.service", Tool: "RustDesk", Confidence: "high",
			Source: "repo rustdesk/rustdesk: res/rustdesk.service"},
		{N: 10, Platform: "linux", Kind: "process", Match: "guess", Tool: "RustDesk", Confidence: "low",
			Source: "not cited: a low-confidence row is not used"},
	}
	res, err := build(nil, rows, nil)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"repo elastic/detection-rules: rules/rmm.toml"}, catalogueRefs(res, lProcNames)); diff != "" {
		t.Errorf("process names (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"repo rustdesk/rustdesk: res/rustdesk.service"}, catalogueRefs(res, lSvcNames)); diff != "" {
		t.Errorf("service names (-want +got):\n%s", diff)
	}
	if got := catalogueRefs(res, lPathsWindows); len(got) != 0 {
		t.Errorf("paths: %q, want none", got)
	}
	out, err := render(res, []string{"common"})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(out), "not cited") || strings.Count(string(out), "rules/rmm.toml") != 1 {
		t.Errorf("rendered sources:\n%s", out)
	}
	for i := range 2 * maxCatalogueRefs {
		res.rowSources[100+i] = fmt.Sprintf("repo r/r%02d: x", i)
		res.lists[lProcNames]["anydesk.exe"].origins[fmt.Sprintf("indicators#%d", 100+i)] = true
	}
	got := catalogueRefs(res, lProcNames)
	if len(got) != maxCatalogueRefs+1 || !strings.Contains(got[maxCatalogueRefs], "and 13 more") {
		t.Errorf("bounded refs = %q", got)
	}
}

func write(t *testing.T, p, s string) {
	t.Helper()
	if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestClassifyStem(t *testing.T) {
	tests := []struct {
		in     string
		suffix bool
		want   []item
		drop   string
	}{
		{"TeamViewer", false, []item{{lNameStems, "teamviewer*", osWindows | osPosix}}, ""},
		{"jump desktop", false, []item{{lNameStems, "jump desktop*", osWindows | osPosix}}, ""},
		{"vncserver", true, []item{{lNameStems, "*vncserver", osWindows | osPosix}}, ""},
		{"vnc", true, []item{{lNameStems, "*vnc", osWindows | osPosix}}, ""},
		{"vnc", false, nil, "too short"},
		{"sr", true, nil, "too short"},
		{"team*", false, nil, "wildcard"},
		{"/opt/teamviewer", false, nil, "not a file name"},
		{`c:\tv`, false, nil, "not a file name"},
		{"  ", false, nil, "empty"},
	}
	for _, tt := range tests {
		got, drops := classifyStem(tt.in, tt.suffix)
		if diff := cmp.Diff(tt.want, got, cmp.AllowUnexported(item{})); diff != "" {
			t.Errorf("classifyStem(%q, %v) (-want +got):\n%s", tt.in, tt.suffix, diff)
		}
		checkDrop(t, tt.in, drops, tt.drop)
	}
}

func TestExtraLinuxOnlyNames(t *testing.T) {
	res, err := build(nil, nil, []extraEntry{{Label: "Parsec", Source: "s", ProcessNamesLin: []string{"parsecd", "parsecd.exe", "parsec*"}}})
	if err != nil {
		t.Fatal(err)
	}
	if e := res.lists[lProcNamesLinux]["parsecd"]; e == nil || e.label != "Parsec" || e.os != osLinux {
		t.Errorf("parsecd: %+v, want a Linux-only name of Parsec", e)
	}
	if len(res.lists[lProcNamesLinux]) != 1 || len(res.lists[lProcNames]) != 0 || len(res.lists[lProcGlobs]) != 0 {
		t.Errorf("lists: linux-only %v, names %v, globs %v; want only parsecd, Linux-only", res.lists[lProcNamesLinux], res.lists[lProcNames], res.lists[lProcGlobs])
	}
	if len(res.drops) != 2 {
		t.Errorf("drops %+v, want parsecd.exe and parsec* refused", res.drops)
	}
}
