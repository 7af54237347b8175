package main

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
	"runtime"
	"time"
)

// pprofListen checks a --pprof address: the profiles show the collector's
// memory and its callers, so they are served on a loopback address only.
func pprofListen(addr string) (net.Listener, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("--pprof %q: %w", addr, err)
	}
	if host == "localhost" {
		host = "127.0.0.1"
	}
	ip := net.ParseIP(host)
	if ip == nil || !ip.IsLoopback() {
		return nil, fmt.Errorf("--pprof %q: profiles are served on a loopback address only (127.0.0.1:PORT or [::1]:PORT)", addr)
	}
	_, port, _ := net.SplitHostPort(addr)
	return net.Listen("tcp", net.JoinHostPort(ip.String(), port))
}

// pprofServer serves Go's profiles (/debug/pprof/: cpu, heap, goroutine,
// mutex, block) and turns on the mutex and block profiles, which cost
// nothing while off.
func pprofServer() *http.Server {
	runtime.SetMutexProfileFraction(100)
	runtime.SetBlockProfileRate(int(time.Millisecond)) // blocking of 1 ms or more, sampled
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	return &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
}

func pprofServe(s *http.Server, ln net.Listener) error {
	if err := s.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve: pprof: %w", err)
	}
	return nil
}
