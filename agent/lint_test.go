package main

import (
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestPackagesHaveDocs fails for any package of the module without a doc
// comment, and for imports that must never exist: agent code importing
// collector code (and the reverse), and zerolog's global logger.
func TestPackagesHaveDocs(t *testing.T) {
	docs := map[string]bool{}
	seen := map[string]bool{}
	err := filepath.WalkDir("..", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if n := d.Name(); n == "testdata" || n == "tools" || n == "bin" || (strings.HasPrefix(n, ".") && p != "..") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(p, ".go") || strings.HasSuffix(p, "_test.go") || strings.HasSuffix(p, ".pb.go") {
			return nil
		}
		f, err := parser.ParseFile(token.NewFileSet(), p, nil, parser.ParseComments|parser.ImportsOnly)
		if err != nil {
			return err
		}
		dir := filepath.ToSlash(filepath.Dir(p))
		seen[dir] = true
		if f.Doc != nil && strings.TrimSpace(f.Doc.Text()) != "" {
			docs[dir] = true
		}
		for _, imp := range f.Imports {
			path, _ := strconv.Unquote(imp.Path.Value)
			switch {
			case path == "github.com/rs/zerolog/log":
				t.Errorf("%s imports zerolog's global logger; pass a logger down", p)
			case strings.HasPrefix(dir, "../agent") && strings.HasPrefix(path, "github.com/farmwatch/farmwatch/collector"):
				t.Errorf("%s: agent code imports collector code (%s)", p, path)
			case strings.HasPrefix(dir, "../collector") && strings.HasPrefix(path, "github.com/farmwatch/farmwatch/agent/") && !strings.HasPrefix(path, "github.com/farmwatch/farmwatch/agent/scan"):
				t.Errorf("%s: collector code imports agent internals (%s)", p, path)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for dir := range seen {
		if !docs[dir] {
			t.Errorf("package %s has no doc comment", dir)
		}
	}
}
