package authenticode

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// ThrowawayCert writes a self-signed code-signing certificate and its key.
func throwawayCert(t *testing.T) (cert, key string) {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: "farmwatch throwaway code signing"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning},
		IsCA: true, BasicConstraintsValid: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	kd, _ := x509.MarshalPKCS8PrivateKey(k)
	dir := t.TempDir()
	cert, key = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	os.WriteFile(cert, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
	os.WriteFile(key, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kd}), 0o600)
	return cert, key
}

// TestSignRoundTrip signs a small Windows executable with a throwaway
// certificate and verifies it with osslsigncode; a changed byte fails.
func TestSignRoundTrip(t *testing.T) {
	if _, err := exec.LookPath("osslsigncode"); err != nil {
		t.Skip("osslsigncode is not installed (.ci/run installs it): skipped")
	}
	dir := t.TempDir()
	src := filepath.Join(dir, "main.go")
	os.WriteFile(src, []byte("package main\n\nfunc main() {}\n"), 0o644)
	exe := filepath.Join(dir, "hello.exe")
	cmd := exec.Command(filepath.Join(runtime.GOROOT(), "bin", "go"), "build", "-o", exe, src)
	cmd.Env = append(os.Environ(), "GOOS=windows", "GOARCH=amd64", "CGO_ENABLED=0", "GO111MODULE=off")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	cert, key := throwawayCert(t)
	if _, err := Verify(exe, cert); err == nil {
		t.Fatal("an unsigned executable verified")
	}
	if err := (Signer{Cert: cert, Key: key}).Sign(exe); err != nil {
		t.Fatal(err)
	}
	out, err := Verify(exe, cert)
	if err != nil || !strings.Contains(out, "Signature verification: ok") {
		t.Fatalf("%v\n%s", err, out)
	}
	b, _ := os.ReadFile(exe)
	b[len(b)/2] ^= 0xff
	os.WriteFile(exe, b, 0o755)
	if out, err := Verify(exe, cert); err == nil {
		t.Fatalf("a changed executable verified:\n%s", out)
	}
	if (Signer{}).Configured() || !(Signer{PKCS12: "x"}).Configured() {
		t.Fatal("Configured")
	}
}
