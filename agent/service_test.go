package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"math/big"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/farmwatch/farmwatch/agent/daemon"
	"github.com/farmwatch/farmwatch/agent/resident"
	"github.com/farmwatch/farmwatch/agent/wiring"
	"github.com/farmwatch/farmwatch/credential"
	"github.com/farmwatch/farmwatch/installer/servicedef"
	"github.com/kardianos/service"
)

func TestServiceConfigRoundTrip(t *testing.T) {
	p := filepath.Join(t.TempDir(), "etc", "agent.yaml")
	c := wiring.DefaultConfig()
	c.Collector, c.CA, c.EnrollSecretFile, c.State, c.Interval = "collector.example:7443", "/etc/farmwatch/ca.crt", "/etc/farmwatch/enroll-secret", "/var/lib/farmwatch", 90*time.Second
	if err := writeServiceConfig(p, c); err != nil {
		t.Fatal(err)
	}
	got, err := wiring.LoadConfig(p)
	if err != nil {
		t.Fatal(err)
	}
	if got.Collector != c.Collector || got.CA != c.CA || got.EnrollSecretFile != c.EnrollSecretFile || got.State != c.State || got.Interval != c.Interval || got.FailOn != "high" {
		t.Fatalf("read back %+v, wrote %+v", got, c)
	}
	sc := daemon.ServiceConfig(p)
	if sc.Name != "farmwatch-agent" || strings.Join(sc.Arguments, " ") != "run --config "+p {
		t.Fatalf("service config %+v", sc)
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

// TestInstallTemplates: install has the service run farmwatch-agentd,
// from the unit and the plist of the packages.
func TestInstallTemplates(t *testing.T) {
	d := "/opt/farmwatch/farmwatch-agentd"
	sc := daemon.ServiceConfig("/etc/farmwatch/agent.yaml")
	if err := installTemplates(sc, d, "/var/lib/farmwatch"); err != nil {
		t.Fatal(err)
	}
	if sc.Executable != d {
		t.Fatalf("the service runs %q, want %q", sc.Executable, d)
	}
	switch runtime.GOOS {
	case "linux":
		u, _ := sc.Option["SystemdScript"].(string)
		if !strings.Contains(u, "ExecStart="+d+" run --config /etc/farmwatch/agent.yaml\n") || !strings.Contains(u, "ProtectSystem=strict") || strings.Contains(u, "{{") {
			t.Fatalf("unit:\n%s", u)
		}
	case "darwin":
		if p, _ := sc.Option["LaunchdConfig"].(string); !strings.Contains(p, "<string>"+d+"</string>") {
			t.Fatalf("plist:\n%s", p)
		}
	}
}

// TestFindDaemon: install finds farmwatch-agentd beside farmwatch-agent,
// or where the package put it, and refuses to install a service that
// could not start.
func TestFindDaemon(t *testing.T) {
	dir := t.TempDir()
	cli, beside := filepath.Join(dir, "bin", "farmwatch-agent"), filepath.Join(dir, "bin", "farmwatch-agentd")
	pkg := servicedef.Paths{Binary: cli, Daemon: filepath.Join(dir, "sbin", "farmwatch-agentd")}
	os.MkdirAll(filepath.Dir(cli), 0o755)
	os.MkdirAll(filepath.Dir(pkg.Daemon), 0o755)
	if _, err := daemonFor(cli, pkg); err == nil || !strings.Contains(err.Error(), beside+" and "+pkg.Daemon) || !strings.Contains(err.Error(), "missing") {
		t.Fatalf("no farmwatch-agentd: %v", err)
	}
	if err := os.WriteFile(pkg.Daemon, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if got, err := daemonFor(cli, pkg); err != nil || got != pkg.Daemon {
		t.Fatalf("the package's: %q, %v", got, err)
	}
	// A command elsewhere does not take the package's daemon.
	other := filepath.Join(dir, "opt", "farmwatch-agent")
	if _, err := daemonFor(other, pkg); err == nil || strings.Contains(err.Error(), pkg.Daemon) {
		t.Fatalf("a command outside the package: %v", err)
	}
	if err := os.Mkdir(beside, 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := daemonFor(cli, pkg); err == nil || !strings.Contains(err.Error(), "not an executable") {
		t.Fatalf("a directory: %v", err)
	}
	os.Remove(beside)
	if runtime.GOOS != "windows" {
		if err := os.WriteFile(beside, []byte("#!/bin/sh\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := daemonFor(cli, pkg); err == nil || !strings.Contains(err.Error(), "not an executable") {
			t.Fatalf("not executable: %v", err)
		}
		os.Chmod(beside, 0o755)
	} else if err := os.WriteFile(beside, []byte("MZ"), 0o755); err != nil {
		t.Fatal(err)
	}
	if got, err := daemonFor(cli, pkg); err != nil || got != beside {
		t.Fatalf("beside: %q, %v; want %q", got, err, beside)
	}
	if got, err := daemonFor(cli+".exe", pkg); err == nil || !strings.Contains(err.Error(), beside+".exe") {
		t.Fatalf("farmwatch-agent.exe looks for farmwatch-agentd.exe: %q, %v", got, err)
	}
}

// TestInstallNeedsDaemon: install stops before it writes anything when
// farmwatch-agentd is missing (the test binary has none beside it).
func TestInstallNeedsDaemon(t *testing.T) {
	dir := t.TempDir()
	ca, secret := filepath.Join(dir, "ca.crt"), filepath.Join(dir, "s")
	os.WriteFile(ca, testCA(t), 0o600)
	os.WriteFile(secret, []byte("x\n"), 0o600)
	cfg := filepath.Join(dir, "etc", "agent.yaml")
	code, _, stderr := runCLI(t, "install", "--collector", "c:7443", "--ca", ca, "--enroll-secret-file", secret, "--config", cfg)
	if code != exitError || !strings.Contains(stderr, "farmwatch-agentd") || !strings.Contains(stderr, "missing") {
		t.Fatalf("install without farmwatch-agentd: exit %d: %s", code, stderr)
	}
	if _, err := os.Stat(cfg); !os.IsNotExist(err) {
		t.Fatalf("install wrote %s before failing: %v", cfg, err)
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
	c, err := wiring.LoadConfig(cfg)
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
	if c2, _ := wiring.LoadConfig(cfg); c2.Collector != "other:7443" || c2.CA != c.CA {
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
