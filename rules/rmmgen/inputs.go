package main

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"
)

// tool is one LOLRMM catalogue entry, reduced to the fields the lists use.
type tool struct {
	File        string // base name of the catalogue file, e.g. "anydesk.yaml"
	Name        string
	SupportedOS []string
	PE          []peMeta
	Paths       []string // Details.InstallationPaths
	Services    []string // Windows service names: EventLog ServiceName, Registry ...\Services\<name>, Other
	Units       []string // systemd unit names (Other "Linux systemd service")
	Launchd     []string // launchd labels (Other "macOS LaunchDaemon label")
	DarwinNames []string // process names of macOS daemons (Other "macOS Daemon")
}

type peMeta struct {
	Filename         string
	OriginalFileName string
}

// lolrmmFile mirrors the parts of the LOLRMM schema (bin/spec/lolrmm.spec.json)
// that are read. PEMetadata is a single object or a list, so it stays a node.
type lolrmmFile struct {
	Name    string `yaml:"Name"`
	Details struct {
		PEMetadata        yaml.Node `yaml:"PEMetadata"`
		SupportedOS       []string  `yaml:"SupportedOS"`
		InstallationPaths []string  `yaml:"InstallationPaths"`
	} `yaml:"Details"`
	Artifacts struct {
		EventLog []struct {
			ServiceName string `yaml:"ServiceName"`
		} `yaml:"EventLog"`
		Registry []struct {
			Path string `yaml:"Path"`
		} `yaml:"Registry"`
		Other []struct {
			Type  string `yaml:"Type"`
			Value string `yaml:"Value"`
		} `yaml:"Other"`
	} `yaml:"Artifacts"`
}

// loadLOLRMM reads every *.yaml and *.yml file of dir. A file that cannot be
// parsed is an error that names it.
func loadLOLRMM(dir string) ([]tool, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("lolrmm catalogue: %w", err)
	}
	var tools []tool
	for _, e := range ents {
		n := e.Name()
		if e.IsDir() || !slices.Contains([]string{".yaml", ".yml"}, filepath.Ext(n)) {
			continue
		}
		p := filepath.Join(dir, n)
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, fmt.Errorf("lolrmm catalogue: %w", err)
		}
		t, err := parseLOLRMM(n, b)
		if err != nil {
			return nil, fmt.Errorf("lolrmm catalogue %s: %w", p, err)
		}
		tools = append(tools, t)
	}
	if len(tools) == 0 {
		return nil, fmt.Errorf("lolrmm catalogue %s: no .yaml or .yml files", dir)
	}
	slices.SortFunc(tools, func(a, b tool) int { return strings.Compare(a.File, b.File) })
	return tools, nil
}

// parseLOLRMM parses one catalogue file.
func parseLOLRMM(file string, b []byte) (tool, error) {
	var f lolrmmFile
	if err := yaml.Unmarshal(b, &f); err != nil {
		return tool{}, err
	}
	t := tool{File: file, Name: strings.TrimSpace(f.Name), SupportedOS: f.Details.SupportedOS, Paths: f.Details.InstallationPaths}
	if t.Name == "" {
		return tool{}, fmt.Errorf("no Name")
	}
	pe, err := decodePE(&f.Details.PEMetadata)
	if err != nil {
		return tool{}, fmt.Errorf("Details.PEMetadata: %w", err)
	}
	t.PE = pe
	for _, e := range f.Artifacts.EventLog {
		if s := strings.TrimSpace(e.ServiceName); s != "" {
			t.Services = append(t.Services, s)
		}
	}
	for _, r := range f.Artifacts.Registry {
		if s := registryService(r.Path); s != "" {
			t.Services = append(t.Services, s)
		}
	}
	for _, o := range f.Artifacts.Other {
		v := strings.TrimSpace(o.Value)
		if v == "" {
			continue
		}
		switch lowerASCII(strings.TrimSpace(o.Type)) {
		case "servicename", "service", "service name", "windows service name":
			t.Services = append(t.Services, v)
		case "linux systemd service":
			t.Units = append(t.Units, v)
		case "macos launchdaemon label":
			t.Launchd = append(t.Launchd, v)
		case "macos daemon":
			t.DarwinNames = append(t.DarwinNames, v)
		}
	}
	return t, nil
}

func decodePE(n *yaml.Node) ([]peMeta, error) {
	if n.Kind == 0 {
		return nil, nil
	}
	type raw struct {
		Filename         string `yaml:"Filename"`
		OriginalFileName string `yaml:"OriginalFileName"`
	}
	var list []raw
	switch n.Kind {
	case yaml.SequenceNode:
		if err := n.Decode(&list); err != nil {
			return nil, err
		}
	case yaml.MappingNode:
		var one raw
		if err := n.Decode(&one); err != nil {
			return nil, err
		}
		list = []raw{one}
	case yaml.ScalarNode:
		if n.Tag == "!!null" || n.Value == "" {
			return nil, nil
		}
		return nil, fmt.Errorf("line %d: want a mapping or a list, got %q", n.Line, n.Value)
	default:
		return nil, fmt.Errorf("line %d: want a mapping or a list", n.Line)
	}
	var out []peMeta
	for _, r := range list {
		out = append(out, peMeta{Filename: strings.TrimSpace(r.Filename), OriginalFileName: strings.TrimSpace(r.OriginalFileName)})
	}
	return out, nil
}

// registryService returns <name> of a path ...\CurrentControlSet\Services\<name>[\...],
// or "".
func registryService(p string) string {
	const key = `\currentcontrolset\services\`
	p = strings.ReplaceAll(p, `\\`, `\`)
	i := strings.Index(lowerASCII(p), key)
	if i < 0 {
		return ""
	}
	name := p[i+len(key):]
	if j := strings.Index(name, `\`); j >= 0 {
		name = name[:j]
	}
	name = strings.TrimSpace(name)
	if name == "" || strings.ContainsAny(name, "*?") {
		return ""
	}
	return name
}

// row is one indicator-catalogue row of family remote_access.
type row struct {
	N          int // 1-based index among all rows, for provenance
	Platform   string
	Kind       string
	Match      string
	Tool       string
	Confidence string
	Source     string
	Inferred   bool
}

func loadIndicators(path string) ([]row, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("indicator catalogue: %w", err)
	}
	var doc struct {
		Indicators []struct {
			Family     string `yaml:"family"`
			Platform   string `yaml:"platform"`
			Kind       string `yaml:"kind"`
			Match      string `yaml:"match"`
			Tool       string `yaml:"tool"`
			Confidence string `yaml:"confidence"`
			Source     string `yaml:"source"`
			Inferred   bool   `yaml:"inferred"`
		} `yaml:"indicators"`
	}
	if err := yaml.Unmarshal(b, &doc); err != nil {
		return nil, fmt.Errorf("indicator catalogue %s: %w", path, err)
	}
	var out []row
	for i, r := range doc.Indicators {
		if r.Family != "remote_access" {
			continue
		}
		out = append(out, row{N: i + 1, Platform: r.Platform, Kind: r.Kind, Match: r.Match, Tool: r.Tool,
			Confidence: r.Confidence, Source: r.Source, Inferred: r.Inferred})
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("indicator catalogue %s: no rows of family remote_access", path)
	}
	return out, nil
}

// extraEntry is one curated fact set for one label.
type extraEntry struct {
	Label            string   `yaml:"label"`
	Source           string   `yaml:"source"`
	ProcessNames     []string `yaml:"process_names"`
	ProcessNamesLin  []string `yaml:"process_names_linux"`
	NameStems        []string `yaml:"name_stems"`
	NameSuffixes     []string `yaml:"name_suffixes"`
	OriginalFilename []string `yaml:"original_filenames"`
	BundleIDs        []string `yaml:"bundle_ids"`
	PathsWindows     []string `yaml:"paths_windows"`
	PathsDarwin      []string `yaml:"paths_darwin"`
	PathsLinux       []string `yaml:"paths_linux"`
	ServicesWindows  []string `yaml:"services_windows"`
	Units            []string `yaml:"systemd_units"`
	Launchd          []string `yaml:"launchd_labels"`
	Line             int      `yaml:"-"`
}

func loadExtra(path string) ([]extraEntry, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("extra: %w", err)
	}
	return parseExtra(path, b)
}

func parseExtra(path string, b []byte) ([]extraEntry, error) {
	var doc struct {
		Entries []yaml.Node `yaml:"entries"`
	}
	dec := yaml.NewDecoder(strings.NewReader(string(b)))
	dec.KnownFields(true)
	if err := dec.Decode(&doc); err != nil {
		return nil, fmt.Errorf("extra %s: %w", path, err)
	}
	var out []extraEntry
	for i := range doc.Entries {
		n := &doc.Entries[i]
		var e extraEntry
		if err := decodeStrict(n, &e); err != nil {
			return nil, fmt.Errorf("extra %s:%d: %w", path, n.Line, err)
		}
		e.Line = n.Line
		if strings.TrimSpace(e.Label) == "" {
			return nil, fmt.Errorf("extra %s:%d: entry without label", path, n.Line)
		}
		if strings.TrimSpace(e.Source) == "" {
			return nil, fmt.Errorf("extra %s:%d: entry %q without source", path, n.Line, e.Label)
		}
		out = append(out, e)
	}
	return out, nil
}

// decodeStrict decodes a node, refusing unknown fields (a misspelt key in
// extra.yaml is an error, not a silently ignored fact).
func decodeStrict(n *yaml.Node, v any) error {
	b, err := yaml.Marshal(n)
	if err != nil {
		return err
	}
	dec := yaml.NewDecoder(strings.NewReader(string(b)))
	dec.KnownFields(true)
	return dec.Decode(v)
}
