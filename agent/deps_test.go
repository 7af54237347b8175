package main

import (
	"testing"

	"github.com/farmwatch/farmwatch/internal/deptest"
)

// TestDeps: neither agent executable (farmwatch-agent, and
// farmwatch-agentd, which the service runs) links anything of the
// collector, SQLite or the Prometheus client, on any OS.
func TestDeps(t *testing.T) {
	for _, pkg := range []string{".", "./cmd/farmwatch-agentd"} {
		deptest.Checker{
			Package: pkg,
			GOOS:    []string{"linux", "darwin", "windows"},
			Tags:    "grpcnotrace",
			Bad:     deptest.AgentForbidden(),
		}.Check(t)
	}
}
