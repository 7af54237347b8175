package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/farmwatch/farmwatch/agent/resident"
	"github.com/farmwatch/farmwatch/credential"
	"github.com/kardianos/service"
	"github.com/rs/zerolog"
)

func TestServiceConfigRoundTrip(t *testing.T) {
	p := filepath.Join(t.TempDir(), "etc", "agent.yaml")
	c := defaultConfig()
	c.Collector, c.CA, c.EnrollSecretFile, c.State, c.Interval = "collector.example:7443", "/etc/farmwatch/ca.crt", "/etc/farmwatch/enroll-secret", "/var/lib/farmwatch", 90*time.Second
	if err := writeServiceConfig(p, c); err != nil {
		t.Fatal(err)
	}
	got, err := loadConfig(p)
	if err != nil {
		t.Fatal(err)
	}
	if got.Collector != c.Collector || got.CA != c.CA || got.EnrollSecretFile != c.EnrollSecretFile || got.State != c.State || got.Interval != c.Interval || got.FailOn != "high" {
		t.Fatalf("read back %+v, wrote %+v", got, c)
	}
	sc := serviceConfig(p)
	if sc.Name != "farmwatch-agent" || strings.Join(sc.Arguments, " ") != "run --config "+p {
		t.Fatalf("service config %+v", sc)
	}
}

func TestProgramStartStop(t *testing.T) {
	stopped := make(chan struct{})
	p := &program{run: func(ctx context.Context) error {
		<-ctx.Done()
		close(stopped)
		return nil
	}}
	if err := p.Start(nil); err != nil {
		t.Fatal(err)
	}
	if err := p.Stop(nil); err != nil {
		t.Fatal(err)
	}
	select {
	case <-stopped:
	default:
		t.Fatal("the run loop did not see the stop")
	}
	p = &program{run: func(ctx context.Context) error { <-ctx.Done(); return errors.New("boom") }}
	p.Start(nil)
	if err := p.Stop(nil); err == nil || err.Error() != "boom" {
		t.Fatalf("stop error %v", err)
	}
}

func TestInstallNeedsSettings(t *testing.T) {
	code, _, stderr := runCLI(t, "install", "--config", filepath.Join(t.TempDir(), "a.yaml"))
	if code != exitError || !strings.Contains(stderr, "--collector, --ca and --enroll-secret-file are required") {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	code, _, stderr = runCLI(t, "install", "--collector", "x:1", "--ca", "/nonexistent/ca.crt", "--enroll-secret-file", "/nonexistent/s", "--config", filepath.Join(t.TempDir(), "a.yaml"))
	if code != exitError || !strings.Contains(stderr, "/nonexistent/ca.crt") {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	code, _, stderr = runCLI(t, "run", "--ca", "x")
	if code != exitError || !strings.Contains(stderr, "are required") {
		t.Fatalf("run without settings: exit %d: %s", code, stderr)
	}
}

func TestServiceOptions(t *testing.T) {
	o := serviceConfig("/etc/farmwatch/agent.yaml").Option
	// kardianos/service sets Windows recovery actions only when OnFailure
	// is set; launchd's and systemd's restarts come from these too.
	if o["OnFailure"] != "restart" || o["OnFailureDelayDuration"] != "5s" || o["OnFailureResetPeriod"] != 86400 ||
		o["KeepAlive"] != true || o["RunAtLoad"] != true || o["Restart"] != "always" {
		t.Fatalf("options %v", o)
	}
	sc := serviceConfig("/etc/farmwatch/agent.yaml")
	if err := installTemplates(sc, "/var/lib/farmwatch"); err != nil {
		t.Fatal(err)
	}
	exe, _ := os.Executable()
	switch runtime.GOOS {
	case "linux":
		u, _ := sc.Option["SystemdScript"].(string)
		if !strings.Contains(u, "ExecStart="+exe+" run --config /etc/farmwatch/agent.yaml\n") || !strings.Contains(u, "ProtectSystem=strict") || strings.Contains(u, "{{") {
			t.Fatalf("unit:\n%s", u)
		}
	case "darwin":
		if p, _ := sc.Option["LaunchdConfig"].(string); !strings.Contains(p, "<string>"+exe+"</string>") {
			t.Fatalf("plist:\n%s", p)
		}
	}
}

func TestProgramFatalExits(t *testing.T) {
	code := make(chan int, 1)
	p := &program{run: func(context.Context) error { return errors.New("spool: disk full") }, exit: func(c int) { code <- c }}
	if err := p.Start(nil); err != nil {
		t.Fatal(err)
	}
	select {
	case c := <-code:
		if c != exitError {
			t.Fatalf("exit %d", c)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a fatal run error did not exit")
	}
	// A run loop that ends by itself, with no error, is a failure too.
	p = &program{run: func(context.Context) error { return nil }, exit: func(c int) { code <- c }}
	p.Start(nil)
	if c := <-code; c != exitError {
		t.Fatalf("exit %d", c)
	}
}

// TestServiceFatalExitNonZero runs the agent's service mode in a child
// process whose run loop fails, and checks that the process exits 2, so
// that systemd, launchd or the Windows service manager restarts it.
func TestServiceFatalExitNonZero(t *testing.T) {
	if os.Getenv("FARMWATCH_SERVICE_CHILD") == "1" {
		log := zerolog.New(os.Stderr)
		err := runService(func(ctx context.Context) error {
			time.Sleep(50 * time.Millisecond)
			return errors.New("spool: disk full")
		}, filepath.Join(t.TempDir(), "agent.yaml"), log, os.Exit)
		fmt.Fprintf(os.Stderr, "runService returned: %v\n", err)
		os.Exit(0) // not reached when the fatal error exits
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestServiceFatalExitNonZero$")
	cmd.Env = append(os.Environ(), "FARMWATCH_SERVICE_CHILD=1")
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != exitError {
		t.Fatalf("child: %v, want exit %d:\n%s", err, exitError, out)
	}
	if !strings.Contains(string(out), "agent failed") || !strings.Contains(string(out), "disk full") {
		t.Fatalf("child's log:\n%s", out)
	}
}

// testCA makes a self-signed CA certificate, PEM.
func testCA(t *testing.T) []byte {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "farmwatch test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

func TestParseCA(t *testing.T) {
	p := testCA(t)
	block, _ := pem.Decode(p)
	for name, in := range map[string]string{
		"pem":           string(p),
		"spaces":        strings.ReplaceAll(strings.TrimSpace(string(p)), "\n", " "),
		"literal \\n":   strings.ReplaceAll(string(p), "\n", `\n`),
		"base64 of pem": base64.StdEncoding.EncodeToString(p),
		"base64 of der": base64.StdEncoding.EncodeToString(block.Bytes),
		"two, crlf":     strings.ReplaceAll(string(p)+string(p), "\n", "\r\n"),
	} {
		got, err := parseCA([]byte(in))
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if !strings.HasPrefix(string(got), string(p)) {
			t.Errorf("%s: got\n%s", name, got)
		}
	}
	for _, bad := range []string{"", "hello", "-----BEGIN CERTIFICATE-----\nAAAA", base64.StdEncoding.EncodeToString([]byte("not a cert"))} {
		if _, err := parseCA([]byte(bad)); err == nil {
			t.Errorf("%q: parsed", bad)
		}
	}
}

func TestConfigure(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "etc", "agent.yaml")
	state := filepath.Join(dir, "state")
	// A first install without settings fails, naming what is missing.
	code, _, stderr := runCLI(t, "configure", "--config", cfg)
	if code != exitError || !strings.Contains(stderr, "COLLECTOR") || !strings.Contains(stderr, "ENROLL_SECRET") {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	ca := strings.ReplaceAll(strings.TrimSpace(string(testCA(t))), "\n", " ")
	code, stdout, stderr := runCLI(t, "configure", "--config", cfg, "--collector", "collector.example:7443", "--ca-pem", ca,
		"--enroll-secret", " s3cret ", "--state", state)
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	c, err := loadConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if c.Collector != "collector.example:7443" || c.CA != filepath.Join(dir, "etc", "ca.crt") || c.EnrollSecretFile != filepath.Join(dir, "etc", "enroll-secret") || c.State != state || c.Interval != time.Minute {
		t.Fatalf("config %+v (%s)", c, stdout)
	}
	if b, _ := os.ReadFile(c.EnrollSecretFile); string(b) != "s3cret\n" {
		t.Fatalf("secret %q", b)
	}
	if _, err := credentialCheck(c.CA); err != nil {
		t.Fatal(err)
	}
	if runtime.GOOS != "windows" {
		for _, f := range []string{cfg, c.EnrollSecretFile} {
			if fi, _ := os.Stat(f); fi.Mode().Perm() != 0o600 {
				t.Errorf("%s: mode %v", f, fi.Mode())
			}
		}
		if fi, _ := os.Stat(state); fi.Mode().Perm() != 0o700 {
			t.Errorf("state: mode %v", fi.Mode())
		}
	}
	// An upgrade gives nothing: nothing changes.
	code, stdout, _ = runCLI(t, "configure", "--config", cfg)
	if code != exitOK || !strings.Contains(stdout, "nothing changed") {
		t.Fatalf("exit %d: %s", code, stdout)
	}
	// One setting changes alone.
	if code, _, stderr = runCLI(t, "configure", "--config", cfg, "--collector", "other:7443"); code != exitOK {
		t.Fatal(stderr)
	}
	if c2, _ := loadConfig(cfg); c2.Collector != "other:7443" || c2.CA != c.CA {
		t.Fatalf("config %+v", c2)
	}
	if code, _, _ = runCLI(t, "configure", "--config", cfg, "--ca-pem", "junk"); code != exitError {
		t.Fatal("a bad CA was taken")
	}
	// Status reads the config and the agent's status file.
	if err := resident.WriteStatus(state, resident.Status{Version: "v1.2.3", PID: 42, Collector: "other:7443", LastScan: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), Backlog: 3, BacklogBytes: 4096, Dropped: 1}); err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	printStatus(&b, cfg, time.Date(2026, 1, 2, 3, 6, 5, 0, time.UTC))
	for _, want := range []string{"collector:     other:7443", "last scan:     2026-01-02T03:04:05Z (2m0s ago, agent v1.2.3, pid 42)", "spool backlog: 3 messages not acknowledged, 4096 bytes on disk, 1 dropped"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("status lacks %q:\n%s", want, b.String())
		}
	}
	// Purge removes the state and the settings.
	if code, _, stderr = runCLI(t, "purge", "--config", cfg); code != exitOK {
		t.Fatal(stderr)
	}
	for _, p := range []string{state, cfg, c.CA, c.EnrollSecretFile, filepath.Dir(cfg)} {
		if _, err := os.Stat(p); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s after purge: %v", p, err)
		}
	}
}

func TestStatusWords(t *testing.T) {
	if statusWords(0, service.ErrNotInstalled) != "not installed" || statusWords(service.StatusRunning, nil) != "running" || statusWords(service.StatusStopped, nil) != "stopped" {
		t.Fatal("status words")
	}
	var b strings.Builder
	printStatus(&b, filepath.Join(t.TempDir(), "none.yaml"), time.Now())
	if !strings.Contains(b.String(), "config:") {
		t.Fatal(b.String())
	}
}

func credentialCheck(ca string) (any, error) { return credential.ClientTLS(ca) }
