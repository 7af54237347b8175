// Package deptest checks what a binary links, transitively, on every OS it
// is built for, as tailscale's tstest/deptest does: a forbidden package
// that arrives through any chain of imports fails the test, where a lint of
// direct imports would miss it.
package deptest

import (
	"bytes"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// Checker lists what a main package must never link.
type Checker struct {
	Package string   // the main package, "./agent"
	GOOS    []string // every OS it is built for
	Tags    string   // build tags of its release build
	// Bad maps a forbidden import path to why it is forbidden; the
	// packages below it are forbidden too.
	Bad map[string]string
}

// Check fails t for every forbidden package the binary links.
func (c Checker) Check(t *testing.T) {
	t.Helper()
	for _, goos := range c.GOOS {
		deps := List(t, c.Package, goos, c.Tags)
		for _, d := range deps {
			for bad, why := range c.Bad {
				if d == bad || strings.HasPrefix(d, bad+"/") {
					t.Errorf("%s on %s links %s: %s", c.Package, goos, d, why)
				}
			}
		}
	}
}

// List returns the packages pkg links when built for goos.
func List(t *testing.T, pkg, goos, tags string) []string {
	t.Helper()
	args := []string{"list", "-deps", "-f", "{{if not .Standard}}{{.ImportPath}}{{end}}"}
	if tags != "" {
		args = append(args, "-tags", tags)
	}
	cmd := exec.Command("go", append(args, pkg)...)
	cmd.Env = append(os.Environ(), "GOOS="+goos, "CGO_ENABLED=0")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list %s for %s: %v\n%s", pkg, goos, err, stderr.String())
	}
	var deps []string
	for _, l := range strings.Split(string(out), "\n") {
		if l = strings.TrimSpace(l); l != "" {
			deps = append(deps, l)
		}
	}
	if len(deps) == 0 || !slices.ContainsFunc(deps, func(d string) bool { return strings.HasPrefix(d, "github.com/farmwatch/farmwatch") }) {
		t.Fatalf("go list %s for %s listed no module packages: the check would prove nothing", pkg, goos)
	}
	return deps
}

// AgentForbidden is what neither agent executable (farmwatch-agent,
// farmwatch-agentd) may link, on any OS.
func AgentForbidden() map[string]string {
	return map[string]string{
		"github.com/farmwatch/farmwatch/collector": "the agent must not link collector code",
		"modernc.org/sqlite":                       "the collector's store",
		"modernc.org/libc":                         "SQLite's C runtime",
		"github.com/prometheus/client_golang":      "the collector's metrics",
		"github.com/rs/zerolog/log":                "zerolog's global logger: pass a logger down",
		"golang.org/x/net/trace":                   "release builds drop gRPC's tracing (grpcnotrace)",
		"github.com/goreleaser/nfpm":               "the packager (installer/cmd/package); of installer/ the agent links servicedef only",
	}
}
