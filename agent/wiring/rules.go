package wiring

import (
	"fmt"

	"github.com/farmwatch/farmwatch/agent/resident"
	"github.com/farmwatch/farmwatch/rules"
	"github.com/rs/zerolog"
)

// LoadRules loads the built-in rules plus every --rules directory, plus
// extra sources (a collector's bundle).
func LoadRules(dirs []string, extra ...rules.Source) (*rules.Set, error) {
	return LoadRulesWith(rules.Options{}, dirs, extra...)
}

// LoadRulesWith is LoadRules with options: rules test and --explain need
// the rules' tests, which a scan does without.
func LoadRulesWith(opts rules.Options, dirs []string, extra ...rules.Source) (*rules.Set, error) {
	srcs, err := ruleSources(dirs)
	if err != nil {
		return nil, err
	}
	set, err := rules.Load(append(srcs, extra...), opts)
	if err != nil {
		return nil, fmt.Errorf("bad rule file: %w", err)
	}
	return set, nil
}

// WithStoredBundle adds the rule bundle kept in an agent's state directory
// to its rules; a bundle that cannot be read or loaded is logged and left
// out.
func WithStoredBundle(set *rules.Set, opts rules.Options, dirs []string, state string, log zerolog.Logger) *rules.Set {
	rb, err := resident.StoredBundle(state)
	if err != nil {
		log.Warn().Err(err).Msg("the collector's rules are left out")
		return set
	}
	if rb == nil {
		return set
	}
	srcs, err := rules.BundleSources(rb)
	if err == nil {
		var withBundle *rules.Set
		if withBundle, err = LoadRulesWith(opts, dirs, srcs...); err == nil {
			log.Info().Str("version", rb.GetVersion()).Int("files", len(srcs)).Msg("with the collector's rules")
			return withBundle
		}
	}
	log.Warn().Err(err).Str("version", rb.GetVersion()).Msg("the collector's rules are left out")
	return set
}

// ruleSources reads the built-in rules and every --rules directory.
func ruleSources(dirs []string) ([]rules.Source, error) {
	srcs := rules.Builtin()
	for _, d := range dirs {
		more, err := rules.ReadDir(d)
		if err != nil {
			return nil, err
		}
		srcs = append(srcs, more...)
	}
	return srcs, nil
}
