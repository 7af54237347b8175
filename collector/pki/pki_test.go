package pki

import (
	"crypto/tls"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/farmwatch/farmwatch/credential"
)

func TestInitServesTLS(t *testing.T) {
	dir := t.TempDir()
	in, err := Init(dir, []string{"localhost", "127.0.0.1"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(in.AdminToken, "fwt_") || !strings.HasPrefix(in.EnrollSecret, "fwe_") || len(in.Files) != 7 {
		t.Fatalf("install = %+v", in)
	}
	for _, f := range []string{CAKeyFile, ServerKeyFile, EnrollSecretFile, AdminTokenFile, FleetSaltFile} {
		st, err := os.Stat(filepath.Join(dir, f))
		if err != nil || st.Mode().Perm() != 0o600 {
			t.Errorf("%s: mode %v, %v", f, st.Mode(), err)
		}
	}
	if _, err := Init(dir, nil, time.Now()); err == nil || !strings.Contains(err.Error(), "refusing to overwrite") {
		t.Fatalf("second init: %v", err)
	}
	srv, err := ServerTLS(dir)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", srv)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return // the listener is closed
			}
			c.(*tls.Conn).Handshake()
			c.Close()
		}
	}()
	cli, err := credential.ClientTLS(filepath.Join(dir, CAFile))
	if err != nil {
		t.Fatal(err)
	}
	cli.ServerName = "localhost"
	c, err := tls.Dial("tcp", ln.Addr().String(), cli)
	if err != nil {
		t.Fatalf("a client trusting the install's CA cannot connect: %v", err)
	}
	c.Close()
	// A client that does not trust the CA is refused.
	if c, err := tls.Dial("tcp", ln.Addr().String(), &tls.Config{ServerName: "localhost"}); err == nil {
		c.Close()
		t.Fatal("a client without the CA connected")
	}
}

// init on a directory that was there (0755) makes it 0700.
func TestInitExistingDirPrivate(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("modes do not govern access on Windows")
	}
	dir := filepath.Join(t.TempDir(), "data")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o755); err != nil { // whatever the umask
		t.Fatal(err)
	}
	if _, err := Init(dir, []string{"localhost"}, time.Now()); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(dir); err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("data directory %v, %v; want 0700", fi.Mode(), err)
	}
}

// A data directory and secrets open to others are made private; a
// stricter mode, a missing file and the public certificates are left.
func TestSecureDir(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("modes do not govern access on Windows")
	}
	dir := t.TempDir()
	write := func(name string, mode os.FileMode) {
		t.Helper()
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte("x"), mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, mode); err != nil {
			t.Fatal(err)
		}
	}
	write(AdminTokenFile, 0o644)
	write(ServerKeyFile, 0o400)
	write(CAFile, 0o644)
	write("farmwatch.db", 0o664)
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	changed, err := SecureDir(dir, append(SecretFiles(), "farmwatch.db", "farmwatch.db-wal"))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]os.FileMode{"": 0o700, AdminTokenFile: 0o600, ServerKeyFile: 0o400, CAFile: 0o644, "farmwatch.db": 0o600}
	for name, mode := range want {
		if fi, err := os.Stat(filepath.Join(dir, name)); err != nil || fi.Mode().Perm() != mode {
			t.Errorf("%q: %v, %v; want %v", name, fi.Mode().Perm(), err, mode)
		}
	}
	if len(changed) != 3 {
		t.Errorf("changed %+v; want the directory, %s and the store", changed, AdminTokenFile)
	}
	if again, err := SecureDir(dir, SecretFiles()); err != nil || len(again) != 0 {
		t.Errorf("second time: %+v, %v; want nothing to change", again, err)
	}
}

// init writes a fleet salt; EnsureFleetSalt reads it trimmed, makes one
// for an install that predates it, and refuses a damaged one rather than
// replace it.
func TestFleetSalt(t *testing.T) {
	dir := t.TempDir()
	in, err := Init(dir, []string{"localhost"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	salt, created, err := EnsureFleetSalt(dir)
	if err != nil || created || salt != in.FleetSalt || len(salt) < 40 {
		t.Fatalf("salt %q created %v err %v; init made %q", salt, created, err, in.FleetSalt)
	}
	old := t.TempDir()
	salt, created, err = EnsureFleetSalt(old)
	if err != nil || !created || salt == "" {
		t.Fatalf("an older install: %q %v %v", salt, created, err)
	}
	if again, created, err := EnsureFleetSalt(old); err != nil || created || again != salt {
		t.Fatalf("read again: %q %v %v", again, created, err)
	}
	for _, bad := range []string{"", "\n\n", "two\nlines\n"} {
		if err := os.WriteFile(filepath.Join(old, FleetSaltFile), []byte(bad), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, _, err := EnsureFleetSalt(old); err == nil {
			t.Errorf("salt file %q was taken", bad)
		}
	}
}
