package main

import (
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"flag"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/farmwatch/farmwatch/collector/output"
	"github.com/farmwatch/farmwatch/collector/store"
	"github.com/farmwatch/farmwatch/credential"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
)

// outputFlags are serve's outputs: webhooks and syslog receivers.
type outputFlags struct {
	webhooks, secretFiles, syslogs multi
	queue                          int
	syslogCA                       string
}

func (o *outputFlags) register(fs *flag.FlagSet) {
	fs.Var(&o.webhooks, "webhook", "a URL to POST each new, changed and resolved finding and farm cluster to, as OCSF Detection Finding JSON (repeatable)")
	fs.Var(&o.secretFiles, "webhook-secret-file", "the HMAC-SHA256 key of the X-Farmwatch-Signature header of the --webhook of the same position (repeatable)")
	fs.IntVar(&o.queue, "webhook-queue", 10000, "events each webhook keeps on disk while its receiver is down; past it the oldest are dropped and counted in /metrics")
	fs.Var(&o.syslogs, "syslog", "tcp://HOST:PORT, tls://HOST:PORT or udp://HOST:PORT: RFC 5424 messages, one per finding event (repeatable)")
	fs.StringVar(&o.syslogCA, "syslog-ca", "", "CA certificate file the tls:// syslog receivers are checked against (default: the system's)")
}

// check refuses outputs that cannot work, before anything starts.
func (o *outputFlags) check() error {
	if len(o.webhooks) != len(o.secretFiles) {
		return usageError{fmt.Sprintf("serve: %d --webhook and %d --webhook-secret-file: give each webhook its secret file, in the same order", len(o.webhooks), len(o.secretFiles))}
	}
	for _, u := range o.webhooks {
		if err := output.CheckURL(u); err != nil {
			return usageError{"serve: --" + err.Error()}
		}
	}
	for _, s := range o.syslogs {
		if _, _, err := output.ParseSyslog(s); err != nil {
			return usageError{"serve: --" + err.Error()}
		}
	}
	if o.queue < 1 {
		return usageError{"serve: --webhook-queue must be at least 1"}
	}
	return nil
}

func (o *outputFlags) any() bool { return len(o.webhooks)+len(o.syslogs) > 0 }

// build makes the outputs; their queues and state live in DATA/outputs.
func (o *outputFlags) build(data string, st store.Store, reg prometheus.Registerer, log zerolog.Logger) (*output.Outputs, error) {
	m, err := output.NewMetrics(reg)
	if err != nil {
		return nil, err
	}
	dir := filepath.Join(data, "outputs")
	host, _ := os.Hostname()
	outs := &output.Outputs{Store: st, Log: log, Metrics: m, Version: version, StateFile: filepath.Join(dir, "state.json")}
	for i, u := range o.webhooks {
		secret, err := credential.ReadSecret(o.secretFiles[i])
		if err != nil {
			return nil, fmt.Errorf("serve: --webhook-secret-file: %w", err)
		}
		sum := sha256.Sum256([]byte(u))
		q, err := output.OpenQueue(filepath.Join(dir, "webhook-"+hex.EncodeToString(sum[:6])), o.queue)
		if err != nil {
			return nil, fmt.Errorf("serve: %w", err)
		}
		outs.Webhooks = append(outs.Webhooks, &output.Webhook{URL: u, Secret: []byte(secret), Queue: q, Log: log, Metrics: m,
			Client: &http.Client{Timeout: 20 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}})
	}
	var tlsCfg *tls.Config
	if o.syslogCA != "" {
		pem, err := os.ReadFile(o.syslogCA)
		if err != nil {
			return nil, fmt.Errorf("serve: --syslog-ca: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("serve: --syslog-ca %s: no PEM certificate in it", o.syslogCA)
		}
		tlsCfg = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	}
	for _, s := range o.syslogs {
		network, addr, _ := output.ParseSyslog(s)
		outs.Syslogs = append(outs.Syslogs, &output.Syslog{Network: network, Addr: addr, TLS: tlsCfg, Log: log, Metrics: m, Host: host})
	}
	return outs, nil
}
