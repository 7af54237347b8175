package main

import (
	"bytes"
	"context"
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files of testdata/hosts")

func runCLI(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(context.Background(), args, &out, &errb)
	return code, out.String(), errb.String()
}

var durations = regexp.MustCompile(`"duration_us": ?"?[0-9]+"?`)

// TestGoldenHosts scans every snapshot in testdata/hosts and compares the
// table and the JSON with the golden files. A directory NAME.rules beside a
// snapshot is passed as --rules (the organisation's rules and exceptions),
// and a file NAME.config.yaml as --config (its expectations).
func TestGoldenHosts(t *testing.T) {
	snaps, err := filepath.Glob("../testdata/hosts/*.txtar")
	if err != nil {
		t.Fatal(err)
	}
	if len(snaps) < 8 {
		t.Errorf("testdata/hosts has %d snapshots, want at least 8", len(snaps))
	}
	for _, snap := range snaps {
		name := strings.TrimSuffix(filepath.Base(snap), ".txtar")
		t.Run(name, func(t *testing.T) {
			args := []string{"scan", "--snapshot", snap}
			if st, err := os.Stat(strings.TrimSuffix(snap, ".txtar") + ".rules"); err == nil && st.IsDir() {
				args = append(args, "--rules", strings.TrimSuffix(snap, ".txtar")+".rules")
			}
			if _, err := os.Stat(strings.TrimSuffix(snap, ".txtar") + ".config.yaml"); err == nil {
				args = append(args, "--config", strings.TrimSuffix(snap, ".txtar")+".config.yaml")
			}
			code, table, stderr := runCLI(t, args...)
			if code == exitError {
				t.Fatalf("scan failed: %s", stderr)
			}
			jcode, js, stderr := runCLI(t, append(args, "--format", "json")...)
			if jcode != code {
				t.Fatalf("json exit %d, table exit %d: %s", jcode, code, stderr)
			}
			js = durations.ReplaceAllString(js, `"duration_us": 0`)
			got := "exit " + strconv.Itoa(code) + "\n" + table
			compareGolden(t, strings.TrimSuffix(snap, ".txtar")+".golden", got)
			compareGolden(t, strings.TrimSuffix(snap, ".txtar")+".json.golden", js)
		})
	}
}

func compareGolden(t *testing.T, file, got string) {
	t.Helper()
	if *update {
		if err := os.WriteFile(file, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(file)
	if err != nil {
		t.Fatalf("%v (run go test ./agent -update to create it)", err)
	}
	if string(want) != got {
		t.Errorf("%s differs (go test ./agent -update rewrites it):\n--- want\n%s\n--- got\n%s", file, want, got)
	}
}

func TestCLIErrors(t *testing.T) {
	dir := t.TempDir()
	corrupt := filepath.Join(dir, "corrupt.txtar")
	os.WriteFile(corrupt, []byte("-- snapshot.json --\n{\"os\": \"linux\"\n"), 0o644)
	notsnap := filepath.Join(dir, "notes.txt")
	os.WriteFile(notsnap, []byte("hello\n"), 0o644)
	badRules := filepath.Join(dir, "rules")
	os.Mkdir(badRules, 0o755)
	os.WriteFile(filepath.Join(badRules, "ours.yaml"), []byte("rules:\n  - id: ours\n    title: t\n    severity: high\n    scope: process\n    description: d\n    sources: [s]\n    when: process.nmae == \"x\"\n"), 0o644)
	badConfig := filepath.Join(dir, "agent.yaml")
	os.WriteFile(badConfig, []byte("fail_onn: low\n"), 0o644)
	emptyRules := filepath.Join(dir, "empty")
	os.Mkdir(emptyRules, 0o755)
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"no command", nil, "usage:"},
		{"unknown command", []string{"scna"}, `unknown command "scna"`},
		{"unknown flag", []string{"scan", "--bogus"}, "flag provided but not defined: -bogus"},
		{"stray argument", []string{"scan", "extra"}, `unexpected argument "extra"`},
		{"missing root", []string{"scan", "--root", filepath.Join(dir, "nope")}, "root " + filepath.Join(dir, "nope")},
		{"root is a file", []string{"scan", "--root", notsnap}, "not a directory"},
		{"missing snapshot", []string{"scan", "--snapshot", filepath.Join(dir, "nope.txtar")}, "nope.txtar"},
		{"corrupt snapshot", []string{"scan", "--snapshot", corrupt}, "snapshot " + corrupt + ": entry snapshot.json: bad JSON"},
		{"not a snapshot", []string{"scan", "--snapshot", notsnap}, "not a farmwatch snapshot"},
		{"both", []string{"scan", "--root", dir, "--snapshot", corrupt}, "not both"},
		{"bad format", []string{"scan", "--format", "xml"}, `--format "xml"`},
		{"bad fail-on", []string{"scan", "--fail-on", "urgent"}, `--fail-on: severity "urgent"`},
		{"bad rule file", []string{"scan", "--rules", badRules}, filepath.Join(badRules, "ours.yaml") + ":8:18: rule ours: when: undefined field 'nmae'"},
		{"empty rules dir", []string{"scan", "--rules", emptyRules}, "no .yaml or .yml files"},
		{"unknown explain", []string{"scan", "--explain", "nope"}, "--explain nope: no such rule"},
		{"snapshot without -o", []string{"snapshot"}, "-o FILE is required"},
		{"rules subcommand", []string{"rules", "frob"}, `unknown subcommand "frob"`},
		{"missing config", []string{"scan", "--config", filepath.Join(dir, "nope.yaml")}, "config " + filepath.Join(dir, "nope.yaml")},
		{"bad config key", []string{"scan", "--config", badConfig}, "field fail_onn not found"},
		{"pack missing", []string{"snapshot", "--pack", filepath.Join(dir, "nope"), "-o", "-"}, "pack " + filepath.Join(dir, "nope")},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			code, _, stderr := runCLI(t, c.args...)
			if code != exitError {
				t.Errorf("exit %d, want %d", code, exitError)
			}
			if !strings.Contains(stderr, c.want) {
				t.Errorf("stderr %q does not contain %q", stderr, c.want)
			}
		})
	}
}

func TestRulesTestCommand(t *testing.T) {
	code, out, stderr := runCLI(t, "rules", "test")
	if code != exitOK || !strings.Contains(out, " passed, 0 failed") {
		t.Fatalf("rules test: exit %d\n%s\n%s", code, out, stderr)
	}
}

func TestExplain(t *testing.T) {
	code, out, stderr := runCLI(t, "scan", "--snapshot", "../testdata/hosts/linux-anydesk-rustdesk.txtar", "--explain", "remote-access-multiple-vendors")
	if code != exitFindings {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	for _, want := range []string{
		"rule remote-access-multiple-vendors (high, scope host)",
		"Sources:\n  - ",
		"When:\n",
		"On this host it matched 1 time(s):",
		"Remote-access tools of two or more vendors on one host: AnyDesk and RustDesk",
		"process anydesk (pid 30395) /usr/bin/anydesk",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("--explain output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "Remote-access tool running: AnyDesk") {
		t.Errorf("--explain shows other rules' findings:\n%s", out)
	}
}
