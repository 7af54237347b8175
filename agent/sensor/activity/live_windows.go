//go:build windows

package activity

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/windows"
)

var (
	user32                         = windows.NewLazySystemDLL("user32.dll")
	kernel32                       = windows.NewLazySystemDLL("kernel32.dll")
	wtsapi32                       = windows.NewLazySystemDLL("wtsapi32.dll")
	procGetLastInputInfo           = user32.NewProc("GetLastInputInfo")
	procGetTickCount               = kernel32.NewProc("GetTickCount")
	procWTSQuerySessionInformation = wtsapi32.NewProc("WTSQuerySessionInformationW")
)

const (
	noConsoleSession = 0xFFFFFFFF
	wtsUserName      = 5 // WTS_INFO_CLASS WTSUserName
	helperTimeout    = 5 * time.Second
)

// ProbeCommand is the agent's subcommand that a service starts in the
// console user's session: it prints that session's idle time.
const ProbeCommand = "activity-probe"

// Probe returns the idle time of the session this process runs in
// (GetLastInputInfo), as the helper prints it: "idle_ms N".
func Probe() (string, error) {
	idle, err := lastInputIdle()
	if err != nil {
		return "", err
	}
	return "idle_ms " + strconv.FormatInt(idle.Milliseconds(), 10) + "\n", nil
}

// lastInputIdle is GetTickCount - GetLastInputInfo's tick, for the calling
// session (the 32-bit tick wraps every 49.7 days; the difference does not
// mind).
func lastInputIdle() (time.Duration, error) {
	var lii struct {
		Size uint32
		Time uint32
	}
	lii.Size = uint32(unsafe.Sizeof(lii))
	if r, _, err := procGetLastInputInfo.Call(uintptr(unsafe.Pointer(&lii))); r == 0 {
		return 0, fmt.Errorf("GetLastInputInfo: %w", err)
	}
	now, _, _ := procGetTickCount.Call()
	return time.Duration(uint32(now)-lii.Time) * time.Millisecond, nil
}

// sessionUser is the user name of a session ("" when nobody is logged on).
func sessionUser(id uint32) string {
	var buf *uint16
	var n uint32
	r, _, _ := procWTSQuerySessionInformation.Call(0, uintptr(id), wtsUserName, uintptr(unsafe.Pointer(&buf)), uintptr(unsafe.Pointer(&n)))
	if r == 0 || buf == nil {
		return ""
	}
	defer windows.WTSFreeMemory(uintptr(unsafe.Pointer(buf)))
	return windows.UTF16PtrToString(buf)
}

// liveActivity reads the console's input time. GetLastInputInfo answers
// for the caller's session: in the console session (a helpdesk scan run by
// the user) it is read at once; a service (session 0) starts this binary
// in the console user's session with their token (WTSQueryUserToken, which
// only SYSTEM may call) and reads what it prints. The WTS session
// information of the console gives no idle time: its LastInputTime is
// that of a Remote Desktop session.
func liveActivity(ctx context.Context) (any, error) {
	r := Record{ConsoleSession: -1, IdleMS: -1}
	cs := windows.WTSGetActiveConsoleSessionId()
	if cs == noConsoleSession {
		return r, nil
	}
	r.ConsoleSession = int64(cs)
	if r.User = sessionUser(cs); r.User == "" {
		return r, nil
	}
	var mine uint32
	if err := windows.ProcessIdToSessionId(windows.GetCurrentProcessId(), &mine); err == nil && mine == cs {
		r.Method = "in_session"
		idle, err := lastInputIdle()
		if err != nil {
			r.Error = err.Error()
			return r, nil
		}
		r.IdleMS = idle.Milliseconds()
		return r, nil
	}
	r.Method = "helper"
	var tok windows.Token
	if err := windows.WTSQueryUserToken(cs, &tok); err != nil {
		r.Error = "WTSQueryUserToken: " + err.Error() + " (only a service running as SYSTEM may ask)"
		return r, nil
	}
	defer tok.Close()
	exe, err := os.Executable()
	if err != nil {
		r.Error = err.Error()
		return r, nil
	}
	ctx, cancel := context.WithTimeout(ctx, helperTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, exe, ProbeCommand)
	cmd.SysProcAttr = &syscall.SysProcAttr{Token: syscall.Token(tok), HideWindow: true, CreationFlags: windows.CREATE_NO_WINDOW}
	out, err := cmd.Output()
	if err != nil {
		r.Error = "helper in session " + strconv.Itoa(int(cs)) + ": " + err.Error()
		return r, nil
	}
	ms, ok := strings.CutPrefix(strings.TrimSpace(string(out)), "idle_ms ")
	n, err := strconv.ParseInt(ms, 10, 64)
	if !ok || err != nil || n < 0 {
		r.Error = fmt.Sprintf("helper printed %q", out)
		return r, nil
	}
	r.IdleMS = n
	return r, nil
}
