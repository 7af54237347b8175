package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/farmwatch/farmwatch/collector/geoip"
	"github.com/farmwatch/farmwatch/collector/output"
	"github.com/farmwatch/farmwatch/collector/pki"
	"github.com/farmwatch/farmwatch/collector/replica"
	"github.com/farmwatch/farmwatch/collector/server"
	"github.com/farmwatch/farmwatch/collector/store"
	"github.com/farmwatch/farmwatch/collector/store/postgres"
	"github.com/farmwatch/farmwatch/collector/store/sqlite"
	"github.com/farmwatch/farmwatch/credential"
	"github.com/farmwatch/farmwatch/report"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/rs/zerolog"
	"golang.org/x/sync/errgroup"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
)

// dbFile is the embedded store of an install.
const dbFile = "farmwatch.db"

func cmdInit(args []string, stdout io.Writer) error {
	fs := newFlags("init")
	data := fs.String("data", "", "the install's data directory")
	var names multi
	fs.Var(&names, "name", "an extra name or address the server certificate is valid for (repeatable)")
	if _, err := parse(fs, args); err != nil {
		return err
	}
	if *data == "" {
		return usageError{"init: --data DIR is required"}
	}
	if _, err := os.Stat(filepath.Join(*data, dbFile)); err == nil {
		return fmt.Errorf("init %s: %s exists: refusing to overwrite an install", *data, dbFile)
	}
	hosts := []string{"localhost", "127.0.0.1", "::1"}
	if hn, err := os.Hostname(); err == nil {
		hosts = append(hosts, hn)
	}
	hosts = append(hosts, names...)
	in, err := pki.Init(*data, hosts, time.Now())
	if err != nil {
		return err
	}
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(*data, dbFile))
	if err != nil {
		return err
	}
	defer st.Close()
	if err := st.PutToken(ctx, store.Token{Hash: pki.Hash(in.AdminToken), Name: "init", Role: store.RoleAdmin, Created: time.Now()}); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "initialised %s:\n", *data)
	for _, f := range append(in.Files, filepath.Join(*data, dbFile)) {
		fmt.Fprintf(stdout, "  %s\n", f)
	}
	fmt.Fprintf(stdout, "the server certificate is valid for %v\n", hosts)
	fmt.Fprintf(stdout, "agents enrol with %s; the admin token is in %s\n",
		filepath.Join(*data, pki.EnrollSecretFile), filepath.Join(*data, pki.AdminTokenFile))
	return nil
}

type multi []string

func (m *multi) String() string     { return fmt.Sprint(*m) }
func (m *multi) Set(v string) error { *m = append(*m, v); return nil }

func cmdServe(ctx context.Context, args []string, stderr io.Writer) error {
	fs := newFlags("serve")
	data := fs.String("data", "", "the install's data directory")
	listen := fs.String("listen", "127.0.0.1:7443", "address to serve agents and people on")
	insecure := fs.Bool("insecure", false, "serve without TLS (never in production)")
	metricsAddr := fs.String("metrics", "127.0.0.1:7444", "address for /healthz and Prometheus /metrics over plain HTTP (\"\" for none)")
	var ps policySource
	fs.Var((*multi)(&ps.ruleDirs), "rules", "a directory of the organisation's rule and exception files, pushed to every agent (repeatable)")
	fs.StringVar(&ps.orgFile, "org", "", "a YAML file of the countries, locales and timezones the fleet works in (pushed to every agent) and its known networks")
	fs.StringVar(&ps.rosterFile, "roster", "", "a CSV of each host's person: hostname,person,email,country,region,city,timezone (re-read like --rules)")
	fs.DurationVar(&ps.interval, "agent-interval", 0, "the scan interval pushed to agents (default: each agent's own)")
	reload := fs.Duration("reload", 30*time.Second, "how often to re-read --rules, --org and --roster and push changes (0: never)")
	historyDays := fs.Int("history-days", 90, "days of observation history to keep (0: forever)")
	maxConns := fs.Int("max-conns-per-peer", server.DefaultMaxConnsPerPeer,
		"open connections allowed from one address (an IPv6 /64 is one): more than the agents behind the largest NAT")
	var of outputFlags
	of.register(fs)
	webAddr := fs.String("web", "", "address to serve the web console on over HTTPS with the server certificate, e.g. 127.0.0.1:7445 (\"\" for none)")
	proxyFrom := fs.String("proxy-protocol-from", "", "CIDR[,CIDR...] of load balancers whose PROXY protocol (v1 or v2) header gives the agent's address; a header from any other peer is refused")
	geoFiles := fs.String("geoip", "", "FILE[,FILE] MaxMind-format databases (GeoLite2/GeoIP2 Country or City, ASN): each egress IP's country and ASN, compared with the roster's (read at start)")
	pprofAddr := fs.String("pprof", "", "a loopback address (127.0.0.1:PORT) to serve Go's profiles on, /debug/pprof/ (CPU, heap, mutex, block; \"\" for none: the default)")
	storeURL := fs.String("store", "", "the store: a postgres:// URL, which several replicas may share (default: SQLite in --data)") // [pg]
	if _, err := parse(fs, args); err != nil {
		return err
	}
	var geo *geoip.DB
	if *geoFiles != "" {
		var paths []string
		for _, p := range strings.Split(*geoFiles, ",") {
			if p = strings.TrimSpace(p); p != "" {
				paths = append(paths, p)
			}
		}
		var err error
		if geo, err = geoip.Open(paths); err != nil {
			return fmt.Errorf("serve: --geoip: %w", err)
		}
	}
	if err := of.check(); err != nil {
		return err
	}
	if *webAddr != "" && *insecure {
		return usageError{"serve: --web needs TLS: it cannot be used with --insecure"}
	}
	trusted, err := server.ParseCIDRs(*proxyFrom)
	if err != nil {
		return usageError{"serve: --proxy-protocol-from: " + err.Error()}
	}
	if ps.interval != 0 && ps.interval < time.Second {
		return usageError{"serve: --agent-interval must be at least 1s"}
	}
	if *reload < 0 || *historyDays < 0 {
		return usageError{"serve: --reload and --history-days must not be negative"}
	}
	if *maxConns < 1 {
		return usageError{"serve: --max-conns-per-peer must be at least 1"}
	}
	policy, err := ps.load(nil)
	if err != nil {
		return err
	}
	if err := ps.compile(&policy); err != nil {
		return err
	}
	if *data == "" {
		return usageError{"serve: --data DIR is required"}
	}
	log := zerolog.New(report.LogWriter(stderr, false)).With().Timestamp().Logger()
	// The data directory and its secrets are the collector's alone. One
	// left open to others (an older install, a restore, a umask) is made
	// private, with a warning; serve refuses to start when it cannot be.
	changed, err := pki.SecureDir(*data, append(pki.SecretFiles(), dbFile, dbFile+"-wal", dbFile+"-shm"))
	for _, c := range changed {
		log.Warn().Str("path", c.Path).Str("was", fmt.Sprintf("%#o", c.Was)).Str("now", fmt.Sprintf("%#o", c.Now)).
			Msg("data directory was open to other users: mode fixed")
	}
	if err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	secret, err := credential.ReadSecret(filepath.Join(*data, pki.EnrollSecretFile))
	if err != nil {
		return err
	}
	salt, made, err := pki.EnsureFleetSalt(*data)
	if err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	if made {
		log.Warn().Str("path", filepath.Join(*data, pki.FleetSaltFile)).Msg("install had no fleet salt: made one; agents hash their network identifiers with it from their next scan")
	}
	// Only init makes a store: serve refuses one that is missing, empty,
	// not a farmwatch store or damaged (quick_check), rather than start
	// an empty fleet in its place.
	opened := time.Now()
	st, stName, err := openServedStore(ctx, *data, *storeURL) // [pg] SQLite in the data directory, or PostgreSQL
	if err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	defer st.Close()
	log.Info().Str("store", stName).Dur("took", time.Since(opened)).Msg("store opened and checked")
	var rep *replica.Replica // [pg] one of several replicas on PostgreSQL
	if pg, ok := st.(*postgres.DB); ok {
		rep = replica.New(pg.Pool(), *listen, log)
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	metrics, err := server.NewMetrics(reg)
	if err != nil {
		return err
	}
	srv, err := server.New(server.Config{Store: st, Log: log, EnrollSecret: secret, Policy: policy, Metrics: metrics,
		Edge: server.Edge{MaxConnsPerPeer: *maxConns, ProxyFrom: trusted}, FleetSalt: salt, GeoIP: geo, Relay: relayOf(rep)})
	if err != nil {
		return err
	}
	var outs *output.Outputs
	if of.any() {
		if outs, err = of.build(*data, st, reg, log.With().Str("part", "output").Logger()); err != nil {
			return err
		}
		shareOutputs(outs, rep)
	}
	opts := srv.GRPCOptions()
	if *insecure {
		log.Warn().Str("listen", *listen).Msg("serving WITHOUT TLS: node keys and tokens cross the network in clear text")
	} else {
		tlsCfg, err := pki.ServerTLS(*data)
		if err != nil {
			return err
		}
		opts = append(opts, grpc.Creds(credentials.NewTLS(tlsCfg)))
	}
	g := grpc.NewServer(opts...)
	srv.Register(g)
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	logFileLimit(log)
	ln = srv.LimitConns(watchFiles(ln, log))
	var hs *http.Server
	var mln net.Listener
	if *metricsAddr != "" {
		mux := http.NewServeMux()
		mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
		// /healthz fails (503, and why) when the store has found its file
		// damaged, when its last write failed and none has succeeded
		// since, or when a cheap read fails (sqlite.DB.Health).
		mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) {
			if err := st.Health(r.Context()); err != nil {
				http.Error(w, "store: "+err.Error(), http.StatusServiceUnavailable)
				return
			}
			io.WriteString(w, "ok\n")
		})
		if mln, err = net.Listen("tcp", *metricsAddr); err != nil {
			ln.Close()
			return fmt.Errorf("serve: metrics: %w", err)
		}
		hs = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
		log.Info().Str("listen", mln.Addr().String()).Msg("metrics and health serving")
	}
	var prof *http.Server
	var pln net.Listener
	if *pprofAddr != "" {
		if pln, err = pprofListen(*pprofAddr); err != nil {
			ln.Close()
			if mln != nil {
				mln.Close()
			}
			return usageError{"serve: " + err.Error()}
		}
		prof = pprofServer()
		log.Warn().Str("listen", pln.Addr().String()).Msg("profiles serving (--pprof): for measuring, not for production")
	}
	var ws *http.Server
	var wln net.Listener
	if *webAddr != "" {
		if ws, wln, err = webServer(*data, *webAddr, st, srv, log); err != nil {
			ln.Close()
			if mln != nil {
				mln.Close()
			}
			if pln != nil {
				pln.Close()
			}
			return err
		}
	}
	log.Info().Str("listen", ln.Addr().String()).Str("data", *data).Bool("tls", !*insecure).Int("max_conns_per_peer", *maxConns).Str("proxy_protocol_from", *proxyFrom).Strs("geoip", geo.Types()).
		Str("rules_version", policy.Bundle.GetVersion()).Int("rule_files", len(policy.Bundle.GetFiles())).Msg("collector serving")

	// Every goroutine of the collector is in this group, and serve returns
	// only once all have ended.
	grp, gctx := errgroup.WithContext(ctx)
	grp.Go(func() error {
		if err := g.Serve(ln); err != nil {
			return fmt.Errorf("serve: %w", err)
		}
		return nil
	})
	if hs != nil {
		grp.Go(func() error {
			if err := hs.Serve(mln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				return fmt.Errorf("serve: metrics: %w", err)
			}
			return nil
		})
	}
	if prof != nil {
		grp.Go(func() error { return pprofServe(prof, pln) })
	}
	if ws != nil {
		grp.Go(func() error {
			if err := ws.ServeTLS(wln, "", ""); err != nil && !errors.Is(err, http.ErrServerClosed) {
				return fmt.Errorf("serve: web: %w", err)
			}
			return nil
		})
	}
	if rep != nil { // [pg] the fleet's jobs run on one replica, and the policy comes through PostgreSQL
		grp.Go(func() error {
			return runReplica(gctx, rep, srv, st, ps, policy, *reload, time.Duration(*historyDays)*24*time.Hour, log)
		})
	} else {
		if *reload > 0 && (len(ps.ruleDirs) > 0 || ps.orgFile != "" || ps.rosterFile != "") {
			grp.Go(func() error { watchPolicy(gctx, ps, policy, *reload, srv, log); return nil })
		}
		if *historyDays > 0 {
			grp.Go(func() error { pruneHistory(gctx, st, time.Duration(*historyDays)*24*time.Hour, log); return nil })
		}
		grp.Go(func() error { srv.RunFleet(gctx); return nil })
	}
	grp.Go(func() error { srv.RunLimits(gctx); return nil })
	if outs != nil {
		grp.Go(func() error { return outs.Run(gctx) })
	}
	grp.Go(func() error { // stops the servers when asked to, or when one fails
		<-gctx.Done()
		if ctx.Err() != nil {
			log.Info().Msg("collector stopping")
		}
		if hs != nil {
			hs.Close()
		}
		if ws != nil {
			ws.Close()
		}
		if prof != nil {
			prof.Close()
		}
		done := make(chan struct{})
		go func() { g.GracefulStop(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second): // agent streams do not end by themselves
			g.Stop()
			<-done
		}
		srv.Wait()
		return nil
	})
	return grp.Wait()
}

// pruneHistory forgets observation history older than keep, now and then
// every hour.
func pruneHistory(ctx context.Context, st store.Store, keep time.Duration, log zerolog.Logger) {
	for {
		n, err := st.PruneChanges(ctx, time.Now().Add(-keep))
		if err != nil && ctx.Err() == nil {
			log.Error().Err(err).Msg("history not pruned")
		} else if n > 0 {
			log.Info().Int64("messages", n).Dur("older_than", keep).Msg("history pruned")
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Hour):
		}
	}
}
