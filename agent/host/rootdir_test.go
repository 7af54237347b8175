package host

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
)

// Problem 4: the links of a --root directory resolve inside it, whatever
// their target, and Glob matches inside it too.
func TestRootLinksStayInside(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("symbolic links need a privilege on Windows")
	}
	outside := t.TempDir()
	mustWrite(t, filepath.Join(outside, "secret"), "the machine's\n")
	mustWrite(t, filepath.Join(outside, "snapshot.json"), `{"os":"windows","hostname":"evil"}`)
	mustWrite(t, filepath.Join(outside, ".config/systemd/user/x.service"), "[Unit]\n")

	root := t.TempDir()
	mustWrite(t, filepath.Join(root, "usr/share/zoneinfo/Asia/Seoul"), "TZif-seoul\n")
	mustWrite(t, filepath.Join(root, "usr/lib/os-release"), "ID=debian\n")
	mustWrite(t, filepath.Join(root, "etc/hostname"), "inside\n")
	mustWrite(t, filepath.Join(root, "home/ann/.config/systemd/user/a.service"), "[Unit]\n")
	for link, target := range map[string]string{
		"etc/localtime":  "/usr/share/zoneinfo/Asia/Seoul", // absolute, inside
		"lib":            "usr/lib",                        // relative, inside
		"abs":            outside,                          // absolute: the same path inside
		"up":             "../../../../../../../../..",     // climbs out: stops at the root
		"up2":            "../../../../../../../.." + outside,
		"home/bob":       outside, // Glob must not look there
		"snapshot.json":  filepath.Join(outside, "snapshot.json"),
		"loop/a":         "b",
		"loop/b":         "a",
		"etc/os-release": "../lib/os-release",
	} {
		mustLink(t, target, filepath.Join(root, link))
	}
	// Each target names the next link twice: 2^40 lookups without a
	// bound on the links followed in one lookup.
	for i := range MaxLinkHops {
		mustLink(t, fmt.Sprintf("a%d/a%d", i+1, i+1), filepath.Join(root, fmt.Sprintf("d/a%d", i)))
	}
	mustLink(t, ".", filepath.Join(root, fmt.Sprintf("d/a%d", MaxLinkHops)))

	h, err := FromRoot(root)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	if h.Hostname() != "inside" || h.OS() != runtime.GOOS {
		t.Errorf("snapshot.json read through a link to outside: %s %s", h.OS(), h.Hostname())
	}
	for p, want := range map[string]string{"/etc/localtime": "TZif-seoul\n", "/lib/os-release": "ID=debian\n", "/etc/os-release": "ID=debian\n", "/up/etc/hostname": "inside\n", "/up/up/lib/os-release": "ID=debian\n"} {
		if b, err := h.ReadFile(p); err != nil || string(b) != want {
			t.Errorf("ReadFile(%s) = %q, %v; want %q", p, b, err, want)
		}
	}
	for _, p := range []string{"/abs/secret", "/up2/secret", "/home/bob/secret"} {
		if b, err := h.ReadFile(p); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("ReadFile(%s) = %q, %v; want not exist", p, b, err)
		}
	}
	if ents, err := h.ReadDir("/up"); err != nil || len(ents) != 10 {
		t.Errorf("ReadDir(/up) = %v, %v; want the root's 10 entries", ents, err)
	}
	if tg, err := h.Readlink("/abs"); err != nil || tg != outside {
		t.Errorf("Readlink(/abs) = %q, %v", tg, err)
	}
	for _, p := range []string{"/loop/a", "/d/a0/f"} {
		if _, err := h.ReadFile(p); !errors.Is(err, syscall.ELOOP) {
			t.Errorf("ReadFile(%s): %v, want too many links", p, err)
		}
	}
	ms, err := h.Glob("/home/*/.config/systemd/user/*.service")
	if err != nil || strings.Join(ms, " ") != "/home/ann/.config/systemd/user/a.service" {
		t.Errorf("Glob = %v, %v; want only ann's unit", ms, err)
	}
	ms, err = h.Glob("/home/*/.config/systemd/user")
	if err != nil || strings.Join(ms, " ") != "/home/ann/.config/systemd/user" {
		t.Errorf("Glob = %v, %v; want only ann's directory", ms, err)
	}
	// Through a link before the first wildcard, the results name the
	// resolved directory, as they always have.
	if ms, err := h.Glob("/lib/*-release"); err != nil || strings.Join(ms, " ") != "/usr/lib/os-release" {
		t.Errorf("Glob = %v, %v", ms, err)
	}
	if _, err := h.ReadFile("/" + strings.Repeat("a/", MaxPathLen)); !errors.Is(err, syscall.ENAMETOOLONG) {
		t.Errorf("a path longer than %d bytes: %v", MaxPathLen, err)
	}
}

func mustWrite(t *testing.T, p, s string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
}

func mustLink(t *testing.T, target, p string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(target, p); err != nil {
		t.Fatal(err)
	}
}
