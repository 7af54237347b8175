package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestParseTTL(t *testing.T) {
	for _, c := range []struct {
		in   string
		want time.Duration
		bad  bool
	}{
		{"", 0, false},
		{"720h", 720 * time.Hour, false},
		{"90d", 90 * 24 * time.Hour, false},
		{"1s", time.Second, false},
		{"500ms", 0, true},
		{"-1h", 0, true},
		{"0", 0, true},
		{"d", 0, true},
		{"1.5d", 0, true},
		{"99999999d", 0, true},
		{"soon", 0, true},
	} {
		got, err := parseTTL(c.in)
		if (err != nil) != c.bad || got != c.want {
			t.Errorf("parseTTL(%q) = %v, %v; want %v, error %v", c.in, got, err, c.want, c.bad)
		}
		if err != nil && !strings.Contains(err.Error(), c.in) {
			t.Errorf("parseTTL(%q): %v does not name the input", c.in, err)
		}
	}
}

// collectorInProcess is an install made by init and served by serve in
// this process, for the command line's tests.
type collectorInProcess struct {
	data, addr string
	log        *syncBuffer
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func serveInProcess(t *testing.T, extra ...string) *collectorInProcess {
	t.Helper()
	c := &collectorInProcess{data: filepath.Join(t.TempDir(), "data"), addr: freeAddr(t), log: &syncBuffer{}}
	var out, errOut bytes.Buffer
	if code := run(context.Background(), []string{"init", "--data", c.data}, &out, &errOut); code != exitOK {
		t.Fatalf("init: %s", errOut.String())
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		run(ctx, append([]string{"serve", "--data", c.data, "--listen", c.addr, "--metrics", ""}, extra...), c.log, c.log)
	}()
	t.Cleanup(func() { cancel(); <-done })
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, _, err := c.cli("", "hosts"); err == nil {
			return c
		}
		if time.Now().After(deadline) {
			t.Fatalf("the collector never served:\n%s", c.log)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// cli runs a client command with the token in tokenFile (admin.token when
// ""), and returns its stdout and stderr.
func (c *collectorInProcess) cli(tokenFile string, args ...string) (string, string, error) {
	if tokenFile == "" {
		tokenFile = filepath.Join(c.data, "admin.token")
	}
	var out, errOut bytes.Buffer
	args = append(args, "--collector", c.addr, "--ca", filepath.Join(c.data, "ca.crt"), "--token-file", tokenFile)
	if code := run(context.Background(), args, &out, &errOut); code != exitOK {
		return out.String(), errOut.String(), &cliError{errOut.String()}
	}
	return out.String(), errOut.String(), nil
}

type cliError struct{ msg string }

func (e *cliError) Error() string { return e.msg }

// token create, list and revoke through the command line: a viewer token
// reads and does nothing else, a revoked one is refused, and the last
// admin token stays.
func TestTokenCommands(t *testing.T) {
	c := serveInProcess(t)
	out, _, err := c.cli("", "token", "create", "--role", "viewer", "--name", "wall screen", "--ttl", "30d", "--format", "json")
	if err != nil {
		t.Fatal(err)
	}
	var made map[string]string
	if err := json.Unmarshal([]byte(out), &made); err != nil || made["token"] == "" || made["id"] == "" || made["role"] != "viewer" || made["expires"] == "" {
		t.Fatalf("token create: %v %s", err, out)
	}
	viewerFile := filepath.Join(t.TempDir(), "viewer.token")
	if err := os.WriteFile(viewerFile, []byte(made["token"]+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	// In a table the secret is alone on stdout, for $(...).
	out, errOut, err := c.cli("", "token", "create", "--role", "helpdesk")
	if err != nil || !strings.HasPrefix(out, "fwt_") || strings.Count(out, "\n") != 1 || !strings.Contains(errOut, "never expires") {
		t.Fatalf("token create (table): %v %q %q", err, out, errOut)
	}

	out, _, err = c.cli("", "token", "list", "--format", "json")
	var list []map[string]string
	if err != nil || json.Unmarshal([]byte(out), &list) != nil || len(list) != 3 || list[0]["name"] != "init" || list[0]["role"] != "admin" || list[0]["state"] != "valid" {
		t.Fatalf("token list: %v %s", err, out)
	}
	if strings.Contains(out, made["token"]) {
		t.Fatalf("token list shows a secret: %s", out)
	}
	if out, _, err := c.cli("", "token", "list"); err != nil || !strings.Contains(out, "wall screen") || !strings.Contains(out, "LAST USED") {
		t.Fatalf("token list (table): %v\n%s", err, out)
	}

	if _, _, err := c.cli(viewerFile, "hosts"); err != nil {
		t.Fatalf("viewer listing hosts: %v", err)
	}
	for _, args := range [][]string{{"scan", "somehost"}, {"token", "list"}, {"token", "create", "--role", "viewer"}} {
		if _, _, err := c.cli(viewerFile, args...); err == nil || !strings.Contains(err.Error(), "permissiondenied") {
			t.Errorf("viewer running %v: %v; want permission denied", args, err)
		}
	}
	if out, _, err := c.cli("", "token", "revoke", made["id"]); err != nil || !strings.Contains(out, "revoked "+made["id"]) {
		t.Fatalf("token revoke: %v %s", err, out)
	}
	if _, _, err := c.cli(viewerFile, "hosts"); err == nil || !strings.Contains(err.Error(), "token revoked") {
		t.Fatalf("revoked viewer token: %v", err)
	}
	if _, _, err := c.cli("", "token", "revoke", list[0]["id"]); err == nil || !strings.Contains(err.Error(), "last valid admin token") {
		t.Fatalf("revoking the init token, the only admin one: %v", err)
	}
	out, _, err = c.cli("", "token", "list", "--all", "--format", "json")
	if err != nil || json.Unmarshal([]byte(out), &list) != nil || len(list) != 3 || list[1]["state"] != "revoked" || list[0]["last_used"] == "" {
		t.Fatalf("token list --all: %v %s", err, out)
	}

	for _, c2 := range []struct {
		args []string
		want string
	}{
		{[]string{"token"}, "want create, list or revoke"},
		{[]string{"token", "rotate"}, `unknown subcommand "rotate"`},
		{[]string{"token", "create"}, "--role"},
		{[]string{"token", "create", "--role", "admin", "--ttl", "soon"}, `--ttl "soon"`},
		{[]string{"token", "revoke"}, "want 1 argument"},
		{[]string{"token", "create", "--role", "root"}, `role "root"`},
	} {
		if _, _, err := c.cli("", c2.args...); err == nil || !strings.Contains(err.Error(), c2.want) {
			t.Errorf("%v: %v; want an error saying %s", c2.args, err, c2.want)
		}
	}
}

// When every admin token is lost, whoever can read the data directory
// makes a new one offline, while the collector serves, and it works at
// once; nothing is made where there is no store.
func TestOfflineTokenCreate(t *testing.T) {
	c := serveInProcess(t)
	if err := os.Remove(filepath.Join(c.data, "admin.token")); err != nil {
		t.Fatal(err)
	}
	var out, errOut bytes.Buffer
	args := []string{"token", "create", "--data", c.data, "--role", "admin", "--name", "recovery", "--ttl", "1h", "--format", "json"}
	if code := run(context.Background(), args, &out, &errOut); code != exitOK {
		t.Fatalf("offline token create: %s", errOut.String())
	}
	var made map[string]string
	if err := json.Unmarshal(out.Bytes(), &made); err != nil || made["role"] != "admin" || made["name"] != "recovery" || made["expires"] == "" {
		t.Fatalf("offline token create printed %s (%v)", out.String(), err)
	}
	tokFile := filepath.Join(t.TempDir(), "recovery.token")
	if err := os.WriteFile(tokFile, []byte(made["token"]+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	list, _, err := c.cli(tokFile, "token", "list", "--format", "json")
	if err != nil || !strings.Contains(list, `"recovery"`) || !strings.Contains(list, `"init"`) {
		t.Fatalf("the recovered admin listing tokens: %v\n%s", err, list)
	}

	empty := filepath.Join(t.TempDir(), "nothing")
	out.Reset()
	errOut.Reset()
	if code := run(context.Background(), []string{"token", "create", "--data", empty, "--role", "admin"}, &out, &errOut); code == exitOK || !strings.Contains(errOut.String(), "only init creates one") {
		t.Fatalf("offline token create without a store: %d %s", code, errOut.String())
	}
	if _, err := os.Stat(filepath.Join(empty, dbFile)); err == nil {
		t.Fatal("offline token create made a store")
	}
	out.Reset()
	errOut.Reset()
	if code := run(context.Background(), []string{"token", "list", "--data", c.data}, &out, &errOut); code == exitOK || !strings.Contains(errOut.String(), "for token create only") {
		t.Fatalf("token list --data: %d %s", code, errOut.String())
	}
}
