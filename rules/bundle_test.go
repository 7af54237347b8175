package rules

import (
	"strings"
	"testing"

	fwv1 "github.com/farmwatch/farmwatch/proto/farmwatch/v1"
)

func TestBundle(t *testing.T) {
	a := Source{Name: "org/a.yaml", Data: []byte("rules: []\n")}
	b := Source{Name: "org/b.yaml", Data: []byte("lists: {}\n")}
	b1, err := NewBundle([]Source{a, b})
	if err != nil {
		t.Fatal(err)
	}
	b2, _ := NewBundle([]Source{b, a})
	if b1.Version != b2.Version || !strings.HasPrefix(b1.Version, "sha256:") || b1.Files[0].Name != "org/a.yaml" {
		t.Fatalf("order changed the bundle: %v %v", b1, b2)
	}
	// Moving bytes between name and content changes the version.
	c, _ := NewBundle([]Source{{Name: "org/a.yamlr", Data: []byte("ules: []\n")}, b})
	if c.Version == b1.Version {
		t.Fatal("a different bundle has the same version")
	}
	if e, _ := NewBundle(nil); e.Version != "" || len(e.Files) != 0 {
		t.Fatalf("empty bundle = %v", e)
	}
	if _, err := NewBundle([]Source{a, a}); err == nil || !strings.Contains(err.Error(), "two files named org/a.yaml") {
		t.Fatalf("duplicate names: %v", err)
	}
	if _, err := NewBundle([]Source{{Name: "big.yaml", Data: make([]byte, MaxBundleBytes+1)}}); err == nil {
		t.Fatal("an oversized bundle was made")
	}
	srcs, err := BundleSources(b1)
	if err != nil || len(srcs) != 2 || string(srcs[1].Data) != "lists: {}\n" {
		t.Fatalf("sources = %v, %v", srcs, err)
	}
	forged := &fwv1.RuleBundle{Version: b1.Version, Files: []*fwv1.RuleFile{{Name: "org/a.yaml", Data: []byte("rules: [x]\n")}}}
	if _, err := BundleSources(forged); err == nil || !strings.Contains(err.Error(), "digest") {
		t.Fatalf("forged bundle: %v", err)
	}
	if _, err := BundleSources(&fwv1.RuleBundle{Version: "x", Files: []*fwv1.RuleFile{{Data: []byte("a")}}}); err == nil {
		t.Fatal("nameless file accepted")
	}
	if srcs, err := BundleSources(&fwv1.RuleBundle{}); err != nil || srcs != nil {
		t.Fatalf("empty: %v %v", srcs, err)
	}
}
