package main

import (
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/farmwatch/farmwatch/collector/pki"
	"github.com/farmwatch/farmwatch/collector/server"
	"github.com/farmwatch/farmwatch/collector/store"
	"github.com/farmwatch/farmwatch/collector/web"
	"github.com/rs/zerolog"
)

// webServer makes the console's HTTPS server on addr, with the install's
// server certificate, and its listener.
func webServer(data, addr string, st store.Store, srv *server.Server, log zerolog.Logger) (*http.Server, net.Listener, error) {
	con, err := web.New(web.Config{Store: st, Fleet: srv, Log: log.With().Str("part", "web").Logger()})
	if err != nil {
		return nil, nil, err
	}
	tlsCfg, err := pki.ServerTLS(data)
	if err != nil {
		return nil, nil, fmt.Errorf("serve: web: %w", err)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, nil, fmt.Errorf("serve: web: %w", err)
	}
	hs := &http.Server{Handler: con.Handler(), TLSConfig: tlsCfg, ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 30 * time.Second,
		IdleTimeout: 2 * time.Minute, MaxHeaderBytes: 32 << 10, ErrorLog: nil}
	log.Info().Str("listen", "https://"+ln.Addr().String()+"/").Msg("web console serving")
	return hs, ln, nil
}
