package pki

import (
	"crypto/tls"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/farmwatch/farmwatch/credential"
)

func TestInitServesTLS(t *testing.T) {
	dir := t.TempDir()
	in, err := Init(dir, []string{"localhost", "127.0.0.1"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(in.AdminToken, "fwt_") || !strings.HasPrefix(in.EnrollSecret, "fwe_") || len(in.Files) != 6 {
		t.Fatalf("install = %+v", in)
	}
	for _, f := range []string{CAKeyFile, ServerKeyFile, EnrollSecretFile, AdminTokenFile} {
		st, err := os.Stat(filepath.Join(dir, f))
		if err != nil || st.Mode().Perm() != 0o600 {
			t.Errorf("%s: mode %v, %v", f, st.Mode(), err)
		}
	}
	if _, err := Init(dir, nil, time.Now()); err == nil || !strings.Contains(err.Error(), "refusing to overwrite") {
		t.Fatalf("second init: %v", err)
	}
	srv, err := ServerTLS(dir)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", srv)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return // the listener is closed
			}
			c.(*tls.Conn).Handshake()
			c.Close()
		}
	}()
	cli, err := credential.ClientTLS(filepath.Join(dir, CAFile))
	if err != nil {
		t.Fatal(err)
	}
	cli.ServerName = "localhost"
	c, err := tls.Dial("tcp", ln.Addr().String(), cli)
	if err != nil {
		t.Fatalf("a client trusting the install's CA cannot connect: %v", err)
	}
	c.Close()
	// A client that does not trust the CA is refused.
	if c, err := tls.Dial("tcp", ln.Addr().String(), &tls.Config{ServerName: "localhost"}); err == nil {
		c.Close()
		t.Fatal("a client without the CA connected")
	}
}
