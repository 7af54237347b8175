package rules

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
)

// TestGlobTrieMatchesScan checks the glob index against trying every glob:
// a lookup finds a match exactly when one exists, with the most literal
// characters.
func TestGlobTrieMatchesScan(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	word := func(n int, alpha string) string {
		b := make([]byte, r.IntN(n+1))
		for i := range b {
			b[i] = alpha[r.IntN(len(alpha))]
		}
		return string(b)
	}
	var values [][2]string
	for i := range 300 {
		v := word(6, "abc/") + []string{"*", "?", "", "*x", "?*"}[r.IntN(5)] + word(3, "abc")
		if v == "" {
			continue
		}
		values = append(values, [2]string{v, fmt.Sprint("label", i)})
	}
	l, err := newList("t", MatchGlob, values)
	if err != nil {
		t.Fatal(err)
	}
	for range 5000 {
		s := word(9, "abc/x")
		if s == "" {
			continue // an empty string matches nothing
		}
		best, labels := -1, map[string]bool{}
		for _, v := range values {
			g := lower(v[0])
			if !wildMatch(g, lower(s)) {
				continue
			}
			lit := len(g) - strings.Count(g, "*") - strings.Count(g, "?")
			if lit > best {
				best, labels = lit, map[string]bool{}
			}
			if lit == best {
				labels[v[1]] = true
			}
		}
		got, ok := l.lookup(s)
		if ok != (best >= 0) || (ok && !labels[got]) {
			t.Fatalf("lookup(%q) = %q, %v; want one of %v", s, got, ok, labels)
		}
	}
}
