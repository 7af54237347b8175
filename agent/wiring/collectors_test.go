package wiring

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// collector: may be one address, several in one string, or a list; install
// writes back what it read.
func TestCollectorList(t *testing.T) {
	for in, want := range map[string]string{
		"collector: a:7443\n":                      "a:7443",
		"collector: a:7443,b:7443\n":               "a:7443,b:7443",
		"collector:\n  - a:7443\n  - b:7443\n":     "a:7443,b:7443",
		"collector: [a.example:7443, b:7443]\n":    "a.example:7443,b:7443",
		"collector: collectors.example.org:7443\n": "collectors.example.org:7443",
	} {
		p := filepath.Join(t.TempDir(), "agent.yaml")
		if err := os.WriteFile(p, []byte(in), 0o600); err != nil {
			t.Fatal(err)
		}
		c, err := LoadConfig(p)
		if err != nil {
			t.Fatalf("%q: %v", in, err)
		}
		if string(c.Collector) != want {
			t.Errorf("%q: collector %q, want %q", in, c.Collector, want)
		}
		out, err := yaml.Marshal(Config{Collector: c.Collector})
		if err != nil {
			t.Fatal(err)
		}
		var back Config
		if err := yaml.Unmarshal(out, &back); err != nil || back.Collector != c.Collector {
			t.Errorf("%q: written as %s, read back as %q (%v)", in, out, back.Collector, err)
		}
	}
	p := filepath.Join(t.TempDir(), "agent.yaml")
	os.WriteFile(p, []byte("collector: {a: b}\n"), 0o600)
	if _, err := LoadConfig(p); err == nil || !strings.Contains(err.Error(), "collector") {
		t.Errorf("a map as collector: %v", err)
	}
}
