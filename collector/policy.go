package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/farmwatch/farmwatch/collector/server"
	fwv1 "github.com/farmwatch/farmwatch/proto/farmwatch/v1"
	"github.com/farmwatch/farmwatch/rules"
	"github.com/rs/zerolog"
	"go.yaml.in/yaml/v3"
	"google.golang.org/protobuf/proto"
)

// policySource is where serve reads the fleet's policy from: the
// organisation's rule directories, its expectations file and the interval
// agents should scan at.
type policySource struct {
	ruleDirs []string
	orgFile  string
	interval time.Duration
}

// orgFile is the shape of --org: the same as the agent config's expect.
type orgFile struct {
	Countries []string `yaml:"countries"`
	Locales   []string `yaml:"locales"`
	Timezones []string `yaml:"timezones"`
}

// load reads the policy (compile loads its rules). A bundle file is named after its
// directory and file ("org-rules/vpn.yaml"), which is how agents name it in
// their errors.
func (ps policySource) load() (server.Policy, error) {
	var srcs []rules.Source
	for _, d := range ps.ruleDirs {
		more, err := rules.ReadDir(d)
		if err != nil {
			return server.Policy{}, err
		}
		for _, s := range more {
			s.Name = filepath.Base(filepath.Clean(d)) + "/" + filepath.Base(s.Name)
			srcs = append(srcs, s)
		}
	}
	bundle, err := rules.NewBundle(srcs)
	if err != nil {
		return server.Policy{}, err
	}
	p := server.Policy{Bundle: bundle, Interval: ps.interval}
	if ps.orgFile != "" {
		if p.Org, err = readOrg(ps.orgFile); err != nil {
			return server.Policy{}, err
		}
	}
	return p, nil
}

// compile loads the policy's rules: the built-in ones and the bundle's.
func (ps policySource) compile(p *server.Policy) error {
	srcs, err := rules.BundleSources(p.Bundle)
	if err != nil {
		return err
	}
	if p.Rules, err = rules.Load(append(rules.Builtin(), srcs...), rules.Options{}); err != nil {
		return fmt.Errorf("bad rule file (in %s): %w", strings.Join(ps.ruleDirs, ", "), err)
	}
	return nil
}

func readOrg(path string) (*fwv1.OrgPolicy, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("org %s: %w", path, err)
	}
	var o orgFile
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&o); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("org %s: %w", path, err)
	}
	if len(o.Countries)+len(o.Locales)+len(o.Timezones) == 0 {
		return nil, fmt.Errorf("org %s: no countries, locales or timezones", path)
	}
	return &fwv1.OrgPolicy{ExpectedCountries: o.Countries, ExpectedLocales: o.Locales, ExpectedTimezones: o.Timezones}, nil
}

// samePolicy says whether two policies would tell agents the same thing.
func samePolicy(a, b server.Policy) bool {
	return a.Bundle.GetVersion() == b.Bundle.GetVersion() && proto.Equal(a.Org, b.Org) && a.Interval == b.Interval
}

// watchPolicy reloads the policy every period until ctx ends. A change is
// applied to the server (and so pushed to every agent); a policy that no
// longer loads is logged and the one in use is kept.
func watchPolicy(ctx context.Context, ps policySource, cur server.Policy, period time.Duration, srv *server.Server, log zerolog.Logger) {
	tick := time.NewTicker(period)
	defer tick.Stop()
	var (
		lastErr string         // the last error logged
		failed  *server.Policy // the policy whose rules did not compile
	)
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		p, err := ps.load()
		if err == nil && samePolicy(p, cur) {
			lastErr, failed = "", nil
			continue // unchanged: nothing to compile
		}
		if err == nil && failed != nil && samePolicy(p, *failed) {
			continue // the files that did not compile, still
		}
		if err == nil {
			if err = ps.compile(&p); err != nil {
				failed = &p
			}
		}
		if err != nil {
			if err.Error() != lastErr {
				log.Error().Err(err).Str("keeping", cur.Bundle.GetVersion()).Msg("rules not reloaded: keeping the rules in use")
			}
			lastErr = err.Error()
			continue
		}
		lastErr = ""
		log.Info().Str("from", cur.Bundle.GetVersion()).Str("to", p.Bundle.GetVersion()).Msg("rules or settings changed: pushing them to the agents")
		srv.SetPolicy(p)
		cur = p
	}
}
