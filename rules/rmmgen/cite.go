package main

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// maxCatalogueRefs bounds the upstream references a list names for the
// indicator-catalogue rows behind its values, so that its sources stay
// readable.
const maxCatalogueRefs = 12

// catalogueRefs returns the upstream sources of the indicator-catalogue rows
// whose values are in list l: each row's own source, split into its
// references, without those of the LOLRMM catalogue (the list cites it
// already, at its commit), deduplicated and sorted. Past maxCatalogueRefs
// the rest are counted, not named.
func catalogueRefs(res *result, l listID) []string {
	seen := map[string]bool{}
	for _, e := range res.lists[l] {
		for o := range e.origins {
			n, ok := strings.CutPrefix(o, "indicators#")
			if !ok {
				continue
			}
			row, err := strconv.Atoi(n)
			if err != nil {
				continue
			}
			for _, ref := range splitRefs(res.rowSources[row]) {
				if !strings.Contains(ref, "magicsword-io/LOLRMM") {
					seen[ref] = true
				}
			}
		}
	}
	refs := make([]string, 0, len(seen))
	for r := range seen {
		refs = append(refs, r)
	}
	slices.Sort(refs)
	if len(refs) > maxCatalogueRefs {
		more := len(refs) - maxCatalogueRefs
		refs = append(refs[:maxCatalogueRefs], fmt.Sprintf("and %d more references of the indicator catalogue's rows", more))
	}
	return refs
}

// splitRefs splits a catalogue source into its references. References are
// separated by ';' outside parentheses; a part that starts with a bare path
// or file name ("repo X: a.go; b.go") continues the reference before it.
func splitRefs(src string) []string {
	var parts []string
	depth, start := 0, 0
	for i := 0; i < len(src); i++ {
		switch src[i] {
		case '(':
			depth++
		case ')':
			depth = max(depth-1, 0)
		case ';':
			if depth == 0 {
				parts = append(parts, src[start:i])
				start = i + 1
			}
		}
	}
	parts = append(parts, src[start:])
	var out []string
	for _, p := range parts {
		p = strings.TrimSpace(p)
		if p == "" {
			continue
		}
		if first := strings.Fields(p)[0]; len(out) > 0 && strings.ContainsAny(first, "/.") && !strings.HasSuffix(first, ":") {
			out[len(out)-1] += "; " + p
			continue
		}
		out = append(out, p)
	}
	return out
}
