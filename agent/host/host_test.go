package host

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestSnapshotRoundTrip(t *testing.T) {
	dir := t.TempDir()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.MkdirAll(filepath.Join(dir, "proc/7"), 0o755))
	must(os.WriteFile(filepath.Join(dir, "proc/7/cmdline"), []byte("anydesk\x00--tray\x00"), 0o644))
	must(os.WriteFile(filepath.Join(dir, "proc/7/comm"), []byte("anydesk\n"), 0o644))
	must(os.WriteFile(filepath.Join(dir, "weird"), []byte("a\n-- fake --\nb\n"), 0o644))
	must(os.Symlink("/usr/bin/anydesk", filepath.Join(dir, "proc/7/exe")))
	must(os.WriteFile(filepath.Join(dir, "snapshot.json"), []byte(`{"os":"linux","hostname":"box","captured":"2026-11-28T10:00:00Z"}`), 0o644))

	h, err := FromRoot(dir)
	must(err)
	h.Record()
	for _, p := range []string{"/proc/7/cmdline", "/proc/7/comm", "/weird"} {
		if _, err := h.ReadFile(p); err != nil {
			t.Fatal(err)
		}
	}
	if tgt, err := h.Readlink("/proc/7/exe"); err != nil || tgt != "/usr/bin/anydesk" {
		t.Fatalf("readlink = %q, %v", tgt, err)
	}
	var buf bytes.Buffer
	must(h.WriteSnapshot(&buf))
	text := buf.String()
	for _, want := range []string{"-- root/proc/7/cmdline (base64) --", "-- root/proc/7/comm --\nanydesk\n", "-- link/proc/7/exe (base64) --", "-- root/weird (base64) --"} {
		if !strings.Contains(text, want) {
			t.Errorf("snapshot lacks %q:\n%s", want, text)
		}
	}
	file := filepath.Join(t.TempDir(), "s.txtar")
	must(os.WriteFile(file, buf.Bytes(), 0o600))
	r, err := Open(file)
	must(err)
	defer r.Close()
	if r.OS() != "linux" || r.Hostname() != "box" || !r.Captured().Equal(time.Date(2026, 11, 28, 10, 0, 0, 0, time.UTC)) {
		t.Fatalf("meta: %s %s %v", r.OS(), r.Hostname(), r.Captured())
	}
	for p, want := range map[string]string{"/proc/7/cmdline": "anydesk\x00--tray\x00", "/proc/7/comm": "anydesk\n", "/weird": "a\n-- fake --\nb\n"} {
		b, err := r.ReadFile(p)
		if err != nil || string(b) != want {
			t.Errorf("replay %s = %q, %v; want %q", p, b, err, want)
		}
	}
	if tgt, err := r.Readlink("/proc/7/exe"); err != nil || tgt != "/usr/bin/anydesk" {
		t.Fatalf("replayed readlink = %q, %v", tgt, err)
	}
	ents, err := r.ReadDir("/proc/7")
	must(err)
	if len(ents) != 3 {
		t.Fatalf("readdir: %v", ents)
	}
	if _, err := r.ReadFile("/etc/passwd"); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("unrecorded file: %v", err)
	}
	if _, err := r.Run(context.Background(), Command{Name: "launchctl", Args: []string{"list"}}); err == nil {
		t.Fatal("a linux snapshot ran launchctl")
	}
}

// Names that txtar cannot hold as they are (trailing white space, which it
// trims, or the base64 suffix itself) survive Format and ParseSnapshot.
func TestFormatAwkwardNames(t *testing.T) {
	s := &Snapshot{
		Meta:  Meta{OS: "linux", Hostname: "h", Captured: time.Unix(0, 0).UTC()},
		Files: map[string][]byte{"/a ": []byte("x\n"), "/b (base64)": []byte("y\n"), "/c\t": {}},
		Links: map[string]string{"/d ": "/a "},
		Cmds:  map[string][]byte{"/bin/x ": []byte("out\n")},
		APIs:  map[string][]byte{},
	}
	out, err := s.Format()
	if err != nil {
		t.Fatal(err)
	}
	back, err := ParseSnapshot(out)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if diff := cmp.Diff(s, back); diff != "" {
		t.Errorf("round trip (-want +got):\n%s\n%s", diff, out)
	}
}

// A replayed tree's links resolve inside it, never on the machine replaying.
func TestReplayLinksStayInside(t *testing.T) {
	s := &Snapshot{
		Meta:  Meta{OS: "linux", Hostname: "h"},
		Files: map[string][]byte{"/usr/share/zoneinfo/Asia/Seoul": []byte("TZif-seoul\n")},
		Links: map[string]string{"/etc/localtime": "/usr/share/zoneinfo/Asia/Seoul", "/escape": "/etc/hostname", "/up": "../../../../etc"},
	}
	h, err := s.Host()
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	b, err := h.ReadFile("/etc/localtime")
	if err != nil || string(b) != "TZif-seoul\n" {
		t.Fatalf("read through link = %q, %v", b, err)
	}
	if b, err := h.ReadFile("/escape"); err == nil {
		t.Fatalf("read the replaying machine's /etc/hostname through a link: %q", b)
	}
	if b, err := h.ReadFile("/up/hostname"); err == nil {
		t.Fatalf("read outside the tree through a relative link: %q", b)
	}
}

func TestParseSnapshotErrors(t *testing.T) {
	meta := "-- snapshot.json --\n{\"os\":\"linux\",\"hostname\":\"h\",\"captured\":\"2026-11-28T10:00:00Z\"}\n"
	cases := []struct{ name, in, want string }{
		{"empty", "", "first entry must be snapshot.json"},
		{"no meta", "-- root/etc/x --\nx\n", "first entry must be snapshot.json"},
		{"bad json", "-- snapshot.json --\n{\n", "entry snapshot.json: bad JSON"},
		{"bad os", "-- snapshot.json --\n{\"os\":\"beos\",\"hostname\":\"h\"}\n", `os "beos"`},
		{"no hostname", "-- snapshot.json --\n{\"os\":\"linux\"}\n", "hostname is empty"},
		{"unknown key", "-- snapshot.json --\n{\"os\":\"linux\",\"hostname\":\"h\",\"x\":1}\n", "unknown field"},
		{"unknown kind", meta + "-- file/etc/x --\nx\n", `entry "file/etc/x": unknown kind`},
		{"dotdot", meta + "-- root/../etc/x --\nx\n", "absolute and clean"},
		{"dup", meta + "-- root/a --\nx\n-- root/a --\ny\n", "duplicate"},
		{"file and link", meta + "-- root/a --\nx\n-- link/a --\n/b\n", "recorded twice"},
		{"under a file", meta + "-- root/a --\nx\n-- root/a/b --\ny\n", "/a is recorded as a file"},
		{"under a link", meta + "-- link/a --\n/etc\n-- root/a/b --\ny\n", "/a is recorded as a link"},
		{"link under a file", meta + "-- root/a --\nx\n-- link/a/b --\n/c\n", `entry "link/a/b": /a is recorded as a file`},
		{"link under a link", meta + "-- link/a --\n/etc\n-- link/a/b --\n/c\n", `entry "link/a/b": /a is recorded as a link`},
		{"dup in base64", meta + "-- cmd/x --\nx\n-- cmd/x (base64) --\neQo=\n", `entry "cmd/x (base64)": duplicate`},
		{"api dup in base64", meta + "-- api/x.json --\n1\n-- api/x.json (base64) --\nMgo=\n", `entry "api/x.json (base64)": duplicate`},
		{"bad base64", meta + "-- root/a (base64) --\n!!!\n", "bad base64"},
		{"api not json", meta + "-- api/processes.json --\n[{\n", "not valid JSON"},
		{"api name", meta + "-- api/Proc esses.json --\n[]\n", "api entries are"},
		{"empty cmd", meta + "-- cmd/ --\nx\n", "empty command line"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := ParseSnapshot([]byte(c.in))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want it to contain %q", err, c.want)
			}
		})
	}
}

func TestCommandAllowList(t *testing.T) {
	var ran []string
	h := &Host{os: runtime.GOOS, live: true, run: func(_ context.Context, p string, args []string) ([]byte, error) {
		ran = append(ran, p+" "+strings.Join(args, " "))
		return []byte("ok\n"), nil
	}}
	if _, err := h.Run(context.Background(), Command{Name: "sh", Args: []string{"-c", "id"}}); err == nil || !strings.Contains(err.Error(), "not allowed") {
		t.Fatalf("ran a program outside the allow-list: %v", err)
	}
	h.os = "darwin"
	h.Record()
	out, err := h.Run(context.Background(), Command{Name: "launchctl", Args: []string{"print-disabled", "system"}})
	if err != nil || string(out) != "ok\n" {
		t.Fatalf("run = %q, %v", out, err)
	}
	if len(ran) != 1 || ran[0] != "/bin/launchctl print-disabled system" {
		t.Fatalf("ran %v; want the absolute path", ran)
	}
	if string(h.rec.files["cmd//bin/launchctl print-disabled system"]) != "ok\n" {
		t.Fatalf("not recorded: %v", h.rec.files)
	}
	// Not live: no command at all.
	h2 := &Host{os: "darwin"}
	if _, err := h2.Run(context.Background(), Command{Name: "launchctl"}); !errors.Is(err, ErrNotLive) {
		t.Fatalf("root host ran a command: %v", err)
	}
}

func TestAPIRecordReplay(t *testing.T) {
	h := &Host{os: runtime.GOOS, live: true}
	h.Record()
	type rec struct {
		Pid  int    `json:"pid"`
		Name string `json:"name"`
	}
	var got []rec
	err := h.API(context.Background(), "processes", &got, func(context.Context) (any, error) {
		return []rec{{1, "init"}}, nil
	})
	if err != nil || len(got) != 1 || got[0].Name != "init" {
		t.Fatalf("live api = %v, %v", got, err)
	}
	snap := &Snapshot{Meta: Meta{OS: "windows", Hostname: "w"}, APIs: map[string][]byte{"processes": h.rec.files["api/processes.json"]}}
	r, err := snap.Host()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	got = nil
	err = r.API(context.Background(), "processes", &got, func(context.Context) (any, error) {
		t.Fatal("replay called the live API")
		return nil, nil
	})
	if err != nil || len(got) != 1 || got[0].Pid != 1 {
		t.Fatalf("replayed api = %v, %v", got, err)
	}
	if err := r.API(context.Background(), "services", &got, nil); !errors.Is(err, ErrNotRecorded) {
		t.Fatalf("missing api: %v", err)
	}
	if err := r.API(context.Background(), "../x", &got, nil); err == nil {
		t.Fatal("bad api name accepted")
	}
}

func TestFromRootErrors(t *testing.T) {
	if _, err := FromRoot(filepath.Join(t.TempDir(), "nope")); err == nil || !strings.Contains(err.Error(), "nope") {
		t.Fatalf("missing root: %v", err)
	}
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "snapshot.json"), []byte(`{"os":"plan9","hostname":"x"}`), 0o644)
	if _, err := FromRoot(dir); err == nil || !strings.Contains(err.Error(), "snapshot.json") {
		t.Fatalf("bad snapshot.json: %v", err)
	}
	if _, err := Open(filepath.Join(dir, "missing.txtar")); err == nil || !strings.Contains(err.Error(), "missing.txtar") {
		t.Fatalf("missing snapshot: %v", err)
	}
}

func TestRename(t *testing.T) {
	live, err := Live()
	if err != nil {
		t.Fatal(err)
	}
	if err := live.Rename("other"); err == nil {
		t.Fatal("the live host was renamed")
	}
	h, err := Open("../../testdata/hosts/linux-clean.txtar")
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	if err := h.Rename(""); err == nil {
		t.Fatal("renamed to nothing")
	}
	if err := h.Rename("sim-7"); err != nil || h.Hostname() != "sim-7" || h.Meta().Hostname != "sim-7" {
		t.Fatalf("rename: %v, %q %q", err, h.Hostname(), h.Meta().Hostname)
	}
}
