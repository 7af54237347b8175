package main

import (
	"bytes"
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
// replica at a time: history pruning, the clusters' recomputation, and the
// policy reload, which publishes the policy read from this replica's
// --rules, --org and --roster (give every replica the same ones) for every
// replica to use and push to its agents. A replica whose own --org or
// --roster differ from the fleet's says so in its log, and uses the fleet's.
func runReplica(ctx context.Context, rep *replica.Replica, srv *server.Server, st store.Store, ps policySource, cur server.Policy,
	reload time.Duration, historyKeep time.Duration, log zerolog.Logger) error {
	var (
		mu     sync.Mutex
		inUse  = cur
		hasSrc = len(ps.ruleDirs) > 0 || ps.orgFile != "" || ps.rosterFile != ""
	)
	warned := ""
	apply := func(fp replica.FleetPolicy) {
		cfg := fp.Config
		p := server.Policy{Bundle: fp.Bundle, Org: cfg.GetOrg(), Interval: time.Duration(cfg.GetIntervalSeconds()) * time.Second}
		mu.Lock()
		defer mu.Unlock()
		// The roster and the org file's networks are the fleet's, as the
		// replica that published the policy read them; a policy without
		// them (published by an older replica) keeps this one's own.
		p.Networks, p.Roster, p.RosterFile, p.RosterLoaded, p.RosterVersion, p.RosterErr =
			inUse.Networks, inUse.Roster, inUse.RosterFile, inUse.RosterLoaded, inUse.RosterVersion, inUse.RosterErr
		if fp.Files != nil {
			files, err := decodeFleetFiles(fp.Files)
			if err == nil {
				err = ps.applyFleetFiles(&p, files, inUse)
			}
			if err != nil {
				log.Error().Err(err).Msg("the fleet's roster and org files do not read here: keeping the ones in use")
				p.Networks, p.Roster, p.RosterFile, p.RosterLoaded, p.RosterVersion, p.RosterErr =
					inUse.Networks, inUse.Roster, inUse.RosterFile, inUse.RosterLoaded, inUse.RosterVersion, inUse.RosterErr
			} else if why := ownDiffers(ps, files); why != warned {
				if why != "" {
					log.Warn().Str("own", why).Str("fleet_roster", p.RosterVersion).
						Msg("this replica's own files differ from the fleet's: the fleet's, published by the replica running the fleet jobs, are used")
				}
				warned = why
			}
		}
		if samePolicy(p, inUse) {
			return
		}
		if p.Bundle.GetVersion() == inUse.Bundle.GetVersion() && inUse.Rules != nil {
			p.Rules = inUse.Rules // only the settings, roster or networks changed
		} else if err := ps.compile(&p); err != nil {
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

// publishPolicy reads --rules, --org and --roster now and every period,
// and publishes them as the fleet's policy when they differ from it.
func publishPolicy(ctx context.Context, rep *replica.Replica, ps policySource, period time.Duration, log zerolog.Logger) {
	var (
		published      *server.Policy
		publishedFiles []byte
		lastErr        string
	)
	if fp, ok, err := rep.Policy(ctx); err == nil && ok {
		c := fp.Config
		published = &server.Policy{Bundle: fp.Bundle, Org: c.GetOrg(), Interval: time.Duration(c.GetIntervalSeconds()) * time.Second}
		publishedFiles = fp.Files
	}
	for {
		p, err := ps.load(published)
		var files []byte
		if err == nil {
			var prev fleetFiles
			if publishedFiles != nil {
				prev, _ = decodeFleetFiles(publishedFiles)
			}
			var f fleetFiles
			f, err = ps.readFleetFiles(prev)
			files = f.encode()
		}
		if err == nil && (published == nil || !samePolicy(p, *published) || !bytes.Equal(files, publishedFiles)) {
			if err = ps.compile(&p); err == nil {
				cfg := &fwv1.ConfigUpdate{IntervalSeconds: int64(p.Interval / time.Second), RulesVersion: p.Bundle.GetVersion(), Org: p.Org}
				if err = rep.Publish(ctx, p.Bundle, cfg, files); err == nil {
					log.Info().Str("rules_version", p.Bundle.GetVersion()).Str("roster_version", p.RosterVersion).Msg("fleet policy published to every replica")
					published, publishedFiles = &p, files
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
