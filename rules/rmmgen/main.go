// Command rmmgen generates rules/rmm_lists.yaml, the shared lists of
// remote-access tools (process names, PE original file names, macOS bundle
// identifiers, install paths per OS, service names) that the rules in
// rules/remoteaccess.yaml use.
//
// It reads three inputs and nothing else:
//
//   - the LOLRMM catalogue (magicsword-io/LOLRMM, folder yaml/, Apache-2.0),
//   - the indicator catalogue (a research file kept beside the repository,
//     passed with -indicators; rows of family remote_access, each naming its
//     upstream source, which the lists cite),
//   - the curated supplement rules/rmmgen/extra.yaml (non-Windows names,
//     systemd units, launchd labels and bundle identifiers that LOLRMM lacks;
//     every entry names its source).
//
// Run it from the repository root, with the two catalogues beside the
// repository where the flags expect them (-lolrmm, -indicators):
//
//	go run ./rules/rmmgen
//	go run ./rules/rmmgen -check   # fail if rules/rmm_lists.yaml is not current
//
// It also writes rules/rmmgen/AUDIT.md (-audit): a per-vendor table of what
// the lists know on each system (processes, name stems, services, launchd
// jobs, units, bundle ids, folders), where an empty cell is a gap.
//
// The output is sorted and carries no time stamp, so a re-run on the same
// inputs writes a byte-identical file. What the generator drops (names too
// generic to identify a tool, files that are not executables, ...) is printed
// to stderr and listed at the end of the output; a coverage summary of the
// LOLRMM tools is printed to stderr.
package main

import (
	"bytes"
	"flag"
	"fmt"
	"io"
	"os"
)

// config is the generator's one config struct; flags fill it.
type config struct {
	lolrmmDir  string
	lolrmmRev  string
	indicators string
	extra      string
	out        string
	audit      string
	check      bool
	quiet      bool
}

func main() {
	var c config
	flag.StringVar(&c.lolrmmDir, "lolrmm", "../shared/corpus/lolrmm/yaml", "folder of the LOLRMM catalogue (yaml/ of magicsword-io/LOLRMM)")
	flag.StringVar(&c.lolrmmRev, "lolrmm-commit", "3c75cf091b10bf7e8ecd576055c44d172b35ff21", "LOLRMM commit the catalogue was taken from (named in the lists' sources)")
	flag.StringVar(&c.indicators, "indicators", "../shared/indicators/indicators.yaml", "indicator catalogue (a research file kept beside the repository)")
	flag.StringVar(&c.extra, "extra", "rules/rmmgen/extra.yaml", "curated supplement")
	flag.StringVar(&c.out, "o", "rules/rmm_lists.yaml", "output file")
	flag.StringVar(&c.audit, "audit", "rules/rmmgen/AUDIT.md", "per-vendor audit file (what the lists know of each vendor per system); \"\" for none")
	flag.BoolVar(&c.check, "check", false, "do not write; exit 1 if the output file differs from what would be generated")
	flag.BoolVar(&c.quiet, "q", false, "print only errors and the coverage summary")
	flag.Parse()
	if err := run(c, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "rmmgen:", err)
		os.Exit(1)
	}
}

func run(c config, log io.Writer) error {
	tools, err := loadLOLRMM(c.lolrmmDir)
	if err != nil {
		return err
	}
	rows, err := loadIndicators(c.indicators)
	if err != nil {
		return err
	}
	extra, err := loadExtra(c.extra)
	if err != nil {
		return err
	}
	res, err := build(tools, rows, extra)
	if err != nil {
		return err
	}
	out, err := render(res, sourcesFor(c))
	if err != nil {
		return err
	}
	if !c.quiet {
		for _, d := range res.drops {
			fmt.Fprintf(log, "dropped %s %q (%s, %s): %s\n", d.kind, d.value, d.label, d.origin, d.reason)
		}
		for _, cf := range res.conflicts {
			fmt.Fprintf(log, "conflict %s %q: %s\n", cf.list, cf.value, cf.note)
		}
	}
	writeCoverage(log, res)
	files := []struct {
		path string
		data []byte
	}{{c.out, out}}
	if c.audit != "" {
		files = append(files, struct {
			path string
			data []byte
		}{c.audit, renderAudit(res)})
	}
	for _, f := range files {
		if c.check {
			cur, err := os.ReadFile(f.path)
			if err != nil {
				return fmt.Errorf("check: %w", err)
			}
			if !bytes.Equal(cur, f.data) {
				return fmt.Errorf("check: %s is not current; run: go run ./rules/rmmgen", f.path)
			}
			continue
		}
		if err := os.WriteFile(f.path, f.data, 0o644); err != nil {
			return fmt.Errorf("write %s: %w", f.path, err)
		}
	}
	return nil
}

// sourcesFor names the inputs every list cites; render adds the upstream
// sources of the indicator-catalogue rows behind each list's values.
func sourcesFor(c config) []string {
	return []string{
		"magicsword-io/LOLRMM@" + c.lolrmmRev + " yaml/ (Apache-2.0): Details.PEMetadata, Details.InstallationPaths, Artifacts.EventLog/Registry/Other service names",
		"rules/rmmgen/extra.yaml, curated (each entry names its source: vendor packaging, Homebrew casks, Chromium, nixpkgs)",
	}
}
