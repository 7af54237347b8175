package remoteaccess

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/farmwatch/farmwatch/agent/host"
	fwv1 "github.com/farmwatch/farmwatch/proto/farmwatch/v1"
)

// scmRecord is one Windows service as recorded in api/services.json. The
// format is a public snapshot interface: API.md documents it.
type scmRecord struct {
	Name             string `json:"name"`
	DisplayName      string `json:"display_name,omitempty"`
	BinaryPathName   string `json:"binary_path_name,omitempty"`
	StartType        string `json:"start_type,omitempty"` // boot, system, auto, manual, disabled
	DelayedAutoStart bool   `json:"delayed_auto_start,omitempty"`
	Triggers         int    `json:"triggers,omitempty"` // start or stop triggers configured
	ServiceStartName string `json:"service_start_name,omitempty"`
	State            string `json:"state,omitempty"` // stopped, start_pending, stop_pending, running, continue_pending, pause_pending, paused
	Pid              uint32 `json:"pid,omitempty"`
	ServiceType      uint32 `json:"service_type,omitempty"`
	Error            string `json:"error,omitempty"` // why the configuration could not be read
}

// rdpRecord is the Remote Desktop setting as recorded in api/rdp.json
// (API.md): the fDenyTSConnections values, null where there is none.
type rdpRecord struct {
	DenyTSConnections       *uint32 `json:"deny_ts_connections"`        // under rdpKey
	PolicyDenyTSConnections *uint32 `json:"policy_deny_ts_connections"` // under rdpPolicyKey, which wins when set
}

const (
	servicesKey  = `HKLM\SYSTEM\CurrentControlSet\Services`
	rdpKey       = `HKLM\SYSTEM\CurrentControlSet\Control\Terminal Server`
	rdpPolicyKey = `HKLM\SOFTWARE\Policies\Microsoft\Windows NT\Terminal Services`
)

// readWindows lists the Windows services and the RDP setting; listServices says
// exactly what. The service list is required; the RDP setting is left out
// when a snapshot does not hold it.
func readWindows(ctx context.Context, h *host.Host) ([]*fwv1.Service, error) {
	var (
		out  []*fwv1.Service
		errs []error
	)
	var recs []scmRecord
	if err := h.API(ctx, "services", &recs, liveServices); err != nil {
		errs = append(errs, fmt.Errorf("list services: %w", err))
	} else {
		out = scmServices(recs)
	}
	var rdp rdpRecord
	if err := h.API(ctx, "rdp", &rdp, liveRDP); err == nil {
		out = append(out, rdpSetting(rdp))
	} else if !unknown(err) {
		errs = append(errs, fmt.Errorf("remote desktop setting: %w", err))
	}
	return out, errors.Join(errs...)
}

// scmServices makes the observations of the services that run or start on
// their own: automatic, boot and system start, and manual start with a
// trigger. Services that are stopped and start only when asked are left
// out; api/services.json still holds them.
func scmServices(recs []scmRecord) []*fwv1.Service {
	out := make([]*fwv1.Service, 0, len(recs))
	for _, r := range recs {
		if r.Name == "" {
			continue
		}
		enabled := false
		switch r.StartType {
		case "boot", "system", "auto":
			enabled = true
		case "manual":
			enabled = r.Triggers > 0
		}
		state := ""
		switch r.State {
		case "":
		case "stopped":
			state = "stopped"
		default: // running, paused or on the way: its process exists
			state = "running"
		}
		if !enabled && state != "running" {
			continue
		}
		out = append(out, &fwv1.Service{
			Name:        r.Name,
			DisplayName: r.DisplayName,
			Manager:     "scm",
			State:       state,
			Enabled:     enabled,
			StartMode:   r.StartType,
			Exe:         exeFromBinaryPath(r.BinaryPathName),
			Command:     r.BinaryPathName,
			Username:    r.ServiceStartName,
			Path:        servicesKey + `\` + r.Name,
		})
	}
	return out
}

// exeFromBinaryPath returns the executable of a service's BinaryPathName
// (the ImagePath that `sc qc` shows as BINARY_PATH_NAME):
//
//	"C:\Program Files (x86)\AnyDesk\AnyDesk.exe" --service  → the quoted path
//	C:\Windows\system32\svchost.exe -k netsvcs -p            → up to the first word ending in .exe
//	C:\Program Files\Vendor\svc.exe -x                       → an unquoted path with spaces, up to .exe
//	\??\C:\Tools\agent.exe                                   → the NT prefix dropped
//
// Without quotes or ".exe" it is the first word. Environment variables
// (%SystemRoot%) are kept as written.
func exeFromBinaryPath(bin string) string {
	s := strings.TrimSpace(bin)
	if s == "" {
		return ""
	}
	if s[0] == '"' {
		s = s[1:]
		if end := strings.IndexByte(s, '"'); end >= 0 {
			s = s[:end]
		}
		return dropNTPrefix(strings.TrimSpace(s))
	}
	for i := 0; i+4 <= len(s); i++ {
		// ASCII case folding only: strings.ToLower would change the length
		// of text that is not valid UTF-8.
		if s[i] == '.' && lowerASCII(s[i+1]) == 'e' && lowerASCII(s[i+2]) == 'x' && lowerASCII(s[i+3]) == 'e' {
			if end := i + 4; end == len(s) || s[end] == ' ' || s[end] == '\t' {
				return dropNTPrefix(s[:end])
			}
		}
	}
	if k := strings.IndexAny(s, " \t"); k >= 0 {
		s = s[:k]
	}
	return dropNTPrefix(s)
}

func lowerASCII(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

func dropNTPrefix(p string) string {
	for _, pre := range []string{`\??\`, `\\?\`} {
		if rest, ok := strings.CutPrefix(p, pre); ok {
			return rest
		}
	}
	return p
}

// rdpSetting is the Remote Desktop setting: on when fDenyTSConnections is 0.
// The policy value wins over the system one; with neither, Windows refuses
// connections.
func rdpSetting(r rdpRecord) *fwv1.Service {
	s := &fwv1.Service{Name: "rdp", DisplayName: "Remote Desktop", Manager: "setting", Path: rdpKey}
	deny := uint32(1)
	switch {
	case r.PolicyDenyTSConnections != nil:
		deny, s.Path = *r.PolicyDenyTSConnections, rdpPolicyKey
	case r.DenyTSConnections != nil:
		deny = *r.DenyTSConnections
	}
	s.Enabled = deny == 0
	return s
}

// scmStartType names a service start type (QUERY_SERVICE_CONFIG.dwStartType).
func scmStartType(t uint32) string {
	switch t {
	case 0:
		return "boot"
	case 1:
		return "system"
	case 2:
		return "auto"
	case 3:
		return "manual"
	case 4:
		return "disabled"
	}
	return strconv.FormatUint(uint64(t), 10)
}

// scmState names a service state (SERVICE_STATUS_PROCESS.dwCurrentState).
func scmState(s uint32) string {
	switch s {
	case 1:
		return "stopped"
	case 2:
		return "start_pending"
	case 3:
		return "stop_pending"
	case 4:
		return "running"
	case 5:
		return "continue_pending"
	case 6:
		return "pause_pending"
	case 7:
		return "paused"
	}
	return strconv.FormatUint(uint64(s), 10)
}
