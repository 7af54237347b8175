package main

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/maxmind/mmdbwriter"
	"github.com/maxmind/mmdbwriter/mmdbtype"
)

// relay is a load balancer in front of the collector: it adds a PROXY
// protocol v1 header with the egress address of its agent's place, from
// 127.0.0.1, which the collector trusts.
type relay struct {
	ln     net.Listener
	target string
	mu     sync.Mutex
	egress string
	conns  []net.Conn
	wg     sync.WaitGroup
}

func startRelay(t *testing.T, target, egress string) *relay {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r := &relay{ln: ln, target: target, egress: egress}
	r.wg.Add(1)
	go r.serve()
	t.Cleanup(func() {
		ln.Close()
		r.move("") // closes what is open
		r.wg.Wait()
	})
	return r
}

func (r *relay) addr() string { return r.ln.Addr().String() }

// move changes the egress address: the open connections close, as a
// laptop's do when it changes networks, and the agent reconnects.
func (r *relay) move(egress string) {
	r.mu.Lock()
	if egress != "" {
		r.egress = egress
	}
	conns := r.conns
	r.conns = nil
	r.mu.Unlock()
	for _, c := range conns {
		c.Close()
	}
}

func (r *relay) serve() {
	defer r.wg.Done()
	for {
		in, err := r.ln.Accept()
		if err != nil {
			return
		}
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)}, Timeout: 5 * time.Second}
		out, err := d.Dial("tcp", r.target)
		if err != nil {
			in.Close()
			continue
		}
		r.mu.Lock()
		src := r.egress
		r.conns = append(r.conns, in, out)
		r.mu.Unlock()
		fam := "TCP4"
		if strings.Contains(src, ":") {
			fam = "TCP6"
		}
		dst, _, _ := net.SplitHostPort(r.target)
		if fam == "TCP6" {
			dst = "::1"
		}
		fmt.Fprintf(out, "PROXY %s %s %s %d %d\r\n", fam, src, dst, 40000+len(r.conns), 7443)
		r.wg.Add(2)
		go func() { defer r.wg.Done(); io.Copy(out, in); out.Close() }()
		go func() { defer r.wg.Done(); io.Copy(in, out); in.Close() }()
	}
}

// writeGeoIP writes a MaxMind DB that places each CIDR in a country.
func writeGeoIP(t *testing.T, path string, countries map[string]string) string {
	t.Helper()
	w, err := mmdbwriter.New(mmdbwriter.Options{DatabaseType: "GeoLite2-Country", RecordSize: 24,
		Description: map[string]string{"en": "farmwatch test"}, IncludeReservedNetworks: true})
	if err != nil {
		t.Fatal(err)
	}
	for cidr, c := range countries {
		_, n, err := net.ParseCIDR(cidr)
		if err != nil {
			t.Fatal(err)
		}
		if err := w.Insert(n, mmdbtype.Map{"country": mmdbtype.Map{"iso_code": mmdbtype.String(c)}}); err != nil {
			t.Fatal(err)
		}
	}
	var b bytes.Buffer
	if _, err := w.WriteTo(&b); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}
