package rules

import (
	"cmp"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"

	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/common/types/ref"
)

// Match is how a list's values are compared with a string.
type Match string

// The ways a list matches; all are ASCII case-insensitive.
const (
	MatchExact  Match = "exact"
	MatchPrefix Match = "prefix"
	MatchGlob   Match = "glob"
)

// List is a shared list of values with labels, compiled for lookups whose
// cost does not grow with the number of values: exact values in a hash map,
// prefixes and globs indexed by their literal prefix (or suffix) lengths.
type List struct {
	Name        string
	Description string
	Match       Match
	Sources     []string
	File        string
	Line        int

	n      int
	labels map[string]bool
	exact  map[string]string // exact and prefix values -> label

	prefixLens []int // distinct prefix lengths, longest first

	globPrefix    *trieNode // globs by their literal prefix
	globBySuffix  map[string][]glob
	globSuffixLen []int
	globOther     []glob // neither a literal prefix nor suffix: "*x*"
}

// trieNode indexes globs by the bytes of their literal prefix: a lookup
// walks the input once and tries only the globs whose prefix it passed. It
// is path-compressed (a radix tree): a node's edge holds the bytes from its
// parent, so a long prefix costs one node, not one per byte.
type trieNode struct {
	edge  string // the bytes from the parent; empty at the root
	keys  []byte // the first byte of each kid's edge, sorted
	kids  []*trieNode
	globs []glob // globs whose literal prefix ends here
}

// child returns the kid whose edge starts with c, or nil.
func (t *trieNode) child(c byte) *trieNode {
	for i, k := range t.keys {
		if k == c {
			return t.kids[i]
		}
		if k > c {
			break
		}
	}
	return nil
}

func (t *trieNode) insert(prefix string, g glob) {
	n := t
	for i := 0; i < len(prefix); {
		c := prefix[i]
		j, found := slices.BinarySearch(n.keys, c)
		if !found {
			leaf := &trieNode{edge: prefix[i:], globs: []glob{g}}
			n.keys = slices.Insert(n.keys, j, c)
			n.kids = slices.Insert(n.kids, j, leaf)
			return
		}
		k := n.kids[j]
		m := commonPrefixLen(k.edge, prefix[i:])
		if m < len(k.edge) { // split k's edge where the prefix leaves it
			mid := &trieNode{edge: k.edge[:m], keys: []byte{k.edge[m]}, kids: []*trieNode{k}}
			k.edge = k.edge[m:]
			n.kids[j] = mid
			k = mid
		}
		i += m
		n = k
	}
	n.globs = append(n.globs, g)
}

func commonPrefixLen(a, b string) int {
	n := min(len(a), len(b))
	for i := 0; i < n; i++ {
		if a[i] != b[i] {
			return i
		}
	}
	return n
}

type glob struct {
	pat   string
	label string
	lit   int // literal characters, for "best match"
}

// ListType is the CEL type of a list.
var ListType = types.NewOpaqueType("farmwatch.List")

func newList(name string, m Match, values [][2]string) (*List, error) {
	l := &List{Name: name, Match: m, labels: map[string]bool{}, exact: map[string]string{}}
	lens := map[int]bool{}
	gs := map[int]bool{}
	for _, vl := range values {
		v, label := lower(vl[0]), cmp.Or(vl[1], vl[0])
		if v == "" {
			return nil, fmt.Errorf("list %s: empty value", name)
		}
		l.labels[label] = true
		l.n++
		switch m {
		case MatchExact, MatchPrefix:
			if old, dup := l.exact[v]; dup && old != label {
				return nil, fmt.Errorf("list %s: value %q has two labels, %q and %q", name, vl[0], old, label)
			}
			l.exact[v] = label
			lens[len(v)] = true
		case MatchGlob:
			g := glob{pat: v, label: label, lit: len(v) - strings.Count(v, "*") - strings.Count(v, "?")}
			pre := v[:wildIndex(v)]
			suf := v[lastWildIndex(v)+1:]
			switch {
			case pre != "":
				if l.globPrefix == nil {
					l.globPrefix = &trieNode{}
				}
				l.globPrefix.insert(pre, g)
			case suf != "":
				if l.globBySuffix == nil {
					l.globBySuffix = map[string][]glob{}
				}
				l.globBySuffix[suf] = append(l.globBySuffix[suf], g)
				gs[len(suf)] = true
			default:
				l.globOther = append(l.globOther, g)
			}
		default:
			return nil, fmt.Errorf("list %s: match %q: want exact, prefix or glob", name, m)
		}
	}
	l.prefixLens = sortedDesc(lens)
	l.globSuffixLen = sortedDesc(gs)
	return l, nil
}

func sortedDesc(m map[int]bool) []int {
	out := slices.Sorted(maps.Keys(m))
	slices.Reverse(out)
	return out
}

func wildIndex(s string) int {
	if i := strings.IndexAny(s, "*?"); i >= 0 {
		return i
	}
	return len(s)
}

func lastWildIndex(s string) int { return strings.LastIndexAny(s, "*?") }

// lower lower-cases ASCII letters, without allocating when there are none.
func lower(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; 'A' <= c && c <= 'Z' {
			b := []byte(s)
			for j := i; j < len(b); j++ {
				if c := b[j]; 'A' <= c && c <= 'Z' {
					b[j] = c + 'a' - 'A'
				}
			}
			return string(b)
		}
	}
	return s
}

// Len is the number of values.
func (l *List) Len() int { return l.n }

// Contains reports whether s matches a value.
func (l *List) Contains(s string) bool {
	_, ok := l.lookup(s)
	return ok
}

// Lookup returns the label of the best (longest) matching value, or "".
func (l *List) Lookup(s string) string {
	v, _ := l.lookup(s)
	return v
}

// HasLabel reports whether some value carries label.
func (l *List) HasLabel(label string) bool { return l.labels[label] }

func (l *List) lookup(s string) (string, bool) {
	if s == "" {
		return "", false
	}
	s = lower(s)
	switch l.Match {
	case MatchExact:
		v, ok := l.exact[s]
		return v, ok
	case MatchPrefix:
		for _, n := range l.prefixLens {
			if n <= len(s) {
				if v, ok := l.exact[s[:n]]; ok {
					return v, true
				}
			}
		}
		return "", false
	}
	best, found := glob{lit: -1}, false
	try := func(gs []glob) {
		for _, g := range gs {
			if g.lit > best.lit && wildMatch(g.pat, s) {
				best, found = g, true
			}
		}
	}
	for n, i := l.globPrefix, 0; n != nil; {
		try(n.globs)
		if i == len(s) {
			break
		}
		n = n.child(s[i])
		if n == nil || !strings.HasPrefix(s[i:], n.edge) {
			break
		}
		i += len(n.edge)
	}
	for _, n := range l.globSuffixLen {
		if n <= len(s) {
			try(l.globBySuffix[s[len(s)-n:]])
		}
	}
	try(l.globOther)
	return best.label, found
}

// wildMatch matches s against a pattern where '*' is any run of bytes and
// '?' any one byte. It backtracks only to the last '*', so it is linear in
// practice and never exponential.
func wildMatch(pat, s string) bool {
	p, i := 0, 0
	star, mark := -1, 0
	for i < len(s) {
		switch {
		case p < len(pat) && pat[p] == '*': // a wildcard, even where s has a '*'
			star, mark = p, i
			p++
		case p < len(pat) && (pat[p] == '?' || pat[p] == s[i]):
			p++
			i++
		case star >= 0:
			p = star + 1
			mark++
			i = mark
		default:
			return false
		}
	}
	for p < len(pat) && pat[p] == '*' {
		p++
	}
	return p == len(pat)
}

// CEL value plumbing: a *List is an opaque CEL value.

// ConvertToNative implements ref.Val.
func (l *List) ConvertToNative(t reflect.Type) (any, error) {
	if reflect.TypeOf(l).AssignableTo(t) {
		return l, nil
	}
	return nil, fmt.Errorf("list %s: no conversion to %v", l.Name, t)
}

// ConvertToType implements ref.Val.
func (l *List) ConvertToType(t ref.Type) ref.Val {
	if t == ListType {
		return l
	}
	return types.NewErr("list %s: no conversion to %v", l.Name, t)
}

// Equal implements ref.Val.
func (l *List) Equal(o ref.Val) ref.Val { return types.Bool(o == ref.Val(l)) }

// Type implements ref.Val.
func (l *List) Type() ref.Type { return ListType }

// Value implements ref.Val.
func (l *List) Value() any { return l }
