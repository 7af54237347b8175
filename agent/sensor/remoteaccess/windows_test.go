package remoteaccess

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/farmwatch/farmwatch/agent/host"
	fwv1 "github.com/farmwatch/farmwatch/proto/farmwatch/v1"
	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/testing/protocmp"
)

// BINARY_PATH_NAME values as `sc qc` prints them.
var binaryPathTests = []struct{ in, want string }{
	{`"C:\Program Files (x86)\AnyDesk\AnyDesk.exe" --service`, `C:\Program Files (x86)\AnyDesk\AnyDesk.exe`},
	{`"C:\Program Files\TeamViewer\TeamViewer_Service.exe"`, `C:\Program Files\TeamViewer\TeamViewer_Service.exe`},
	{`"C:\Program Files\RealVNC\VNC Server\vncserver.exe" -service`, `C:\Program Files\RealVNC\VNC Server\vncserver.exe`},
	{`"C:\Program Files (x86)\ScreenConnect Client (0f1e2d3c4b5a6978)\ScreenConnect.ClientService.exe" "?e=Access&y=Guest&h=instance-abc.screenconnect.com&p=443"`,
		`C:\Program Files (x86)\ScreenConnect Client (0f1e2d3c4b5a6978)\ScreenConnect.ClientService.exe`},
	{`"C:\Program Files\Docker\Docker\com.docker.service"`, `C:\Program Files\Docker\Docker\com.docker.service`},
	{`C:\Windows\system32\svchost.exe -k NetworkService -p`, `C:\Windows\system32\svchost.exe`},
	{`C:\Windows\System32\svchost.exe -k termsvcs`, `C:\Windows\System32\svchost.exe`},
	{`%SystemRoot%\System32\svchost.exe -k WbioSvcGroup`, `%SystemRoot%\System32\svchost.exe`},
	{`C:\WINDOWS\system32\lsass.exe`, `C:\WINDOWS\system32\lsass.exe`},
	{`C:\Program Files\Unquoted Path Service\Common Files\unquotedpathservice.exe`, `C:\Program Files\Unquoted Path Service\Common Files\unquotedpathservice.exe`},
	{`C:\Program Files\Some Vendor\Agent.EXE /run --log C:\x.exe`, `C:\Program Files\Some Vendor\Agent.EXE`},
	{`C:\Tools\my.exe.dir\agent.exe -x`, `C:\Tools\my.exe.dir\agent.exe`},
	{`\??\C:\Tools\agent.exe`, `C:\Tools\agent.exe`},
	{`"\\?\C:\Tools\agent.exe" -x`, `C:\Tools\agent.exe`},
	{`\SystemRoot\System32\drivers\acpi.sys`, `\SystemRoot\System32\drivers\acpi.sys`},
	{`system32\DRIVERS\tcpip.sys group`, `system32\DRIVERS\tcpip.sys`},
	{`"C:\unterminated\agent.exe -x`, `C:\unterminated\agent.exe -x`},
	{`  C:\lead\agent.exe  `, `C:\lead\agent.exe`},
	{`""`, ``},
	{``, ``},
}

func TestExeFromBinaryPath(t *testing.T) {
	for _, tt := range binaryPathTests {
		if got := exeFromBinaryPath(tt.in); got != tt.want {
			t.Errorf("exeFromBinaryPath(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// servicesJSON is an api/services.json as liveServices records it.
const servicesJSON = `[
 {"name": "AnyDesk", "display_name": "AnyDesk Service", "binary_path_name": "\"C:\\Program Files (x86)\\AnyDesk\\AnyDesk.exe\" --service",
  "start_type": "auto", "service_start_name": "LocalSystem", "state": "running", "pid": 4120, "service_type": 16},
 {"name": "TeamViewer", "display_name": "TeamViewer", "binary_path_name": "\"C:\\Program Files\\TeamViewer\\TeamViewer_Service.exe\"",
  "start_type": "auto", "delayed_auto_start": true, "service_start_name": "LocalSystem", "state": "stopped", "service_type": 16},
 {"name": "TermService", "display_name": "Remote Desktop Services", "binary_path_name": "C:\\Windows\\System32\\svchost.exe -k NetworkService",
  "start_type": "manual", "service_start_name": "NT Authority\\NetworkService", "state": "running", "pid": 1184, "service_type": 32},
 {"name": "RustDesk", "display_name": "RustDesk Service", "binary_path_name": "\"C:\\Program Files\\RustDesk\\rustdesk.exe\" --service",
  "start_type": "manual", "service_start_name": "LocalSystem", "state": "stopped", "service_type": 16},
 {"name": "WinRM", "display_name": "Windows Remote Management (WS-Management)", "binary_path_name": "C:\\Windows\\System32\\svchost.exe -k NetworkService -p",
  "start_type": "manual", "triggers": 1, "service_start_name": "NT AUTHORITY\\NetworkService", "state": "stopped", "service_type": 32},
 {"name": "RemoteRegistry", "display_name": "Remote Registry", "binary_path_name": "C:\\Windows\\system32\\svchost.exe -k localService -p",
  "start_type": "disabled", "triggers": 1, "service_start_name": "NT AUTHORITY\\LocalService", "state": "stopped", "service_type": 32},
 {"name": "Spooler", "display_name": "Print Spooler", "state": "paused", "error": "open service: Access is denied."},
 {"name": "", "state": "running"}
]
`

func TestSCMServices(t *testing.T) {
	var recs []scmRecord
	if err := json.Unmarshal([]byte(servicesJSON), &recs); err != nil {
		t.Fatal(err)
	}
	key := servicesKey + `\`
	want := []*fwv1.Service{
		{Name: "AnyDesk", DisplayName: "AnyDesk Service", Manager: "scm", State: "running", Enabled: true, StartMode: "auto",
			Exe: `C:\Program Files (x86)\AnyDesk\AnyDesk.exe`, Command: `"C:\Program Files (x86)\AnyDesk\AnyDesk.exe" --service`,
			Username: "LocalSystem", Path: key + "AnyDesk"},
		{Name: "TeamViewer", DisplayName: "TeamViewer", Manager: "scm", State: "stopped", Enabled: true, StartMode: "auto",
			Exe: `C:\Program Files\TeamViewer\TeamViewer_Service.exe`, Command: `"C:\Program Files\TeamViewer\TeamViewer_Service.exe"`,
			Username: "LocalSystem", Path: key + "TeamViewer"},
		{Name: "TermService", DisplayName: "Remote Desktop Services", Manager: "scm", State: "running", StartMode: "manual",
			Exe: `C:\Windows\System32\svchost.exe`, Command: `C:\Windows\System32\svchost.exe -k NetworkService`,
			Username: `NT Authority\NetworkService`, Path: key + "TermService"},
		{Name: "WinRM", DisplayName: "Windows Remote Management (WS-Management)", Manager: "scm", State: "stopped", Enabled: true,
			StartMode: "manual", Exe: `C:\Windows\System32\svchost.exe`, Command: `C:\Windows\System32\svchost.exe -k NetworkService -p`,
			Username: `NT AUTHORITY\NetworkService`, Path: key + "WinRM"},
		{Name: "Spooler", DisplayName: "Print Spooler", Manager: "scm", State: "running", Path: key + "Spooler"},
	}
	if diff := cmp.Diff(want, scmServices(recs), protocmp.Transform()); diff != "" {
		t.Errorf("scmServices (-want +got):\n%s", diff)
	}
}

func TestRDPSetting(t *testing.T) {
	u := func(v uint32) *uint32 { return &v }
	tests := []struct {
		name string
		in   string // api/rdp.json
		want *fwv1.Service
	}{
		{"allowed", `{"deny_ts_connections": 0, "policy_deny_ts_connections": null}`,
			&fwv1.Service{Name: "rdp", DisplayName: "Remote Desktop", Manager: "setting", Enabled: true, Path: rdpKey}},
		{"denied", `{"deny_ts_connections": 1}`,
			&fwv1.Service{Name: "rdp", DisplayName: "Remote Desktop", Manager: "setting", Path: rdpKey}},
		{"policy denies", `{"deny_ts_connections": 0, "policy_deny_ts_connections": 1}`,
			&fwv1.Service{Name: "rdp", DisplayName: "Remote Desktop", Manager: "setting", Path: rdpPolicyKey}},
		{"policy allows", `{"deny_ts_connections": 1, "policy_deny_ts_connections": 0}`,
			&fwv1.Service{Name: "rdp", DisplayName: "Remote Desktop", Manager: "setting", Enabled: true, Path: rdpPolicyKey}},
		{"no values: Windows' default refuses", `{"deny_ts_connections": null, "policy_deny_ts_connections": null}`,
			&fwv1.Service{Name: "rdp", DisplayName: "Remote Desktop", Manager: "setting", Path: rdpKey}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var r rdpRecord
			if err := json.Unmarshal([]byte(tt.in), &r); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, rdpSetting(r), protocmp.Transform()); diff != "" {
				t.Errorf("rdpSetting (-want +got):\n%s", diff)
			}
		})
	}
	// The record as liveRDP returns it encodes to the documented form.
	b, err := json.Marshal(rdpRecord{DenyTSConnections: u(0)})
	if err != nil || string(b) != `{"deny_ts_connections":0,"policy_deny_ts_connections":null}` {
		t.Errorf("rdp.json = %s, %v", b, err)
	}
}

func TestSCMNames(t *testing.T) {
	starts := []string{"boot", "system", "auto", "manual", "disabled", "5"}
	for i, want := range starts {
		if got := scmStartType(uint32(i)); got != want {
			t.Errorf("scmStartType(%d) = %q, want %q", i, got, want)
		}
	}
	states := []string{"0", "stopped", "start_pending", "stop_pending", "running", "continue_pending", "pause_pending", "paused", "8"}
	for i, want := range states {
		if got := scmState(uint32(i)); got != want {
			t.Errorf("scmState(%d) = %q, want %q", i, got, want)
		}
	}
}

func windowsSnapshot(t *testing.T, apis map[string]string) *host.Host {
	t.Helper()
	s := &host.Snapshot{Meta: host.Meta{OS: "windows", Hostname: "pc"}, APIs: map[string][]byte{}}
	for k, v := range apis {
		s.APIs[k] = []byte(v)
	}
	h, err := s.Host()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	return h
}

func TestListServicesWindows(t *testing.T) {
	h := windowsSnapshot(t, map[string]string{"services": servicesJSON, "rdp": `{"deny_ts_connections": 0}`})
	got, err := listServices(context.Background(), h)
	if err != nil {
		t.Fatalf("listServices: %v", err)
	}
	var names []string
	for _, s := range got {
		names = append(names, s.Manager+"/"+s.Name)
	}
	want := "scm/AnyDesk scm/Spooler scm/TeamViewer scm/TermService scm/WinRM setting/rdp"
	if strings.Join(names, " ") != want {
		t.Errorf("services %v, want %s", names, want)
	}
	if rdp := got[len(got)-1]; !rdp.Enabled {
		t.Errorf("rdp = %v, want enabled", rdp)
	}
}

// Without api/rdp.json the setting is unknown and left out; without
// api/services.json the services are an error, and the setting stays.
func TestListServicesWindowsPartial(t *testing.T) {
	got, err := listServices(context.Background(), windowsSnapshot(t, map[string]string{"services": servicesJSON}))
	if err != nil || len(got) != 5 {
		t.Errorf("without rdp.json: %d services, %v; want 5, no error", len(got), err)
	}
	got, err = listServices(context.Background(), windowsSnapshot(t, map[string]string{"rdp": `{"deny_ts_connections": 1}`}))
	if !errors.Is(err, host.ErrNotRecorded) || len(got) != 1 || got[0].Name != "rdp" {
		t.Errorf("without services.json: %v, %v; want the rdp setting and ErrNotRecorded", got, err)
	}
	got, err = listServices(context.Background(), windowsSnapshot(t, map[string]string{"services": `{"not": "a list"}`}))
	if err == nil || len(got) != 0 {
		t.Errorf("bad services.json: %v, %v; want an error", got, err)
	}
}

func FuzzExeFromBinaryPath(f *testing.F) {
	for _, tt := range binaryPathTests {
		f.Add(tt.in)
	}
	f.Fuzz(func(t *testing.T, s string) {
		exe := exeFromBinaryPath(s)
		if len(exe) > len(s) || !strings.Contains(s, exe) {
			t.Fatalf("exeFromBinaryPath(%q) = %q: longer than its input, or not from it", s, exe)
		}
		// A quoted path is taken whole, whatever it holds and follows it.
		p := strings.TrimSpace(strings.ReplaceAll(s, `"`, ""))
		if strings.HasPrefix(p, `\??\`) || strings.HasPrefix(p, `\\?\`) {
			return
		}
		if got := exeFromBinaryPath(`"` + p + `" -k ` + s); got != p {
			t.Fatalf("exeFromBinaryPath of the quoted %q = %q", p, got)
		}
	})
}

func FuzzSCMRecords(f *testing.F) {
	f.Add([]byte(servicesJSON))
	f.Add([]byte(`[]`))
	f.Add([]byte(`[{"name":"x","start_type":"manual","triggers":-1,"state":"8"}]`))
	f.Add([]byte(`{"deny_ts_connections":0,"policy_deny_ts_connections":1}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		var recs []scmRecord
		if json.Unmarshal(b, &recs) == nil {
			svcs := scmServices(recs)
			if len(svcs) > len(recs) {
				t.Fatalf("%d services from %d records", len(svcs), len(recs))
			}
			for _, s := range svcs {
				if s.Name == "" || s.Manager != "scm" || (!s.Enabled && s.State != "running") {
					t.Fatalf("service %v", s)
				}
				if s.Path != servicesKey+`\`+s.Name || s.Exe != exeFromBinaryPath(s.Command) || s.State != "" && s.State != "stopped" && s.State != "running" {
					t.Fatalf("service %v: path, executable or state", s)
				}
			}
		}
		var r rdpRecord
		if json.Unmarshal(b, &r) == nil {
			s := rdpSetting(r)
			deny := r.DenyTSConnections
			if r.PolicyDenyTSConnections != nil {
				deny = r.PolicyDenyTSConnections
			}
			if s.Name != "rdp" || s.Manager != "setting" || s.Enabled != (deny != nil && *deny == 0) || (s.Path == rdpPolicyKey) != (r.PolicyDenyTSConnections != nil) {
				t.Fatalf("rdp %v from %+v", s, r)
			}
		}
	})
}
