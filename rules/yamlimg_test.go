package rules

import (
	"bytes"
	"os"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// TestBuiltinYAML: builtin.yamlimg holds exactly the built-in files, and
// the rule set loaded from it is the one loaded from the YAML, tests aside.
func TestBuiltinYAML(t *testing.T) {
	got, err := writeYAMLImage(Builtin())
	if err != nil {
		t.Fatal(err)
	}
	if *update {
		if err := os.WriteFile("builtin.yamlimg", got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	if !bytes.Equal(got, builtinYAML) {
		t.Fatalf("builtin.yamlimg is not current (%d bytes, want %d): go test ./rules -run TestBuiltinYAML -update", len(builtinYAML), len(got))
	}
	img := readYAMLImage(builtinYAML)
	for _, src := range Builtin() {
		if imageNodes(img, src) == nil {
			t.Errorf("%s: not taken from the image", src.Name)
		}
	}
	fromImage, err := Load(Builtin(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	fromText, err := Load(Builtin(), Options{Tests: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(fromText.Rules) == 0 || len(fromImage.Rules) != len(fromText.Rules) {
		t.Fatalf("%d rules from the image, %d from the text", len(fromImage.Rules), len(fromText.Rules))
	}
	for i, r := range fromText.Rules {
		if len(r.Tests) == 0 {
			t.Errorf("%s: no tests loaded with Options.Tests", r.ID)
		}
		if d := cmp.Diff(r, fromImage.Rules[i], cmpopts.IgnoreUnexported(Rule{}), cmpopts.IgnoreFields(Rule{}, "Tests")); d != "" {
			t.Errorf("rule %s differs (-text +image):\n%s", r.ID, d)
		}
	}
	if d := cmp.Diff(fromText.ListNames(), fromImage.ListNames()); d != "" {
		t.Errorf("lists differ: %s", d)
	}
	for name, l := range fromText.Lists {
		li := fromImage.Lists[name]
		if li == nil || l.Len() != li.Len() || l.Line != li.Line || l.Description != li.Description {
			t.Errorf("list %s differs", name)
		}
	}
}

// TestYAMLImageEdited: a built-in file whose text is not the one imaged is
// parsed from its text, and a damaged image is ignored whole.
func TestYAMLImageEdited(t *testing.T) {
	img := readYAMLImage(builtinYAML)
	src := Builtin()[0]
	edited := src
	edited.Data = append(bytes.Clone(src.Data), []byte("\n# edited\n")...)
	if imageNodes(img, edited) != nil {
		t.Fatal("an edited file was taken from the image")
	}
	renamed := src
	renamed.Name = "builtin:other.yaml"
	if imageNodes(img, renamed) != nil {
		t.Fatal("a file was taken from the image under another name")
	}
	for _, bad := range [][]byte{nil, []byte("fwyaml0\n"), builtinYAML[:len(builtinYAML)/2], append(bytes.Clone(builtinYAML), 0xff)} {
		if m := readYAMLImage(bad); m != nil {
			t.Errorf("a damaged image of %d bytes was read", len(bad))
		}
	}
}

// TestNodeDecoderHostile: trees that lie about their sizes or nest without
// end are refused, not followed.
func TestNodeDecoderHostile(t *testing.T) {
	deep := []byte{}
	for range maxImageDepth + 2 {
		deep = append(deep, 2, 0, 1, 1, 0, 0, 1) // a sequence node with one child
	}
	for name, b := range map[string][]byte{
		"empty":           nil,
		"truncated":       {2, 0, 1},
		"string too long": {8, 0, 1, 1, 0, 200, 'x'},
		"too many kids":   {2, 0, 1, 1, 0, 0, 100},
		"too deep":        deep,
	} {
		d := nodeDecoder{b: b}
		if n, err := d.node(0); err == nil {
			t.Errorf("%s: decoded %v", name, n)
		}
	}
}

func FuzzNodeDecoder(f *testing.F) {
	img := readYAMLImage(builtinYAML)
	for _, e := range img {
		f.Add(e.tree[:min(len(e.tree), 4096)])
	}
	f.Add([]byte{2, 0, 1, 1, 0, 0, 100})
	f.Fuzz(func(t *testing.T, b []byte) {
		d := nodeDecoder{b: b}
		d.node(0)
	})
}
