package main

import (
	"testing"

	"github.com/farmwatch/farmwatch/internal/deptest"
)

// TestDeps: the agent links nothing of the collector, no SQLite and no
// Prometheus client, on any OS.
func TestDeps(t *testing.T) {
	deptest.Checker{
		Package: ".",
		GOOS:    []string{"linux", "darwin", "windows"},
		Tags:    "grpcnotrace",
		Bad: map[string]string{
			"github.com/farmwatch/farmwatch/collector": "the agent must not link collector code",
			"modernc.org/sqlite":                       "the collector's store",
			"modernc.org/libc":                         "SQLite's C runtime",
			"github.com/prometheus/client_golang":      "the collector's metrics",
			"github.com/rs/zerolog/log":                "zerolog's global logger: pass a logger down",
			"golang.org/x/net/trace":                   "release builds drop gRPC's tracing (grpcnotrace)",
			"github.com/goreleaser/nfpm":               "the packager (installer/cmd/package); of installer/ the agent links servicedef only",
		},
	}.Check(t)
}
