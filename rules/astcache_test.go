package rules

import (
	"bytes"
	"flag"
	"os"
	"testing"

	"cel.dev/cel-go/cel"
	fwv1 "github.com/farmwatch/farmwatch/proto/farmwatch/v1"
)

var update = flag.Bool("update", false, "rewrite builtin.ast from the built-in rules")

// TestBuiltinAST: builtin.ast holds exactly the built-in rules'
// expressions, checked as a load would check them now.
func TestBuiltinAST(t *testing.T) {
	set, err := Load(Builtin(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	got, err := writeASTCache(set.envs, set.expressions())
	if err != nil {
		t.Fatal(err)
	}
	if *update {
		if err := os.WriteFile("builtin.ast", got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	if !bytes.Equal(got, builtinAST) {
		t.Fatalf("builtin.ast is not current (%d bytes, want %d): go test ./rules -run TestBuiltinAST -update", len(builtinAST), len(got))
	}
	if m := readASTCache(builtinAST); len(m) == 0 {
		t.Fatal("builtin.ast does not read")
	}
}

// TestLazyCached: a cached expression is planned at its first evaluation;
// a damaged cache entry is compiled from its text instead, and one whose
// text does not compile either is a rule error at evaluation, naming the
// rule, never a panic or a silent pass.
func TestLazyCached(t *testing.T) {
	src := []Source{{Name: "t.yaml", Data: []byte(`rules:
  - id: t-lazy
    title: t
    severity: high
    scope: process
    description: t
    sources: [t]
    when: process.name == "anydesk"
`)}}
	obs := []*fwv1.Observation{{Key: "process/1@0", Kind: &fwv1.Observation_Process{Process: &fwv1.Process{Pid: 1, Name: "anydesk"}}}}
	for _, tc := range []struct {
		name    string
		entry   astEntry
		finding bool
		err     string
	}{
		{"damaged entry falls back to the text", astEntry{bounded: true, ast: []byte{0xff, 0xff}}, true, ""},
		{"entry of another expression is used as cached", astEntry{bounded: true, ast: mustCachedAST(t, `process.name == "other"`)}, false, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			old := builtinAST
			defer func() { builtinAST = old }()
			key := astKey("process", `process.name == "anydesk"`, cel.BoolType)
			builtinAST = appendASTEntry([]byte(astMagic), key, tc.entry)
			set, err := Load(src, Options{})
			if err != nil {
				t.Fatal(err)
			}
			lp, ok := set.Rule("t-lazy").when.(*lazyProgram)
			if !ok {
				t.Fatalf("when is %T, want a lazy program from the cache", set.Rule("t-lazy").when)
			}
			if lp.prg != nil {
				t.Fatal("planned at load")
			}
			res := set.Evaluate(&fwv1.HostInfo{Os: "linux"}, obs)
			if got := len(res.Findings) == 1; got != tc.finding || len(res.Errors) != 0 {
				t.Fatalf("findings %v errors %v, want a finding: %v", res.Findings, res.Errors, tc.finding)
			}
		})
	}
}

func mustCachedAST(t *testing.T, expr string) []byte {
	t.Helper()
	set, err := Load(nil, Options{})
	if err != nil {
		t.Fatal(err)
	}
	b, err := writeASTCache(set.envs, []cacheExpr{{"process", expr, cel.BoolType}})
	if err != nil {
		t.Fatal(err)
	}
	m := readASTCache(b)
	for _, e := range m {
		return e.ast
	}
	t.Fatal("no entry")
	return nil
}
