package process

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/farmwatch/farmwatch/agent/host"
	"github.com/google/go-cmp/cmp"
)

func TestParseStat(t *testing.T) {
	cases := []struct {
		in   string
		want Stat
		err  string
	}{
		{"1234 (anydesk) S 1 1234 1234 0 -1 4194560 1 0 0 0 0 0 0 0 20 0 3 0 987654 1000 100 18446744073709551615", Stat{Comm: "anydesk", State: 'S', PPid: 1, StartTicks: 987654}, ""},
		{"77 (tmux: server) S 1 77 77 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 55 0 0", Stat{Comm: "tmux: server", State: 'S', PPid: 1, StartTicks: 55}, ""},
		{"9 (a) b) (c) R 3 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 42 0 0", Stat{Comm: "a) b) (c", State: 'R', PPid: 3, StartTicks: 42}, ""},
		{"9 no parens", Stat{}, "no (comm)"},
		{"9 (x) S 1 2 3", Stat{}, "fields after comm"},
		{"9 (x) S z 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 42 0", Stat{}, "ppid"},
		{"9 (x) S 1 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 -4 0", Stat{}, "starttime"},
	}
	for _, c := range cases {
		got, err := ParseStat([]byte(c.in))
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("ParseStat(%q) err = %v, want %q", c.in, err, c.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("ParseStat(%q): %v", c.in, err)
			continue
		}
		if diff := cmp.Diff(c.want, got); diff != "" {
			t.Errorf("ParseStat(%q) (-want +got):\n%s", c.in, diff)
		}
	}
}

func TestParseStatusUID(t *testing.T) {
	cases := []struct {
		in  string
		uid uint32
		ok  bool
	}{
		{"Name:\tbash\nUmask:\t0022\nState:\tS (sleeping)\nUid:\t1000\t1000\t1000\t1000\nGid:\t1000\n", 1000, true},
		{"Uid:\t0\t0\t0\t0\n", 0, true},
		{"Name:\tx\nGid:\t1\n", 0, false},
		{"Name:\tx\nUid:\n", 0, false},
		{"Name:\tx\nUid:\tabc\n", 0, false},
	}
	for _, c := range cases {
		uid, ok := ParseStatusUID([]byte(c.in))
		if uid != c.uid || ok != c.ok {
			t.Errorf("ParseStatusUID(%q) = %d, %v; want %d, %v", c.in, uid, ok, c.uid, c.ok)
		}
	}
}

func TestParseCmdline(t *testing.T) {
	cases := []struct {
		in   string
		want []string
	}{
		{"/usr/bin/anydesk\x00--tray\x00", []string{"/usr/bin/anydesk", "--tray"}},
		{"sshd: alice [priv]", []string{"sshd: alice [priv]"}},
		{"", nil},
		{"\x00\x00", nil},
		{"a\x00\x00b\x00", []string{"a", "", "b"}},
	}
	for _, c := range cases {
		if diff := cmp.Diff(c.want, ParseCmdline([]byte(c.in))); diff != "" {
			t.Errorf("ParseCmdline(%q):\n%s", c.in, diff)
		}
	}
}

func TestParsePasswd(t *testing.T) {
	in := "root:x:0:0:root:/root:/bin/bash\n# comment\nbad line\nalice:x:1000:1000::/home/alice:/bin/bash\ntoor:x:0:0::/:/bin/sh\nbob:x:notanumber:1::/:/bin/sh\n"
	want := map[uint32]string{0: "root", 1000: "alice"}
	if diff := cmp.Diff(want, ParsePasswd([]byte(in))); diff != "" {
		t.Error(diff)
	}
}

func TestParseBootTime(t *testing.T) {
	if got := ParseBootTime([]byte("cpu  1 2 3\nbtime 1764316800\nprocesses 5\n")); got != 1764316800 {
		t.Errorf("btime = %d", got)
	}
	if got := ParseBootTime([]byte("cpu 1\n")); got != 0 {
		t.Errorf("btime = %d, want 0", got)
	}
}

func TestWidenComm(t *testing.T) {
	cases := []struct{ comm, exe, arg0, want string }{
		{"anydesk", "/usr/bin/anydesk", "", "anydesk"},
		{"TeamViewer_Serv", "/opt/teamviewer/tv_bin/TeamViewer_Service", "", "TeamViewer_Service"},
		{"chrome-remote-d", "", "/opt/google/chrome-remote-desktop/chrome-remote-desktop-host", "chrome-remote-desktop-host"},
		{"abcdefghijklmno", "/bin/other", "", "abcdefghijklmno"},
	}
	for _, c := range cases {
		var args []string
		if c.arg0 != "" {
			args = []string{c.arg0}
		}
		if got := widenComm(c.comm, c.exe, args); got != c.want {
			t.Errorf("widenComm(%q) = %q, want %q", c.comm, got, c.want)
		}
	}
}

func TestParseInfoPlist(t *testing.T) {
	xml := `<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
<plist version="1.0"><dict>
<key>CFBundleExecutable</key><string>TeamViewer</string>
<key>CFBundleIdentifier</key><string>com.teamviewer.TeamViewer</string>
<key>CFBundleName</key><string>TeamViewer</string>
</dict></plist>`
	b, err := ParseInfoPlist([]byte(xml))
	if err != nil || b.ID != "com.teamviewer.TeamViewer" || b.Name != "TeamViewer" {
		t.Fatalf("= %+v, %v", b, err)
	}
	if _, err := ParseInfoPlist([]byte("<plist><dict></dict></plist>")); err == nil {
		t.Fatal("empty plist accepted")
	}
	if _, err := ParseInfoPlist([]byte("\x00garbage")); err == nil {
		t.Fatal("garbage accepted")
	}
}

func TestAppBundle(t *testing.T) {
	cases := map[string]string{
		"/Applications/TeamViewer.app/Contents/MacOS/TeamViewer":                    "/Applications/TeamViewer.app",
		"/Applications/TeamViewer.app/Contents/Helpers/Assist.app/Contents/MacOS/x": "/Applications/TeamViewer.app/Contents/Helpers/Assist.app",
		"/usr/local/bin/x": "",
		"relative/A.app/x": "",
		"/Library/PrivilegedHelperTools/org.chromium.chromoting.me2me_host.app/Contents/MacOS/remoting_me2me_host": "/Library/PrivilegedHelperTools/org.chromium.chromoting.me2me_host.app",
	}
	for in, want := range cases {
		if got := appBundle(in); got != want {
			t.Errorf("appBundle(%q) = %q, want %q", in, got, want)
		}
	}
}

// readLinux on a --root tree: users, start time, parent names, kernel
// threads skipped, a process that vanished mid-read skipped.
func TestListLinuxRoot(t *testing.T) {
	dir := t.TempDir()
	w := func(p, s string) {
		fp := filepath.Join(dir, p)
		os.MkdirAll(filepath.Dir(fp), 0o755)
		if err := os.WriteFile(fp, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	w("snapshot.json", `{"os":"linux","hostname":"box","captured":"2026-11-28T10:00:00Z"}`)
	w("proc/stat", "cpu 1\nbtime 1764316800\n")
	w("etc/passwd", "root:x:0:0::/root:/bin/sh\nalice:x:1000:1000::/home/alice:/bin/sh\n")
	w("proc/1/stat", "1 (systemd) S 0 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 1 0 0")
	w("proc/1/status", "Name:\tsystemd\nUid:\t0\t0\t0\t0\n")
	w("proc/1/cmdline", "/sbin/init\x00")
	w("proc/2/stat", "2 (kthreadd) S 0 0 0 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 1 0 0")
	w("proc/3/stat", "3 (kworker/0:0) I 2 0 0 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 1 0 0")
	w("proc/4242/stat", "4242 (anydesk) S 1 4242 4242 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 12345 0 0")
	w("proc/4242/status", "Name:\tanydesk\nUid:\t1000\t1000\t1000\t1000\n")
	w("proc/4242/cmdline", "/usr/bin/anydesk\x00--tray\x00")
	os.Symlink("/usr/bin/anydesk", filepath.Join(dir, "proc/4242/exe"))
	os.MkdirAll(filepath.Join(dir, "proc/5000"), 0o755) // exited: no stat
	h, err := host.FromRoot(dir)
	if err != nil {
		t.Fatal(err)
	}
	ps, err := List(context.Background(), h)
	if err != nil {
		t.Fatal(err)
	}
	if len(ps) != 2 {
		t.Fatalf("got %d processes, want 2: %v", len(ps), ps)
	}
	a := ps[1]
	if a.Name != "anydesk" || a.Exe != "/usr/bin/anydesk" || a.ExeName != "anydesk" || a.Username != "alice" || a.ParentName != "systemd" || a.Cmdline != "/usr/bin/anydesk --tray" {
		t.Fatalf("anydesk = %v", a)
	}
	if got, want := a.StartTime.AsTime().Unix(), int64(1764316800+123); got != want {
		t.Fatalf("start = %d, want %d", got, want)
	}
	if k := Key(a); k != "process/4242@1764316923450" {
		t.Fatalf("key = %s", k)
	}
}

func FuzzParseStat(f *testing.F) {
	f.Add([]byte("1234 (anydesk) S 1 1234 1234 0 -1 4194560 1 0 0 0 0 0 0 0 20 0 3 0 987654 1000 100"))
	f.Add([]byte("9 (a) b) (c) R 3 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 42 0 0"))
	f.Add([]byte(")("))
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := ParseStat(b)
		if err == nil && !bytes.Contains(b, []byte("("+s.Comm+")")) {
			t.Fatalf("comm %q is not in parentheses in the input", s.Comm)
		}
		// Whatever a process names itself, its stat line gives the name back.
		line := []byte("4242 (" + string(b) + ") R 17 4242 4242 0 -1 4194560 1 0 0 0 0 0 0 0 20 0 3 0 987654 1000 100")
		s, err = ParseStat(line)
		if err != nil || s != (Stat{Comm: string(b), State: 'R', PPid: 17, StartTicks: 987654}) {
			t.Fatalf("ParseStat(%q) = %+v, %v", line, s, err)
		}
	})
}

func FuzzParseStatus(f *testing.F) {
	f.Add([]byte("Name:\tbash\nUid:\t1000\t1000\t1000\t1000\n"))
	f.Add([]byte("Uid:"))
	f.Add([]byte("root:x:0:0:root:/root:/bin/bash\n:x:5:5::/:/bin/sh\n#x:y:6:\nbtime 1795860000\n"))
	f.Add([]byte("/usr/bin/anydesk\x00--service\x00\x00"))
	f.Fuzz(func(t *testing.T, b []byte) {
		if uid, ok := ParseStatusUID(b); ok && !bytes.Contains(b, []byte(strconv.FormatUint(uint64(uid), 10))) {
			t.Fatalf("uid %d is not in the input", uid)
		}
		status := append([]byte("Name:\t"+strings.ReplaceAll(string(b), "\n", " ")+"\nUid:\t1001\t1001\t1001\t1001\n"), b...)
		if uid, ok := ParseStatusUID(status); !ok || uid != 1001 {
			t.Fatalf("ParseStatusUID(%q) = %d, %v; want the first Uid line's 1001", status, uid, ok)
		}
		for uid, name := range ParsePasswd(b) {
			if name == "" || strings.ContainsAny(name, ":\n") || !bytes.Contains(b, []byte(name+":")) {
				t.Fatalf("uid %d: name %q", uid, name)
			}
		}
		if bt := ParseBootTime(b); bt != 0 && !bytes.Contains(b, []byte("btime ")) {
			t.Fatalf("boot time %d without a btime line", bt)
		}
		args := ParseCmdline(b)
		for _, a := range args {
			if strings.IndexByte(a, 0) >= 0 {
				t.Fatalf("argument %q holds a NUL", a)
			}
		}
		if got, want := strings.Join(args, "\x00"), string(bytes.TrimRight(b, "\x00")); got != want {
			t.Fatalf("ParseCmdline(%q) = %q: joined %q, want %q", b, args, got, want)
		}
	})
}

func FuzzParseInfoPlist(f *testing.F) {
	f.Add([]byte(`<plist version="1.0"><dict><key>CFBundleIdentifier</key><string>x</string></dict></plist>`))
	f.Add([]byte("bplist00"))
	f.Add([]byte(`{CFBundleIdentifier = "com.x";}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		bi, err := ParseInfoPlist(b)
		if err != nil {
			return
		}
		if bi.ID == "" && bi.Name == "" {
			t.Fatalf("ParseInfoPlist(%q): neither an identifier nor a name, and no error", b)
		}
		if again, err := ParseInfoPlist(b); err != nil || *again != *bi {
			t.Fatalf("parsing twice: %+v, then %+v, %v", bi, again, err)
		}
	})
}

// TestGone: a process that exits between the listing of /proc and the
// reading of its files is skipped, whichever of the two errors the kernel
// gives; any other error is not taken for an exit.
func TestGone(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want bool
	}{
		{&fs.PathError{Op: "open", Path: "/proc/7/stat", Err: syscall.ENOENT}, true},
		{&fs.PathError{Op: "read", Path: "/proc/7/stat", Err: syscall.ESRCH}, true},
		{fmt.Errorf("read /proc/7/cmdline: %w", syscall.ESRCH), true},
		{&fs.PathError{Op: "open", Path: "/proc/7/stat", Err: syscall.EACCES}, false},
		{errors.New("no (comm)"), false},
	} {
		if got := gone(tc.err); got != tc.want {
			t.Errorf("gone(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
}
