package main

import (
	"cmp"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"
)

// entry is one value of one list.
type entry struct {
	label   string
	origins map[string]bool  // "lolrmm:anydesk.yaml", "indicators#12", "extra:AnyDesk"
	files   map[string]osSet // LOLRMM files that contributed it under its label, with their systems
	os      osSet
}

// drop is a value the generator refused, with where it came from.
type drop struct {
	kind   string // "name", "path", "service", ...
	value  string
	label  string
	origin string
	reason string
}

// conflict is a value that two labels claimed, resolved by conflictWinner.
type conflict struct {
	list  listID
	value string
	note  string
}

// toolCov is what one LOLRMM tool contributed.
type toolCov struct {
	file, name, label string
	raw               int             // values read from its file
	usable            bool            // produced at least one value
	lists             map[listID]bool // lists where a value of its own kept its label
	os                osSet           // systems of those values
}

type result struct {
	lists     [nLists]map[string]*entry
	drops     []drop
	conflicts []conflict
	tools     []*toolCov
	// rowSources is the upstream source of each catalogue row used, by
	// row number, for the lists' sources and the coverage summary.
	rowSources map[int]string
	extras     int
}

type builder struct {
	res        *result
	unresolved []string
}

func (b *builder) add(it item, label, origin, file string) {
	if w, ok := relabel[it.value]; ok && w != label {
		b.res.conflicts = append(b.res.conflicts, conflict{it.list, it.value,
			fmt.Sprintf("relabelled %q (%s) as %q", label, origin, w)})
		label = w
	}
	m := b.res.lists[it.list]
	if m == nil {
		m = map[string]*entry{}
		b.res.lists[it.list] = m
	}
	e := m[it.value]
	if e == nil {
		e = &entry{label: label, origins: map[string]bool{}, files: map[string]osSet{}}
		m[it.value] = e
	}
	if e.label != label {
		w, ok := conflictWinner[it.value]
		switch {
		case !ok:
			b.unresolved = append(b.unresolved, fmt.Sprintf("%s %q: %q (%s) and %q (%s)",
				it.list, it.value, e.label, strings.Join(sortedKeys(e.origins), ", "), label, origin))
			return
		case w == label:
			b.res.conflicts = append(b.res.conflicts, conflict{it.list, it.value,
				fmt.Sprintf("%q (%s) wins over %q (%s)", label, origin, e.label, strings.Join(sortedKeys(e.origins), ", "))})
			e.label, e.origins, e.files = label, map[string]bool{}, map[string]osSet{}
		case w == e.label:
			b.res.conflicts = append(b.res.conflicts, conflict{it.list, it.value,
				fmt.Sprintf("%q (%s) wins over %q (%s)", e.label, strings.Join(sortedKeys(e.origins), ", "), label, origin)})
			return
		default:
			b.unresolved = append(b.unresolved, fmt.Sprintf("%s %q: winner %q is neither %q nor %q", it.list, it.value, w, e.label, label))
			return
		}
	}
	e.origins[origin] = true
	if file != "" {
		e.files[file] |= it.os
	}
	e.os |= it.os
}

func (b *builder) drop(kind string, d []dropped, label, origin string) {
	for _, x := range d {
		b.res.drops = append(b.res.drops, drop{kind, x.value, label, origin, x.reason})
	}
}

// build turns the three inputs into the lists.
func build(tools []tool, rows []row, extra []extraEntry) (*result, error) {
	b := &builder{res: &result{rowSources: map[int]string{}}}
	for _, t := range tools {
		b.addTool(t)
	}
	for _, r := range rows {
		if err := b.addRow(r); err != nil {
			return nil, err
		}
	}
	for _, e := range extra {
		b.addExtra(e)
	}
	if len(b.unresolved) > 0 {
		return nil, fmt.Errorf("values claimed by two labels (add an alias or a conflictWinner):\n  %s", strings.Join(b.unresolved, "\n  "))
	}
	b.coverage()
	slices.SortStableFunc(b.res.drops, func(x, y drop) int {
		return cmp.Or(cmp.Compare(x.kind, y.kind), cmp.Compare(x.value, y.value), cmp.Compare(x.origin, y.origin))
	})
	b.res.drops = slices.Compact(b.res.drops)
	var missing []string
	for _, t := range b.res.tools {
		if t.usable && len(t.lists) == 0 {
			missing = append(missing, t.file+" ("+t.label+")")
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("LOLRMM tools with usable values but no value under their label: %s", strings.Join(missing, ", "))
	}
	return b.res, nil
}

func (b *builder) addTool(t tool) {
	label := labelFor(t.Name)
	origin := "lolrmm:" + t.File
	sup := supportedOS(t.SupportedOS)
	cov := &toolCov{file: t.File, name: t.Name, label: label, lists: map[listID]bool{}}
	b.res.tools = append(b.res.tools, cov)
	use := func(kind string, items []item, drops []dropped) {
		if len(items)+len(drops) > 0 {
			cov.raw++
		}
		for _, it := range items {
			cov.usable = true
			b.add(it, label, origin, t.File)
		}
		b.drop(kind, drops, label, origin)
	}
	for _, pe := range t.PE {
		if pe.Filename != "" {
			it, dr := classifyName(pe.Filename, posixOf(sup))
			use("name", it, dr)
		}
		it, dr := classifyOriginal(pe.OriginalFileName, pe.Filename)
		use("original_filename", it, dr)
		if o := pe.OriginalFileName; len(it) > 0 && ext(o) == "exe" && !strings.EqualFold(o, pe.Filename) {
			// Not renamed, the original file name is also the image name.
			it, dr := classifyName(o, osWindows)
			use("name", it, dr)
		}
	}
	for _, p := range t.Paths {
		it, dr := classifyInstallPath(p, sup)
		use("path", it, dr)
	}
	for _, s := range t.Services {
		it, dr := classifyService(s)
		use("service", it, dr)
	}
	for _, u := range t.Units {
		it, dr := classifyUnit(u)
		use("service", it, dr)
	}
	for _, l := range t.Launchd {
		it, dr := classifyLaunchd(l)
		use("service", it, dr)
	}
	for _, n := range t.DarwinNames {
		it, dr := classifyName(n, osDarwin)
		use("name", it, dr)
	}
}

var parenGroup = regexp.MustCompile(`\s*\([^()]*\)`)

// catalogItems splits an indicator-catalogue match ("a; b (note); 'c'") into
// its alternatives; "x -> y" (a parent and its child) gives both.
func catalogItems(match string, keepParens bool) []string {
	var out []string
	for _, part := range strings.Split(match, ";") {
		for _, p := range strings.Split(part, "->") {
			p = strings.TrimSpace(p)
			if keepParens {
				// Only a note after the last separator: keep "(x86)" and "(<id>)".
				if i := strings.LastIndexAny(p, `\/`); i >= 0 {
					p = p[:i+1] + parenGroup.ReplaceAllString(p[i+1:], "")
				}
			} else {
				p = parenGroup.ReplaceAllString(p, "")
			}
			p = strings.Trim(strings.TrimSpace(p), `'"`)
			if p != "" {
				out = append(out, p)
			}
		}
	}
	return out
}

func platformOS(p string) osSet {
	switch p {
	case "windows":
		return osWindows
	case "macos":
		return osDarwin
	case "linux":
		return osLinux
	}
	return 0
}

// addRow adds one indicator-catalogue row of kind process, service, launchd
// or path. Inferred and low-confidence rows are not used.
func (b *builder) addRow(r row) error {
	switch r.Kind {
	case "process", "service", "launchd", "path":
	default:
		return nil
	}
	origin := fmt.Sprintf("indicators#%d", r.N)
	if r.Inferred || r.Confidence == "low" {
		b.res.drops = append(b.res.drops, drop{r.Kind, r.Match, r.Tool, origin, "inferred or low-confidence row"})
		return nil
	}
	label, ok := catalogLabel(r.Tool)
	if !ok {
		return fmt.Errorf("indicator catalogue row %d: tool %q has no label (add it to aliases)", r.N, r.Tool)
	}
	os := platformOS(r.Platform)
	if os == 0 {
		return fmt.Errorf("indicator catalogue row %d: platform %q", r.N, r.Platform)
	}
	b.res.rowSources[r.N] = r.Source
	use := func(kind string, items []item, drops []dropped) {
		for _, it := range items {
			b.add(it, label, origin, "")
		}
		b.drop(kind, drops, label, origin)
	}
	for _, s := range catalogItems(r.Match, r.Kind == "path") {
		switch r.Kind {
		case "process":
			name := s
			if !strings.HasSuffix(lowerASCII(s), ".exe") {
				name = strings.Fields(s)[0]
			}
			it, dr := classifyName(name, os)
			use("name", it, dr)
		case "service":
			switch {
			case os == osWindows:
				it, dr := classifyService(s)
				use("service", it, dr)
			case strings.HasPrefix(s, "process "):
				for _, n := range strings.Split(strings.TrimPrefix(s, "process "), ",") {
					it, dr := classifyName(strings.TrimSpace(n), os)
					use("name", it, dr)
				}
			case os == osLinux:
				it, dr := classifyUnit(s)
				use("service", it, dr)
			default:
				b.drop("service", []dropped{{s, "not a service of a known manager"}}, label, origin)
			}
		case "launchd":
			switch {
			case strings.HasPrefix(s, "bundle id "):
				it, dr := classifyBundleID(strings.TrimPrefix(s, "bundle id "))
				use("bundle_id", it, dr)
			case strings.HasSuffix(lowerASCII(s), ".plist"):
				// The catalogue names the job by its plist; RustDesk builds the
				// label and the file name from one string (src/platform/macos.rs).
				base := s[strings.LastIndex(s, "/")+1:]
				it, dr := classifyLaunchd(strings.TrimSuffix(base, ".plist"))
				use("service", it, dr)
			default:
				b.drop("service", []dropped{{s, "not a launchd label"}}, label, origin)
			}
		case "path":
			var it []item
			var dr []dropped
			if os == osWindows {
				it, dr = classifyWindowsPath(s)
			} else {
				it, dr = classifyPosixPath(s, os)
			}
			use("path", it, dr)
		}
	}
	return nil
}

func (b *builder) addExtra(e extraEntry) {
	b.res.extras++
	origin := "extra:" + e.Label
	use := func(kind string, items []item, drops []dropped) {
		for _, it := range items {
			b.add(it, e.Label, origin, "")
		}
		b.drop(kind, drops, e.Label, origin)
	}
	for _, n := range e.ProcessNames {
		it, dr := classifyName(n, osPosix)
		use("name", it, dr)
	}
	for _, n := range e.ProcessNamesLin {
		it, dr := classifyName(n, osLinux)
		for i := range it {
			if it[i].list != lProcNames || it[i].os != osLinux {
				dr = append(dr, dropped{it[i].value, "process_names_linux takes plain Linux names (no extension, no wildcard)"})
				it = nil
				break
			}
			it[i].list = lProcNamesLinux
		}
		use("name", it, dr)
	}
	for _, n := range e.NameStems {
		it, dr := classifyStem(n, false)
		use("name_stem", it, dr)
	}
	for _, n := range e.NameSuffixes {
		it, dr := classifyStem(n, true)
		use("name_suffix", it, dr)
	}
	for _, n := range e.OriginalFilename {
		it, dr := classifyOriginal(n, "x.exe")
		use("original_filename", it, dr)
	}
	for _, n := range e.BundleIDs {
		it, dr := classifyBundleID(n)
		use("bundle_id", it, dr)
	}
	for _, p := range e.PathsWindows {
		it, dr := classifyWindowsPath(p)
		use("path", it, dr)
	}
	for _, p := range e.PathsDarwin {
		it, dr := classifyPosixPath(p, osDarwin)
		use("path", it, dr)
	}
	for _, p := range e.PathsLinux {
		it, dr := classifyPosixPath(p, osLinux)
		use("path", it, dr)
	}
	for _, s := range e.ServicesWindows {
		it, dr := classifyService(s)
		use("service", it, dr)
	}
	for _, u := range e.Units {
		it, dr := classifyUnit(u)
		use("service", it, dr)
	}
	for _, l := range e.Launchd {
		it, dr := classifyLaunchd(l)
		use("service", it, dr)
	}
}

// coverage records, per LOLRMM tool, the lists and systems where a value of
// its own kept its label.
func (b *builder) coverage() {
	byFile := map[string]*toolCov{}
	for _, t := range b.res.tools {
		byFile[t.file] = t
	}
	for l := listID(0); l < nLists; l++ {
		for _, e := range b.res.lists[l] {
			for f, os := range e.files {
				t := byFile[f]
				if t != nil && t.label == e.label {
					t.lists[l] = true
					t.os |= os
				}
			}
		}
	}
}

func sortedKeys(m map[string]bool) []string { return slices.Sorted(maps.Keys(m)) }
