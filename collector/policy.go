package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"time"

	farm "github.com/farmwatch/farmwatch/collector/fleet"
	"github.com/farmwatch/farmwatch/collector/roster"
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
	ruleDirs   []string
	orgFile    string
	rosterFile string
	interval   time.Duration
	now        func() time.Time
}

// orgFile is the shape of --org: the agent config's expect (countries,
// locales, timezones), and the organisation's known networks.
type orgFile struct {
	Countries []string           `yaml:"countries"`
	Locales   []string           `yaml:"locales"`
	Timezones []string           `yaml:"timezones"`
	Networks  []farm.NetworkSpec `yaml:"networks"`
}

// load reads the policy (compile loads its rules). A bundle file is named after its
// directory and file ("org-rules/vpn.yaml"), which is how agents name it in
// their errors. A roster that no longer reads keeps prev's, with the
// error; without prev (at start) it fails the load.
func (ps policySource) load(prev *server.Policy) (server.Policy, error) {
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
		if p.Org, p.Networks, err = readOrg(ps.orgFile); err != nil {
			return server.Policy{}, err
		}
	}
	if ps.rosterFile != "" {
		p.RosterFile = ps.rosterFile
		b, err := roster.ReadFile(ps.rosterFile)
		var r *roster.Roster
		if err == nil {
			if r, err = roster.Parse(b); err != nil {
				err = fmt.Errorf("roster %s: %w", ps.rosterFile, err)
			}
		}
		switch {
		case err == nil:
			sum := sha256.Sum256(b)
			p.Roster, p.RosterVersion, p.RosterLoaded = r, "sha256:"+hex.EncodeToString(sum[:]), ps.clock()
			if prev != nil && prev.RosterVersion == p.RosterVersion {
				p.RosterLoaded = prev.RosterLoaded
			}
		case prev == nil:
			return server.Policy{}, err
		default:
			p.Roster, p.RosterVersion, p.RosterLoaded = prev.Roster, prev.RosterVersion, prev.RosterLoaded
			p.RosterErr = err.Error()
		}
	}
	return p, nil
}

func (ps policySource) clock() time.Time {
	if ps.now != nil {
		return ps.now()
	}
	return time.Now()
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

func readOrg(path string) (*fwv1.OrgPolicy, []farm.Network, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, fmt.Errorf("org %s: %w", path, err)
	}
	org, nets, err := parseOrg(b)
	if err != nil {
		return nil, nil, fmt.Errorf("org %s: %w", path, err)
	}
	return org, nets, nil
}

// maxOrgBytes bounds an org file.
const maxOrgBytes = 4 << 20

// parseOrg parses an org file: its expectations (nil when it sets none,
// so agents keep their own) and its known networks. A file with neither
// is refused.
func parseOrg(b []byte) (*fwv1.OrgPolicy, []farm.Network, error) {
	if len(b) > maxOrgBytes {
		return nil, nil, fmt.Errorf("over %d bytes", maxOrgBytes)
	}
	var o orgFile
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&o); err != nil && !errors.Is(err, io.EOF) {
		return nil, nil, err
	}
	nets, err := farm.ParseNetworks(o.Networks)
	if err != nil {
		return nil, nil, err
	}
	if len(o.Countries)+len(o.Locales)+len(o.Timezones) == 0 {
		if len(nets) == 0 {
			return nil, nil, errors.New("no countries, locales, timezones or networks")
		}
		return nil, nets, nil
	}
	return &fwv1.OrgPolicy{ExpectedCountries: o.Countries, ExpectedLocales: o.Locales, ExpectedTimezones: o.Timezones}, nets, nil
}

// samePolicy says whether two policies would tell agents the same thing.
func samePolicy(a, b server.Policy) bool {
	return a.Bundle.GetVersion() == b.Bundle.GetVersion() && proto.Equal(a.Org, b.Org) && a.Interval == b.Interval &&
		a.RosterVersion == b.RosterVersion && a.RosterErr == b.RosterErr && reflect.DeepEqual(a.Networks, b.Networks)
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
		p, err := ps.load(&cur)
		if err == nil && p.RosterErr != "" && p.RosterErr != cur.RosterErr {
			log.Error().Str("error", p.RosterErr).Str("keeping", cur.RosterVersion).Msg("roster not reloaded: keeping the roster in use")
		}
		if err == nil && samePolicy(p, cur) {
			lastErr, failed = "", nil
			continue // unchanged: nothing to compile
		}
		if err == nil && failed != nil && samePolicy(p, *failed) {
			continue // the files that did not compile, still
		}
		if err == nil && p.Bundle.GetVersion() == cur.Bundle.GetVersion() {
			p.Rules = cur.Rules // only the settings, roster or networks changed
		} else if err == nil {
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
