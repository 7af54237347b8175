// Command proxyrelay stands in for a TCP load balancer in make demo: it
// listens on loopback addresses and forwards each connection to the
// collector after a PROXY protocol v1 header that names a chosen egress
// address, so replayed hosts on one machine each come from their own
// place.
//
//	proxyrelay -to 127.0.0.1:7443 LISTEN=EGRESS [LISTEN=EGRESS ...]
//
// It runs until interrupted. It is a demo tool, not part of farmwatch.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"strings"
	"sync"
)

func main() {
	to := flag.String("to", "127.0.0.1:7443", "the collector's address")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	var wg sync.WaitGroup
	for _, a := range flag.Args() {
		listen, egress, ok := strings.Cut(a, "=")
		if !ok || net.ParseIP(egress) == nil {
			fmt.Fprintf(os.Stderr, "proxyrelay: %q: want LISTEN=EGRESS\n", a)
			os.Exit(2)
		}
		ln, err := net.Listen("tcp", listen)
		if err != nil {
			fmt.Fprintf(os.Stderr, "proxyrelay: %v\n", err)
			os.Exit(2)
		}
		context.AfterFunc(ctx, func() { ln.Close() })
		wg.Add(1)
		go func() { defer wg.Done(); relay(ln, *to, egress) }()
	}
	wg.Wait()
}

func relay(ln net.Listener, to, egress string) {
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		in, err := ln.Accept()
		if err != nil {
			return
		}
		out, err := net.Dial("tcp", to)
		if err != nil {
			in.Close()
			continue
		}
		fam, dst := "TCP4", "127.0.0.1"
		if strings.Contains(egress, ":") {
			fam, dst = "TCP6", "::1"
		}
		fmt.Fprintf(out, "PROXY %s %s %s 40000 7443\r\n", fam, egress, dst)
		wg.Add(2)
		go func() { defer wg.Done(); io.Copy(out, in); out.Close() }()
		go func() { defer wg.Done(); io.Copy(in, out); in.Close() }()
	}
}
