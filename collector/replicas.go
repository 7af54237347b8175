package main

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"time"

	"github.com/farmwatch/farmwatch/collector/output"
	"github.com/farmwatch/farmwatch/collector/replica"
	"github.com/farmwatch/farmwatch/collector/server"
	"github.com/farmwatch/farmwatch/collector/store"
	"github.com/farmwatch/farmwatch/collector/store/postgres"
	"github.com/farmwatch/farmwatch/collector/store/sqlite"
	fwv1 "github.com/farmwatch/farmwatch/proto/farmwatch/v1"
	"github.com/rs/zerolog"
)

// servedStore is the store serve serves, with its health for /healthz.
type servedStore interface {
	store.Store
	Health(ctx context.Context) error
}

// openServedStore opens what --store names: the SQLite store of the data
// directory (the default, ""), or a PostgreSQL database (postgres://...),
// which several collector replicas may share. It returns the store and a
// name for the log (without a password).
func openServedStore(ctx context.Context, data, url string) (servedStore, string, error) {
	if url == "" {
		// Only init makes a store: serve refuses one that is missing, empty,
		// not a farmwatch store or damaged (quick_check), rather than start
		// an empty fleet in its place.
		p := filepath.Join(data, dbFile)
		st, err := sqlite.OpenExisting(ctx, p)
		return st, p, err
	}
	if !postgres.IsURL(url) {
		return nil, "", usageError{fmt.Sprintf("serve: --store %q: want a postgres:// URL (or none, for the data directory's SQLite store)", postgres.Redact(url))}
	}
	st, err := postgres.Open(ctx, url)
	return st, postgres.Redact(url), err
}

// runReplica runs this collector as one replica of a fleet on PostgreSQL
// (collector/replica) until ctx ends. The fleet's periodic jobs run on one
// replica at a time: history pruning, the clusters' recomputation, and the policy reload, which
// publishes the policy read from this replica's --rules and --org (give
// every replica the same ones) for every replica to push to its agents.
func runReplica(ctx context.Context, rep *replica.Replica, srv *server.Server, st store.Store, ps policySource, cur server.Policy,
	reload time.Duration, historyKeep time.Duration, log zerolog.Logger) error {
	var (
		mu     sync.Mutex
		inUse  = cur
		hasSrc = len(ps.ruleDirs) > 0 || ps.orgFile != "" || ps.rosterFile != ""
	)
	apply := func(bundle *fwv1.RuleBundle, cfg *fwv1.ConfigUpdate) {
		p := server.Policy{Bundle: bundle, Org: cfg.GetOrg(), Interval: time.Duration(cfg.GetIntervalSeconds()) * time.Second}
		mu.Lock()
		defer mu.Unlock()
		// The roster and the org file's networks are this replica's own
		// (--roster, --org: give every replica the same ones).
		p.Networks, p.Roster, p.RosterFile, p.RosterLoaded, p.RosterVersion, p.RosterErr =
			inUse.Networks, inUse.Roster, inUse.RosterFile, inUse.RosterLoaded, inUse.RosterVersion, inUse.RosterErr
		if samePolicy(p, inUse) {
			return
		}
		if err := ps.compile(&p); err != nil {
			log.Error().Err(err).Str("keeping", inUse.Bundle.GetVersion()).Msg("the fleet's rules do not compile here: keeping the rules in use")
			return
		}
		srv.SetPolicy(p)
		inUse = p
	}
	lead := func(ctx context.Context) {
		var wg sync.WaitGroup
		wg.Go(func() { srv.RunFleet(ctx) }) // the clusters, from every host's state
		if historyKeep > 0 {
			wg.Go(func() { pruneHistory(ctx, st, historyKeep, log) })
		}
		if hasSrc && reload > 0 {
			wg.Go(func() { publishPolicy(ctx, rep, ps, reload, log) })
		}
		wg.Wait()
	}
	return rep.Run(ctx, srv, replica.Jobs{Lead: lead, Policy: apply})
}

// publishPolicy reads --rules and --org now and every period, and
// publishes them as the fleet's policy when they differ from it.
func publishPolicy(ctx context.Context, rep *replica.Replica, ps policySource, period time.Duration, log zerolog.Logger) {
	var (
		published *server.Policy
		lastErr   string
	)
	if b, c, ok, err := rep.Policy(ctx); err == nil && ok {
		published = &server.Policy{Bundle: b, Org: c.GetOrg(), Interval: time.Duration(c.GetIntervalSeconds()) * time.Second}
	}
	for {
		p, err := ps.load(published)
		if err == nil && (published == nil || !samePolicy(p, *published)) {
			if err = ps.compile(&p); err == nil {
				cfg := &fwv1.ConfigUpdate{IntervalSeconds: int64(p.Interval / time.Second), RulesVersion: p.Bundle.GetVersion(), Org: p.Org}
				if err = rep.Publish(ctx, p.Bundle, cfg); err == nil {
					log.Info().Str("rules_version", p.Bundle.GetVersion()).Msg("fleet policy published to every replica")
					published = &p
				}
			}
		}
		if err != nil && err.Error() != lastErr && ctx.Err() == nil {
			log.Error().Err(err).Msg("fleet policy not published: the replicas keep the one in use")
		}
		if err != nil {
			lastErr = err.Error()
		} else {
			lastErr = ""
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(period):
		}
	}
}

// shareOutputs makes the outputs of a replica (rep not nil) the fleet's:
// one replica at a time compares and sends (under replica.OutputsLock),
// from what was sent as the database keeps it, so that each event goes
// out once per fleet whichever replica applied the change. Each replica
// still sends what it had queued on its own disk. Give every replica the
// same --webhook and --syslog: the one that sends uses its own.
func shareOutputs(outs *output.Outputs, rep *replica.Replica) {
	if rep == nil {
		return
	}
	outs.Ledger = rep.OutputLedger()
	outs.Lead = func(ctx context.Context, f func(context.Context)) {
		rep.RunLocked(ctx, replica.OutputsLock, "outputs", f)
	}
}

// relayOf is rep as the server's relay; none when rep is nil.
func relayOf(rep *replica.Replica) server.Relay {
	if rep == nil {
		return nil
	}
	return rep
}
