// Command pnpgen generates rules/edid_makers.yaml, the lists of EDID
// manufacturer ids (PNP ids) that belong to makers of things that are not
// displays: capture devices, EDID emulators and virtual displays (list
// edid_capture_makers), HDMI receiver and bridge chips (edid_bridge_makers;
// both for rule edid-capture-bridge), and KVM and AV distribution gear
// (list edid_av_makers, rule edid-av-path).
//
// It reads two inputs and nothing else:
//
//   - the PNP ID registry as Debian's hwdata package ships it
//     (/usr/share/hwdata/pnp.ids; `apt-get install hwdata`), named in the
//     output by the package version given with -hwdata-version;
//   - the curated rules/pnpgen/makers.yaml: each id with its kind, its
//     maker, the company the registry names for it (or "" for none) and
//     where its use was seen.
//
// It fails when the registry names another company for an id than
// makers.yaml says (an id reassigned, or a typo), or when makers.yaml is
// malformed. The output is sorted and has no time stamp:
//
//	go run ./rules/pnpgen            # writes rules/edid_makers.yaml
//	go run ./rules/pnpgen -check     # fails if it is not current
package main

import (
	"bufio"
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"regexp"
	"sort"
	"strings"

	"go.yaml.in/yaml/v3"
)

// config is the generator's one config struct; flags fill it.
type config struct {
	pnp, version, makers, out string
	check                     bool
}

func main() {
	var c config
	flag.StringVar(&c.pnp, "pnp", "/usr/share/hwdata/pnp.ids", "the PNP ID registry (Debian hwdata)")
	flag.StringVar(&c.version, "hwdata-version", "0.368-1", "version of the hwdata package pnp.ids comes from (named in the output)")
	flag.StringVar(&c.makers, "makers", "rules/pnpgen/makers.yaml", "curated classification")
	flag.StringVar(&c.out, "o", "rules/edid_makers.yaml", "output file")
	flag.BoolVar(&c.check, "check", false, "do not write; exit 1 if the output file is not what would be generated")
	flag.Parse()
	if err := run(c); err != nil {
		fmt.Fprintln(os.Stderr, "pnpgen:", err)
		os.Exit(1)
	}
}

func run(c config) error {
	pf, err := os.Open(c.pnp)
	if err != nil {
		return fmt.Errorf("read the PNP registry: %w (apt-get install hwdata)", err)
	}
	reg, err := parseRegistry(pf)
	pf.Close()
	if err != nil {
		return fmt.Errorf("%s: %w", c.pnp, err)
	}
	mb, err := os.ReadFile(c.makers)
	if err != nil {
		return err
	}
	ms, err := parseMakers(mb)
	if err != nil {
		return fmt.Errorf("%s: %w", c.makers, err)
	}
	if err := checkRegistry(ms, reg); err != nil {
		return err
	}
	out := render(ms, c.version, len(reg))
	if c.check {
		old, err := os.ReadFile(c.out)
		if err != nil {
			return err
		}
		if !bytes.Equal(old, out) {
			return fmt.Errorf("%s is not current: run go run ./rules/pnpgen", c.out)
		}
		return nil
	}
	return os.WriteFile(c.out, out, 0o644)
}

// parseRegistry reads pnp.ids: one "ID<TAB>Company" a line.
func parseRegistry(r io.Reader) (map[string]string, error) {
	reg := map[string]string{}
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimRight(sc.Text(), "\r")
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		id, name, ok := strings.Cut(line, "\t")
		if !ok || len(id) != 3 {
			return nil, fmt.Errorf("line %d: not ID<TAB>name: %q", n, line)
		}
		if !pnpID.MatchString(id) {
			continue // "inu": letters an EDID cannot hold
		}
		reg[id] = strings.TrimSpace(name)
	}
	if len(reg) == 0 {
		return nil, errors.New("no ids")
	}
	return reg, sc.Err()
}

var pnpID = regexp.MustCompile(`^[A-Z@\[\\\]^_]{3}$`)

// maker is one entry of makers.yaml.
type maker struct {
	ID       string `yaml:"id"`
	Kind     string `yaml:"kind"`
	Maker    string `yaml:"maker"`
	Registry string `yaml:"registry"`
	Squatted bool   `yaml:"squatted"`
	Source   string `yaml:"source"`
}

// kinds maps each kind to its list and what the label calls it.
var kinds = map[string]struct{ list, what string }{
	"capture":  {"edid_capture_makers", "capture device"},
	"bridge":   {"edid_bridge_makers", "HDMI receiver or bridge chip"},
	"emulator": {"edid_capture_makers", "EDID emulator or dummy plug"},
	"virtual":  {"edid_capture_makers", "virtual display"},
	"kvm":      {"edid_av_makers", "KVM switch or extender"},
	"av":       {"edid_av_makers", "AV extender, matrix or scaler"},
}

func parseMakers(b []byte) ([]maker, error) {
	var doc struct {
		Makers []maker `yaml:"makers"`
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&doc); err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	for _, m := range doc.Makers {
		switch {
		case !pnpID.MatchString(m.ID):
			return nil, fmt.Errorf("id %q is not a PNP id", m.ID)
		case seen[m.ID]:
			return nil, fmt.Errorf("id %s twice", m.ID)
		case kinds[m.Kind].list == "":
			return nil, fmt.Errorf("%s: kind %q is not one of capture, bridge, emulator, virtual, kvm, av", m.ID, m.Kind)
		case m.Maker == "" || m.Source == "":
			return nil, fmt.Errorf("%s: maker and source are required", m.ID)
		case m.Squatted && m.Registry == "":
			return nil, fmt.Errorf("%s: squatted, but the registry company is not given", m.ID)
		}
		seen[m.ID] = true
	}
	if len(doc.Makers) == 0 {
		return nil, errors.New("no makers")
	}
	return doc.Makers, nil
}

// checkRegistry fails when the registry names another company for an id
// than the entry says, or knows an id the entry calls unregistered.
func checkRegistry(ms []maker, reg map[string]string) error {
	var errs []error
	for _, m := range ms {
		if got := reg[m.ID]; got != m.Registry {
			errs = append(errs, fmt.Errorf("%s: the registry names %q, makers.yaml says %q", m.ID, got, m.Registry))
		}
	}
	return errors.Join(errs...)
}

// label is what lookup() returns: the kind and the maker, and whose id it
// is when the maker uses another company's.
func label(m maker) string {
	l := kinds[m.Kind].what + " (" + m.Maker
	switch {
	case m.Registry == "":
		l += ", unregistered id"
	case m.Squatted:
		l += ", id registered to " + m.Registry
	}
	return l + ")"
}

func render(ms []maker, version string, nreg int) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, `# Code generated by rules/pnpgen; DO NOT EDIT.
#
# EDID manufacturer (PNP) ids of makers of things that are not displays,
# for rules/display.yaml. Regenerate from the repository root with
#
#   go run ./rules/pnpgen            (writes this file)
#   go run ./rules/pnpgen -check     (fails if this file is not current)
#
# Inputs: the PNP ID registry of Debian's hwdata %s (/usr/share/hwdata/pnp.ids,
# %d ids), against which every id's company is checked, and the curated
# rules/pnpgen/makers.yaml, which says why each id is here. The comment after
# a value is its source.
lists:
`, version, nreg)
	byList := map[string][]maker{}
	for _, m := range ms {
		l := kinds[m.Kind].list
		byList[l] = append(byList[l], m)
	}
	desc := map[string]string{
		"edid_capture_makers": "EDID manufacturer ids of capture devices, EDID emulators and virtual displays: an EDID with one of them is not a monitor's.",
		"edid_av_makers":      "EDID manufacturer ids of KVM switches, KVM extenders and KVM-over-IP modules, and of AV extenders, matrices and scalers.",
		"edid_bridge_makers":  "EDID manufacturer ids of HDMI receiver and bridge chip makers: the chip's default EDID in a capture dongle, extender or converter; the same chips also drive small panels.",
	}
	names := make([]string, 0, len(byList))
	for l := range byList {
		names = append(names, l)
	}
	sort.Strings(names)
	for _, l := range names {
		list := byList[l]
		sort.Slice(list, func(i, j int) bool { return list[i].ID < list[j].ID })
		fmt.Fprintf(&b, "  %s:\n    description: %s\n    match: exact\n    sources:\n", l, quote(desc[l]))
		fmt.Fprintf(&b, "      - %s\n", quote("Debian hwdata "+version+" /usr/share/hwdata/pnp.ids (the PNP ID registry)"))
		fmt.Fprintf(&b, "      - %s\n", quote("rules/pnpgen/makers.yaml (curated; each entry names where the id was seen)"))
		fmt.Fprintf(&b, "    values:\n")
		for _, m := range list {
			fmt.Fprintf(&b, "      %s: %s # %s\n", quote(m.ID), quote(label(m)), strings.ReplaceAll(m.Source, "\n", " "))
		}
	}
	return b.Bytes()
}

// quote writes s as a YAML double-quoted scalar.
func quote(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
}
