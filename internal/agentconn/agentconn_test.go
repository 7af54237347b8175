package agentconn

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/binary"
	"io"
	"math/big"
	"net"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// maxRecord is the largest TLS record the agent's 4 KiB writes make: the
// plaintext, TLS 1.3's content-type byte and AES-GCM's 16-byte tag.
const maxRecord = 4<<10 + 1 + 16

// TestRecordsAreSmall sends a message of 400 KiB (past crypto/tls's 128 KiB
// of small records at the start of a connection) through a relay that
// reads the TLS record headers the agent writes: with DialOptions no record
// is larger than a 4 KiB write, and with gRPC's defaults some are (the test
// tells the two apart).
func TestRecordsAreSmall(t *testing.T) {
	for _, tc := range []struct {
		name     string
		opts     func(credentials.TransportCredentials) []grpc.DialOption
		wantOver bool
	}{
		{"agentconn", DialOptions, false},
		{"grpc defaults", func(c credentials.TransportCredentials) []grpc.DialOption {
			return []grpc.DialOption{grpc.WithTransportCredentials(c)}
		}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			largest := sendThroughRelay(t, tc.opts, 400<<10)
			if over := largest > maxRecord; over != tc.wantOver {
				t.Fatalf("largest record the client wrote: %d bytes (bound %d); over the bound: %v, want %v", largest, maxRecord, over, tc.wantOver)
			}
			t.Logf("largest record: %d bytes", largest)
		})
	}
}

// sendThroughRelay makes one call carrying n bytes from a client dialled
// with opts to a gRPC server over TLS, through a TCP relay, and returns
// the largest TLS record the client sent.
func sendThroughRelay(t *testing.T, opts func(credentials.TransportCredentials) []grpc.DialOption, n int) int {
	t.Helper()
	cert, pool := selfSigned(t)
	srv := grpc.NewServer(grpc.Creds(credentials.NewTLS(&tls.Config{Certificates: []tls.Certificate{cert}})),
		grpc.MaxRecvMsgSize(4<<20),
		grpc.UnknownServiceHandler(func(_ any, st grpc.ServerStream) error {
			if err := st.RecvMsg(&wrapperspb.BytesValue{}); err != nil {
				return err
			}
			return st.SendMsg(&emptypb.Empty{})
		}))
	sln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(sln)
	defer srv.Stop()

	rln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer rln.Close()
	var (
		mu      sync.Mutex
		largest int
		wg      sync.WaitGroup
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		c, err := rln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		s, err := net.Dial("tcp", sln.Addr().String())
		if err != nil {
			return
		}
		defer s.Close()
		go io.Copy(c, s)
		// The client's side: read record by record, keeping the largest.
		hdr := make([]byte, 5)
		for {
			if _, err := io.ReadFull(c, hdr); err != nil {
				return
			}
			l := int(binary.BigEndian.Uint16(hdr[3:]))
			body := make([]byte, l)
			if _, err := io.ReadFull(c, body); err != nil {
				return
			}
			mu.Lock()
			largest = max(largest, l)
			mu.Unlock()
			if _, err := s.Write(append(hdr, body...)); err != nil {
				return
			}
		}
	}()

	cc, err := grpc.NewClient(rln.Addr().String(), append(opts(credentials.NewTLS(&tls.Config{RootCAs: pool, ServerName: "collector.test"})), grpc.WithDefaultCallOptions(grpc.MaxCallSendMsgSize(4<<20)))...)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := cc.Invoke(ctx, "/test.Big/Send", &wrapperspb.BytesValue{Value: make([]byte, n)}, &emptypb.Empty{}); err != nil {
		t.Fatal(err)
	}
	cc.Close()
	rln.Close()
	wg.Wait()
	mu.Lock()
	defer mu.Unlock()
	return largest
}

func selfSigned(t *testing.T) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "collector.test"},
		DNSNames: []string{"collector.test"}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true, IsCA: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, pool
}
