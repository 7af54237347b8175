package wiring

import (
	"fmt"
	"strings"

	"go.yaml.in/yaml/v3"
)

// AddrList is the config's collector: one address, several separated by
// commas, or a YAML list of them (the replicas of one fleet; the agent
// fails over among them, stream.Failover). One name that resolves to
// several addresses works as well.
type AddrList string

// UnmarshalYAML takes a string or a list of strings.
func (a *AddrList) UnmarshalYAML(n *yaml.Node) error {
	switch n.Kind {
	case yaml.ScalarNode:
		*a = AddrList(n.Value)
		return nil
	case yaml.SequenceNode:
		var l []string
		if err := n.Decode(&l); err != nil {
			return err
		}
		*a = AddrList(strings.Join(l, ","))
		return nil
	}
	return fmt.Errorf("line %d: collector: want an address or a list of them", n.Line)
}

// MarshalYAML writes one address as a string, several as a list.
func (a AddrList) MarshalYAML() (any, error) {
	if l := strings.Split(string(a), ","); len(l) > 1 {
		return l, nil
	}
	return string(a), nil
}
