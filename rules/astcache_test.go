package rules

import (
	"bytes"
	"flag"
	"os"
	"testing"
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
