package rules

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"unsafe"

	_ "embed"

	"go.yaml.in/yaml/v3"
)

// builtinYAML holds the built-in rule files already parsed: each file's
// YAML node tree, without the rules' tests, in a compact binary form. A
// helpdesk scan loads the rules every time it starts, and parsing the YAML
// was most of that (about 15 ms of 27 on two cores); decoding the tree is
// a small part of it, and its strings are the image's own bytes, which the
// binary holds read-only.
//
// A file is taken from the image only when its name and SHA-256 match the
// embedded YAML exactly, so an edited rule file is parsed from its text
// (and TestBuiltinYAML fails until the image is made again):
//
//	go test ./rules -run TestBuiltinYAML -update
//
// The tests are left out: Options.Tests loads every file from its text.
//
// The format: "fwyaml1\n", then for each file: uvarint name length, name,
// the 32-byte SHA-256 of its text, uvarint length and the encoded tree.
// A node is: kind byte, style byte, uvarint line, uvarint column, tag,
// value (uvarint length and bytes), uvarint number of children, children.
//
//go:generate go test -run TestBuiltinYAML -update .
//go:embed builtin.yamlimg
var builtinYAML []byte

const yamlImgMagic = "fwyaml1\n"

// yamlImage is one file of the image.
type yamlImage struct {
	sum  [32]byte
	tree []byte
}

// readYAMLImage indexes an image by file name; nil when it is malformed
// (every file is then parsed from its text).
func readYAMLImage(b []byte) map[string]yamlImage {
	rest, ok := bytes.CutPrefix(b, []byte(yamlImgMagic))
	if !ok {
		return nil
	}
	m := map[string]yamlImage{}
	for len(rest) > 0 {
		name, r, ok := field(rest)
		if !ok || len(r) < 32 {
			return nil
		}
		var img yamlImage
		copy(img.sum[:], r[:32])
		if img.tree, rest, ok = field(r[32:]); !ok {
			return nil
		}
		m[string(name)] = img
	}
	return m
}

// field cuts a uvarint-length-prefixed field off b.
func field(b []byte) (f, rest []byte, ok bool) {
	n, k := binary.Uvarint(b)
	if k <= 0 || n > uint64(len(b)-k) {
		return nil, nil, false
	}
	return b[k : k+int(n)], b[k+int(n):], true
}

// imageNodes returns the node tree of a built-in file from the image, or
// nil when the image does not hold this very file.
func imageNodes(img map[string]yamlImage, src Source) *yaml.Node {
	e, ok := img[src.Name]
	if !ok || sha256.Sum256(src.Data) != e.sum {
		return nil
	}
	d := nodeDecoder{b: e.tree}
	n, err := d.node(0)
	if err != nil || len(d.b) != 0 {
		return nil
	}
	return n
}

// maxImageDepth bounds the nesting an image may hold: rule files are a
// few levels deep.
const maxImageDepth = 64

type nodeDecoder struct{ b []byte }

func (d *nodeDecoder) uvarint() (uint64, error) {
	n, k := binary.Uvarint(d.b)
	if k <= 0 {
		return 0, errors.New("bad number")
	}
	d.b = d.b[k:]
	return n, nil
}

// str returns a string that shares the image's bytes.
func (d *nodeDecoder) str() (string, error) {
	f, rest, ok := field(d.b)
	if !ok {
		return "", errors.New("bad string")
	}
	d.b = rest
	if len(f) == 0 {
		return "", nil
	}
	return unsafe.String(&f[0], len(f)), nil
}

func (d *nodeDecoder) node(depth int) (*yaml.Node, error) {
	if depth > maxImageDepth {
		return nil, errors.New("too deep")
	}
	if len(d.b) < 2 {
		return nil, errors.New("truncated")
	}
	n := &yaml.Node{Kind: yaml.Kind(d.b[0]), Style: yaml.Style(d.b[1])}
	d.b = d.b[2:]
	line, err := d.uvarint()
	if err != nil {
		return nil, err
	}
	col, err := d.uvarint()
	if err != nil {
		return nil, err
	}
	n.Line, n.Column = int(line), int(col)
	if n.Tag, err = d.str(); err != nil {
		return nil, err
	}
	if n.Value, err = d.str(); err != nil {
		return nil, err
	}
	kids, err := d.uvarint()
	if err != nil {
		return nil, err
	}
	if kids > uint64(len(d.b)) { // each child takes bytes
		return nil, errors.New("bad child count")
	}
	if kids > 0 {
		n.Content = make([]*yaml.Node, kids)
		for i := range n.Content {
			if n.Content[i], err = d.node(depth + 1); err != nil {
				return nil, err
			}
		}
	}
	return n, nil
}

// appendNode encodes a node tree.
func appendNode(out []byte, n *yaml.Node) []byte {
	out = append(out, byte(n.Kind), byte(n.Style))
	out = binary.AppendUvarint(out, uint64(n.Line))
	out = binary.AppendUvarint(out, uint64(n.Column))
	out = binary.AppendUvarint(out, uint64(len(n.Tag)))
	out = append(out, n.Tag...)
	out = binary.AppendUvarint(out, uint64(len(n.Value)))
	out = append(out, n.Value...)
	out = binary.AppendUvarint(out, uint64(len(n.Content)))
	for _, c := range n.Content {
		out = appendNode(out, c)
	}
	return out
}

// withoutTests returns a rule file's root mapping without its rules'
// tests: the key and its value are dropped from each rule's mapping.
func withoutTests(root *yaml.Node) *yaml.Node {
	cp := *root
	cp.Content = append([]*yaml.Node(nil), root.Content...)
	for i := 0; i+1 < len(cp.Content); i += 2 {
		if cp.Content[i].Value != "rules" || cp.Content[i+1].Kind != yaml.SequenceNode {
			continue
		}
		seq := *cp.Content[i+1]
		seq.Content = nil
		for _, r := range cp.Content[i+1].Content {
			rc := *r
			rc.Content = nil
			for j := 0; j+1 < len(r.Content); j += 2 {
				if r.Content[j].Value == "tests" {
					continue
				}
				rc.Content = append(rc.Content, r.Content[j], r.Content[j+1])
			}
			seq.Content = append(seq.Content, &rc)
		}
		cp.Content[i+1] = &seq
	}
	return &cp
}

// writeYAMLImage makes the image of rule files, which must parse.
func writeYAMLImage(srcs []Source) ([]byte, error) {
	out := []byte(yamlImgMagic)
	for _, src := range srcs {
		var doc yaml.Node
		if err := yaml.Unmarshal(src.Data, &doc); err != nil {
			return nil, fmt.Errorf("%s: %w", src.Name, err)
		}
		if len(doc.Content) == 0 {
			return nil, fmt.Errorf("%s: empty", src.Name)
		}
		if hasAlias(doc.Content[0]) {
			return nil, fmt.Errorf("%s: an alias (*name): the image cannot hold one", src.Name)
		}
		tree := appendNode(nil, withoutTests(doc.Content[0]))
		sum := sha256.Sum256(src.Data)
		out = binary.AppendUvarint(out, uint64(len(src.Name)))
		out = append(out, src.Name...)
		out = append(out, sum[:]...)
		out = binary.AppendUvarint(out, uint64(len(tree)))
		out = append(out, tree...)
	}
	return out, nil
}

func hasAlias(n *yaml.Node) bool {
	if n.Kind == yaml.AliasNode {
		return true
	}
	for _, c := range n.Content {
		if hasAlias(c) {
			return true
		}
	}
	return false
}
