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
		Bad:     deptest.AgentForbidden(),
	}.Check(t)
}
