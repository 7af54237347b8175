// Package wiring is what both agent executables build the agent from: its
// settings file (Config), THE list of sensors, the rules it loads, and the
// command-line helpers of their subcommands. farmwatch-agent (the helpdesk
// scan, snapshots, install) and farmwatch-agentd (the resident service,
// agent/daemon) each wire the parts explicitly from here; neither keeps
// global state.
package wiring

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	fwv1 "github.com/farmwatch/farmwatch/proto/farmwatch/v1"
	"go.yaml.in/yaml/v3"
)

// Config is the agent's one configuration. A YAML file (--config) sets it;
// flags override the file.
type Config struct {
	// Rules are extra directories of rule and exception files.
	Rules []string `yaml:"rules"`
	// FailOn is the severity at or above which scan exits 1.
	FailOn string `yaml:"fail_on"`
	// SensorTimeout bounds each sensor.
	SensorTimeout time.Duration `yaml:"sensor_timeout"`
	// Expect is what the organisation expects of its fleet; rules see it
	// as org. With nothing set, only high-signal facts raise findings.
	Expect Expect `yaml:"expect"`
	// The collector connection of `run` (install writes these).
	Collector        AddrList      `yaml:"collector,omitempty"` // one or several (collectors.go)
	CA               string        `yaml:"ca,omitempty"`
	EnrollSecretFile string        `yaml:"enroll_secret_file,omitempty"`
	State            string        `yaml:"state,omitempty"`
	Interval         time.Duration `yaml:"interval,omitempty"`
	// Self-limits of a resident agent: a periodic scan is skipped while
	// the Go heap is above MaxHeapMB or the agent used more than
	// MaxCPUPercent of one core over its last window of at least 30 s
	// (resident.CPUWindow: a burst such as start-up is not a load)
	// (osquery's watchdog: 200 MB, 10 %). Zero turns a limit off.
	MaxHeapMB     uint64  `yaml:"max_heap_mb,omitempty"`
	MaxCPUPercent float64 `yaml:"max_cpu_percent,omitempty"`
	// SpoolMB bounds the on-disk spool of messages the collector has not
	// acknowledged; when full, the oldest are dropped and counted (the
	// collector shows the count, and the agent sends a full state next).
	SpoolMB int64 `yaml:"spool_mb,omitempty"`
	// FleetSalt keys the HMAC-SHA256 with which the netid and network
	// sensors hash MACs (gateway, neighbours, own interfaces), the Wi-Fi
	// SSID and BSSID before they leave the host, for offline scans: a
	// resident agent takes the collector's salt (DIR/fleet-salt) and uses
	// this one only until the collector is reached the first time. Empty
	// still hashes (with an empty key) and still drops the raw values.
	FleetSalt string `yaml:"fleet_salt"`
	// ProcessEvents is how the resident agent sees processes start between
	// scans: "" (the OS's events: the process connector, ETW; polling
	// where they are not available), "poll" (polling only) or "off".
	ProcessEvents string `yaml:"process_events,omitempty"`
	// MDNS turns on a short, listen-only mDNS listen for IP-KVM names on
	// the LAN (netid sensor). Off by default.
	MDNS bool `yaml:"mdns"`
}

// Expect lists the countries, locales and time zones the fleet works in.
type Expect struct {
	Countries []string `yaml:"countries"`
	Locales   []string `yaml:"locales"`
	Timezones []string `yaml:"timezones"`
}

// DefaultConfig is the settings with no file.
func DefaultConfig() Config {
	return Config{FailOn: "high", SensorTimeout: 10 * time.Second, MaxHeapMB: 200, MaxCPUPercent: 10, SpoolMB: 64}
}

// LoadConfig reads a config file over the defaults; "" is the defaults.
// Unknown keys are refused, so a misspelt setting is an error rather than
// silently ignored.
func LoadConfig(path string) (Config, error) {
	c := DefaultConfig()
	if path == "" {
		return c, nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return c, fmt.Errorf("config %s: %w", path, err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil && !errors.Is(err, io.EOF) {
		return c, fmt.Errorf("config %s: %w", path, err)
	}
	if c.SensorTimeout <= 0 {
		return c, fmt.Errorf("config %s: sensor_timeout must be positive", path)
	}
	if c.ProcessEvents != "" && c.ProcessEvents != "poll" && c.ProcessEvents != "off" {
		return c, fmt.Errorf("config %s: process_events %q: want poll, off or nothing", path, c.ProcessEvents)
	}
	if c.SpoolMB < 1 || c.SpoolMB > 16<<10 {
		return c, fmt.Errorf("config %s: spool_mb %d: want 1 to 16384", path, c.SpoolMB)
	}
	return c, nil
}

// Org is the config's expectations as the rules see them.
func (c Config) Org() *fwv1.OrgPolicy {
	return &fwv1.OrgPolicy{ExpectedCountries: c.Expect.Countries, ExpectedLocales: c.Expect.Locales, ExpectedTimezones: c.Expect.Timezones}
}
