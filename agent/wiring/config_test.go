package wiring

import (
	"os"
	"path/filepath"
	"testing"
)

// TestConfigNetworkKeys: fleet_salt and mdns are read from the config file
// and reach the netid sensor; mdns is off by default.
func TestConfigNetworkKeys(t *testing.T) {
	if c := DefaultConfig(); c.MDNS || c.FleetSalt != "" {
		t.Fatalf("defaults: %+v", c)
	}
	f := filepath.Join(t.TempDir(), "agent.yaml")
	if err := os.WriteFile(f, []byte("fleet_salt: \"s3cret\"\nmdns: true\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := LoadConfig(f)
	if err != nil {
		t.Fatal(err)
	}
	if c.FleetSalt != "s3cret" || !c.MDNS {
		t.Fatalf("loaded %+v", c)
	}
	names := map[string]bool{}
	for _, s := range Sensors(c, Resident{}) {
		names[s.Name()] = true
	}
	if !names["network"] || !names["netid"] {
		t.Errorf("sensors %v lack network or netid", names)
	}
}
