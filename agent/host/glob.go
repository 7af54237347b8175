package host

import (
	"fmt"
	"path"
	"path/filepath"
	"sort"
	"strings"
)

// Glob returns the host paths matching a slash pattern (path.Match syntax in
// each element), sorted. On a --root directory or a snapshot, the pattern
// is matched inside the tree, as filepath.Glob would match it there: the
// directories before the first wildcard are resolved through the tree's
// links, and so is every directory that a wildcard lists.
func (h *Host) Glob(pattern string) ([]string, error) {
	clean, err := hostPath(pattern)
	if err != nil {
		return nil, err
	}
	if _, err := path.Match(clean, ""); err != nil {
		return nil, fmt.Errorf("glob %s: %w", pattern, err)
	}
	var out []string
	if h.live {
		ms, err := filepath.Glob(h.livePath(clean))
		if err != nil {
			return nil, fmt.Errorf("glob %s: %w", pattern, err)
		}
		for _, m := range ms {
			if h.root == "" {
				out = append(out, filepath.ToSlash(m))
			} else if r, err := filepath.Rel(h.root, m); err == nil {
				out = append(out, "/"+filepath.ToSlash(r))
			}
		}
	} else {
		out = h.glob(clean)
	}
	sort.Strings(out)
	return out, nil
}

func hasMeta(s string) bool { return strings.ContainsAny(s, `*?[\`) }

// glob matches a clean, valid pattern inside a --root directory or a
// snapshot's tree.
func (h *Host) glob(pattern string) []string {
	dir, file := path.Split(pattern)
	dir = path.Clean(dir)
	var dirs []string
	if hasMeta(dir) {
		dirs = h.glob(dir)
	} else if d, ok := h.resolveDir(dir); ok {
		dirs = []string{d}
	}
	var out []string
	for _, d := range dirs {
		if !hasMeta(file) {
			if p := path.Join(d, file); h.exists(p) {
				out = append(out, p)
			}
			continue
		}
		ents, err := h.ReadDir(d)
		if err != nil {
			continue
		}
		for _, e := range ents {
			if ok, _ := path.Match(file, e.Name); ok {
				out = append(out, path.Join(d, e.Name))
			}
		}
	}
	return out
}
