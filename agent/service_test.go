package main

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"
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
