package replica

// The fleet's periodic jobs, run by one replica at a time under an
// advisory lock, and the fleet's policy they publish.

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	fwv1 "github.com/farmwatch/farmwatch/proto/farmwatch/v1"
	"github.com/jackc/pgx/v5"
	"google.golang.org/protobuf/proto"
)

// lead takes the fleet's jobs whenever it can get the lock, and runs them
// (with the tidying of dead replicas) while it holds it.
func (r *Replica) lead(ctx context.Context, jobs func(context.Context)) {
	r.RunLocked(ctx, leaderLock, "the fleet's periodic jobs", func(ctx context.Context) {
		var wg sync.WaitGroup
		wg.Go(func() { r.tidy(ctx) })
		if jobs != nil {
			wg.Go(func() { jobs(ctx) })
		}
		wg.Wait()
	})
}

// RunLocked calls f whenever this replica takes the advisory lock named
// lock (what says what it guards, for the log), and ends f's context when
// it loses it, until ctx ends: f runs on one replica of the fleet at a
// time. The lock is held on a connection of its own, and goes when it
// does (the replica died, or its database connection did).
func (r *Replica) RunLocked(ctx context.Context, lock int64, what string, f func(context.Context)) {
	t := time.NewTicker(leaderPoll)
	defer t.Stop()
	for {
		r.runLockedOnce(ctx, lock, what, f)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (r *Replica) runLockedOnce(ctx context.Context, lock int64, what string, f func(context.Context)) {
	conn, err := pgx.ConnectConfig(ctx, r.pool.Config().ConnConfig.Copy())
	if err != nil {
		if ctx.Err() == nil {
			r.log.Warn().Err(err).Str("job", what).Msg("fleet job: no connection")
		}
		return
	}
	defer conn.Close(context.WithoutCancel(ctx))
	var got bool
	if err := conn.QueryRow(ctx, `SELECT pg_try_advisory_lock($1)`, lock).Scan(&got); err != nil || !got {
		return
	}
	r.log.Info().Str("job", what).Msg("this replica runs a fleet job")
	jctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() { f(jctx) })
	// Hold the lock while the connection lives.
	t := time.NewTicker(leaderPoll)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
		case <-t.C:
			if err := conn.Ping(ctx); err == nil {
				continue
			} else if ctx.Err() == nil {
				r.log.Warn().Err(err).Str("job", what).Msg("fleet job: lock connection lost; another replica takes it")
			}
		}
		cancel()
		wg.Wait()
		return
	}
}

// tidy removes dead replicas, their sessions and unread answers.
func (r *Replica) tidy(ctx context.Context) {
	for {
		old := r.now().Add(-forgetDead).UnixMilli()
		for _, q := range []string{
			`DELETE FROM sessions WHERE replica_id IN (SELECT id FROM replicas WHERE seen < $1)`,
			`DELETE FROM replicas WHERE seen < $1`,
			`DELETE FROM relay_replies WHERE created < $1`,
			`DELETE FROM relay_hunts WHERE created < $1`,
			`DELETE FROM relay_hunt_answers WHERE created < $1`,
			`DELETE FROM relay_hunt_asked WHERE created < $1`,
			`DELETE FROM relay_hunt_acks WHERE created < $1`,
		} {
			if _, err := r.pool.Exec(ctx, q, old); err != nil && ctx.Err() == nil {
				r.log.Warn().Err(err).Msg("dead replicas not tidied")
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Minute):
		}
	}
}

// Publish makes bundle, cfg and files (what else the collector
// publishes with them, opaque here) the fleet's policy and tells every
// replica.
func (r *Replica) Publish(ctx context.Context, bundle *fwv1.RuleBundle, cfg *fwv1.ConfigUpdate, files []byte) error {
	var bb []byte
	if bundle != nil {
		var err error
		if bb, err = proto.Marshal(bundle); err != nil {
			return err
		}
	}
	cb, err := proto.Marshal(cfg)
	if err != nil {
		return err
	}
	if _, err := r.pool.Exec(ctx, `INSERT INTO policy (id, bundle, config, version, files) VALUES (1, $1, $2, 1, $3)
ON CONFLICT (id) DO UPDATE SET bundle = excluded.bundle, config = excluded.config, files = excluded.files, version = policy.version + 1`, bb, cb, files); err != nil {
		return fmt.Errorf("publish the policy: %w", err)
	}
	if _, err := r.pool.Exec(ctx, `SELECT pg_notify($1, '')`, policyChannel); err != nil {
		return fmt.Errorf("publish the policy: %w", err)
	}
	return nil
}

// FleetPolicy is the fleet's published policy.
type FleetPolicy struct {
	Bundle *fwv1.RuleBundle
	Config *fwv1.ConfigUpdate
	Files  []byte
}

// loadPolicy reads the fleet's policy; ok is false when none was
// published.
func (r *Replica) loadPolicy(ctx context.Context) (FleetPolicy, bool, error) {
	var bb, cb, files []byte
	err := r.pool.QueryRow(ctx, `SELECT bundle, config, files FROM policy WHERE id = 1`).Scan(&bb, &cb, &files)
	if errors.Is(err, pgx.ErrNoRows) {
		return FleetPolicy{}, false, nil
	}
	if err != nil {
		return FleetPolicy{}, false, err
	}
	var bundle *fwv1.RuleBundle
	if bb != nil {
		bundle = &fwv1.RuleBundle{}
		if err := proto.Unmarshal(bb, bundle); err != nil {
			return FleetPolicy{}, false, fmt.Errorf("stored policy: %w", err)
		}
	}
	cfg := &fwv1.ConfigUpdate{}
	if err := proto.Unmarshal(cb, cfg); err != nil {
		return FleetPolicy{}, false, fmt.Errorf("stored policy: %w", err)
	}
	return FleetPolicy{Bundle: bundle, Config: cfg, Files: files}, true, nil
}

// Policy returns the fleet's published policy, if any.
func (r *Replica) Policy(ctx context.Context) (FleetPolicy, bool, error) {
	return r.loadPolicy(ctx)
}
