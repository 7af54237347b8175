// Package rules loads, type-checks and evaluates farmwatch rules: YAML files
// of shared lists, rules with CEL conditions over the typed observations of
// proto/farmwatch/v1, and organisation exceptions. The format is described
// in README.md beside this file. The built-in rule files are embedded.
//
// Rules are compiled once; evaluation is bounded by a CEL cost limit per
// call. The agent and the collector evaluate the same Set.
package rules

import (
	"embed"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"time"

	"cel.dev/cel-go/cel"
	fwv1 "github.com/farmwatch/farmwatch/proto/farmwatch/v1"
)

//go:embed *.yaml
var builtin embed.FS

// Source is one rule file.
type Source struct {
	Name string // file name for messages
	Data []byte

	builtin bool // embedded in the binary: every rule must carry tests
}

// Builtin returns the built-in rule files, sorted by name.
func Builtin() []Source {
	ents, err := fs.ReadDir(builtin, ".")
	if err != nil {
		return nil // unreachable: the embed is part of the binary
	}
	var out []Source
	for _, e := range ents {
		b, err := builtin.ReadFile(e.Name())
		if err != nil {
			continue
		}
		out = append(out, Source{Name: "builtin:" + e.Name(), Data: b, builtin: true})
	}
	return out
}

// ReadDir returns the *.yaml and *.yml files of dir, sorted by name.
func ReadDir(dir string) ([]Source, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("rules %s: %w", dir, err)
	}
	var out []Source
	for _, e := range ents {
		n := e.Name()
		if e.IsDir() || !slices.Contains([]string{".yaml", ".yml"}, filepath.Ext(n)) {
			continue
		}
		p := filepath.Join(dir, n)
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, fmt.Errorf("rules %s: %w", p, err)
		}
		out = append(out, Source{Name: p, Data: b})
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("rules %s: no .yaml or .yml files", dir)
	}
	return out, nil
}

// Rule is one compiled rule.
type Rule struct {
	ID          string
	Title       string
	Severity    fwv1.Severity
	Scope       string
	Description string
	Tags        []string
	Sources     []string
	When        string
	Label       string
	Message     string
	Evidence    string
	Qualifier   string // a word the verdict adds after the label: "unattended"
	File        string
	Line        int
	Tests       []Test

	when, label, message, evidence cel.Program
	exceptions                     []*Exception
}

// Exception is one organisation exception.
type Exception struct {
	ID      string
	Rules   []string
	Reason  string
	When    string
	Expires time.Time // zero: never
	File    string
	Line    int

	scope string
	when  cel.Program
}

// Set is a loaded, compiled set of lists, rules and exceptions.
type Set struct {
	Lists      map[string]*List
	Rules      []*Rule // in load order
	Exceptions []*Exception

	byID    map[string]*Rule
	byScope map[string][]*Rule
	host    []*Rule
	fleet   []*Rule
	// hostReads is the kinds whose lists the host rules read (hostReadsOf).
	hostReads map[string]bool
	envs      *envs
	now       func() time.Time
}

// Rule returns the rule with the id, or nil.
func (s *Set) Rule(id string) *Rule { return s.byID[id] }

// ListNames returns the names of the lists, sorted.
func (s *Set) ListNames() []string { return slices.Sorted(maps.Keys(s.Lists)) }
