package main

import (
	"testing"

	"github.com/farmwatch/farmwatch/internal/deptest"
)

// TestDeps: the collector links nothing of the agent, on any OS.
func TestDeps(t *testing.T) {
	deptest.Checker{
		Package: ".",
		GOOS:    []string{"linux", "darwin", "windows"},
		Tags:    "grpcnotrace",
		Bad: map[string]string{
			"github.com/farmwatch/farmwatch/agent": "the collector must not link agent code (shared code lives in report, credential, observation, rules)",
			"github.com/shirou/gopsutil":           "the collector reads no host",
			"golang.org/x/tools/txtar":             "snapshots are the agent's",
			"github.com/rs/zerolog/log":            "zerolog's global logger: pass a logger down",
			"golang.org/x/net/trace":               "release builds drop gRPC's tracing (grpcnotrace)",
		},
	}.Check(t)
}
