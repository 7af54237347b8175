//go:build windows

package remoteaccess

import (
	"context"
	"errors"
	"fmt"
	"unsafe"

	"golang.org/x/sys/windows"
	"golang.org/x/sys/windows/registry"
)

// liveServices enumerates the Win32 services (EnumServicesStatusEx) and
// reads each one's configuration (QueryServiceConfig, QueryServiceConfig2
// for the delayed start and the triggers). It asks only for the rights to
// enumerate and to query, which every user has, rather than the full
// access of svc/mgr's Connect and OpenService, which needs an
// administrator. A service whose configuration cannot be read is kept with
// what the enumeration said and the error.
func liveServices(ctx context.Context) (any, error) {
	m, err := windows.OpenSCManager(nil, nil, windows.SC_MANAGER_CONNECT|windows.SC_MANAGER_ENUMERATE_SERVICE)
	if err != nil {
		return nil, fmt.Errorf("open the service control manager: %w", err)
	}
	defer windows.CloseServiceHandle(m)
	ents, err := enumServices(m)
	if err != nil {
		return nil, fmt.Errorf("enumerate services: %w", err)
	}
	out := make([]scmRecord, 0, len(ents))
	for i, e := range ents {
		if i%32 == 0 && ctx.Err() != nil {
			return nil, ctx.Err()
		}
		st := e.ServiceStatusProcess
		r := scmRecord{
			Name:        windows.UTF16PtrToString(e.ServiceName),
			DisplayName: windows.UTF16PtrToString(e.DisplayName),
			State:       scmState(st.CurrentState),
			Pid:         st.ProcessId,
			ServiceType: st.ServiceType,
		}
		if err := queryConfig(m, &r); err != nil {
			r.Error = err.Error()
		}
		out = append(out, r)
	}
	return out, nil
}

// enumServices returns every Win32 service with its status. The entries
// and the strings they point to live in one buffer that the slice keeps.
func enumServices(m windows.Handle) ([]windows.ENUM_SERVICE_STATUS_PROCESS, error) {
	var (
		buf           []byte
		needed, count uint32
	)
	for {
		var p *byte
		if len(buf) > 0 {
			p = &buf[0]
		}
		err := windows.EnumServicesStatusEx(m, windows.SC_ENUM_PROCESS_INFO, windows.SERVICE_WIN32,
			windows.SERVICE_STATE_ALL, p, uint32(len(buf)), &needed, &count, nil, nil)
		if err == nil {
			break
		}
		if !errors.Is(err, windows.ERROR_MORE_DATA) || needed <= uint32(len(buf)) {
			return nil, err
		}
		buf = make([]byte, needed)
	}
	if count == 0 {
		return nil, nil
	}
	return unsafe.Slice((*windows.ENUM_SERVICE_STATUS_PROCESS)(unsafe.Pointer(&buf[0])), int(count)), nil
}

// queryConfig fills in the configuration of one service.
func queryConfig(m windows.Handle, r *scmRecord) error {
	name, err := windows.UTF16PtrFromString(r.Name)
	if err != nil {
		return err
	}
	h, err := windows.OpenService(m, name, windows.SERVICE_QUERY_CONFIG)
	if err != nil {
		return fmt.Errorf("open service: %w", err)
	}
	defer windows.CloseServiceHandle(h)
	n := uint32(1024)
	var b []byte
	for {
		b = make([]byte, n)
		err := windows.QueryServiceConfig(h, (*windows.QUERY_SERVICE_CONFIG)(unsafe.Pointer(&b[0])), n, &n)
		if err == nil {
			break
		}
		if !errors.Is(err, windows.ERROR_INSUFFICIENT_BUFFER) || n <= uint32(len(b)) {
			return fmt.Errorf("query configuration: %w", err)
		}
	}
	c := (*windows.QUERY_SERVICE_CONFIG)(unsafe.Pointer(&b[0]))
	r.BinaryPathName = windows.UTF16PtrToString(c.BinaryPathName)
	r.ServiceStartName = windows.UTF16PtrToString(c.ServiceStartName)
	r.StartType = scmStartType(c.StartType)
	if r.DisplayName == "" {
		r.DisplayName = windows.UTF16PtrToString(c.DisplayName)
	}
	// Both are optional: an older Windows, or a service without them.
	if c.StartType == windows.SERVICE_AUTO_START {
		if d, err := queryConfig2(h, windows.SERVICE_CONFIG_DELAYED_AUTO_START_INFO); err == nil && len(d) >= 4 {
			r.DelayedAutoStart = *(*uint32)(unsafe.Pointer(&d[0])) != 0
		}
	}
	if t, err := queryConfig2(h, windows.SERVICE_CONFIG_TRIGGER_INFO); err == nil && len(t) >= 4 {
		// SERVICE_TRIGGER_INFO starts with cTriggers.
		r.Triggers = int(*(*uint32)(unsafe.Pointer(&t[0])))
	}
	return nil
}

func queryConfig2(h windows.Handle, level uint32) ([]byte, error) {
	n := uint32(256)
	for {
		b := make([]byte, n)
		err := windows.QueryServiceConfig2(h, level, &b[0], n, &n)
		if err == nil {
			return b, nil
		}
		if !errors.Is(err, windows.ERROR_INSUFFICIENT_BUFFER) || n <= uint32(len(b)) {
			return nil, err
		}
	}
}

// liveRDP reads fDenyTSConnections from the Terminal Server key and from
// its policy key, each nil when absent.
func liveRDP(context.Context) (any, error) {
	var (
		r   rdpRecord
		err error
	)
	if r.DenyTSConnections, err = readDWORD(`SYSTEM\CurrentControlSet\Control\Terminal Server`, "fDenyTSConnections"); err != nil {
		return nil, err
	}
	if r.PolicyDenyTSConnections, err = readDWORD(`SOFTWARE\Policies\Microsoft\Windows NT\Terminal Services`, "fDenyTSConnections"); err != nil {
		return nil, err
	}
	return r, nil
}

// readDWORD reads an integer value under HKLM (the 64-bit view), nil when
// the key or the value does not exist.
func readDWORD(key, value string) (*uint32, error) {
	k, err := registry.OpenKey(registry.LOCAL_MACHINE, key, registry.QUERY_VALUE|registry.WOW64_64KEY)
	if err != nil {
		if errors.Is(err, registry.ErrNotExist) {
			return nil, nil
		}
		return nil, fmt.Errorf(`open HKLM\%s: %w`, key, err)
	}
	defer k.Close()
	v, _, err := k.GetIntegerValue(value)
	if err != nil {
		if errors.Is(err, registry.ErrNotExist) {
			return nil, nil
		}
		return nil, fmt.Errorf(`read HKLM\%s\%s: %w`, key, value, err)
	}
	u := uint32(v)
	return &u, nil
}
