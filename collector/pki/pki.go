// Package pki makes a collector's first install: a CA, a server certificate
// signed by it, the enroll secret and the first admin token, and it loads
// them again for serving. Keys are ECDSA P-256; files that hold secrets are
// written 0600.
package pki

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// The files of an install, in its data directory.
const (
	CAFile           = "ca.crt"
	CAKeyFile        = "ca.key"
	ServerCertFile   = "server.crt"
	ServerKeyFile    = "server.key"
	EnrollSecretFile = "enroll-secret"
	AdminTokenFile   = "admin.token"
	// FleetSaltFile keys the hashes of network identifiers (package
	// fleethash) on every agent: the collector hands it to them.
	FleetSaltFile = "fleet-salt"
)

// Install is what Init made.
type Install struct {
	Dir          string
	EnrollSecret string
	AdminToken   string
	FleetSalt    string
	Files        []string
}

// Init makes a first install in dir. It refuses when any of its files
// already exists, so an install is never overwritten.
func Init(dir string, hosts []string, now time.Time) (*Install, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("init %s: %w", dir, err)
	}
	// A directory that was there keeps its mode through MkdirAll.
	if _, err := SecureDir(dir, nil); err != nil {
		return nil, fmt.Errorf("init %s: %w", dir, err)
	}
	for _, f := range []string{CAFile, CAKeyFile, ServerCertFile, ServerKeyFile, EnrollSecretFile, AdminTokenFile, FleetSaltFile} {
		if _, err := os.Lstat(filepath.Join(dir, f)); err == nil {
			return nil, fmt.Errorf("init %s: %s exists: refusing to overwrite an install", dir, f)
		}
	}
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	caTmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: "farmwatch collector CA", Organization: []string{"farmwatch"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.AddDate(10, 0, 0),
		IsCA:                  true,
		BasicConstraintsValid: true,
		MaxPathLenZero:        true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return nil, fmt.Errorf("init: CA: %w", err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	srvKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	srvTmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: "farmwatch collector", Organization: []string{"farmwatch"}},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.AddDate(2, 0, 0),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			srvTmpl.IPAddresses = append(srvTmpl.IPAddresses, ip)
		} else if h != "" {
			srvTmpl.DNSNames = append(srvTmpl.DNSNames, h)
		}
	}
	srvDER, err := x509.CreateCertificate(rand.Reader, srvTmpl, ca, &srvKey.PublicKey, caKey)
	if err != nil {
		return nil, fmt.Errorf("init: server certificate: %w", err)
	}
	in := &Install{Dir: dir, EnrollSecret: Secret("fwe_"), AdminToken: Secret("fwt_"), FleetSalt: Secret("fws_")}
	write := func(name string, data []byte, mode os.FileMode) error {
		p := filepath.Join(dir, name)
		f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
		if err != nil {
			return fmt.Errorf("init: %w", err)
		}
		if _, err := f.Write(data); err != nil {
			f.Close()
			return fmt.Errorf("init: write %s: %w", p, err)
		}
		if err := f.Close(); err != nil {
			return fmt.Errorf("init: write %s: %w", p, err)
		}
		in.Files = append(in.Files, p)
		return nil
	}
	caKeyDER, _ := x509.MarshalECPrivateKey(caKey)
	srvKeyDER, _ := x509.MarshalECPrivateKey(srvKey)
	steps := []struct {
		name string
		data []byte
		mode os.FileMode
	}{
		{CAFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}), 0o644},
		{CAKeyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: caKeyDER}), 0o600},
		{ServerCertFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srvDER}), 0o644},
		{ServerKeyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: srvKeyDER}), 0o600},
		{EnrollSecretFile, []byte(in.EnrollSecret + "\n"), 0o600},
		{AdminTokenFile, []byte(in.AdminToken + "\n"), 0o600},
		{FleetSaltFile, []byte(in.FleetSalt + "\n"), 0o600},
	}
	for _, s := range steps {
		if err := write(s.name, s.data, s.mode); err != nil {
			return nil, err
		}
	}
	return in, nil
}

func serial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		panic(err) // crypto/rand never fails on supported platforms
	}
	return n
}

// Secret returns a new random secret (256 bits) with a prefix that says
// what it is.
func Secret(prefix string) string {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand never fails on supported platforms
	}
	return prefix + base64.RawURLEncoding.EncodeToString(b)
}

// Hash is how secrets are stored: SHA-256. The secrets are 256-bit random,
// so no salt or stretching is needed.
func Hash(secret string) []byte {
	h := sha256.Sum256([]byte(secret))
	return h[:]
}

// ServerTLS loads the server certificate of an install for serving.
func ServerTLS(dir string) (*tls.Config, error) {
	cert, err := tls.LoadX509KeyPair(filepath.Join(dir, ServerCertFile), filepath.Join(dir, ServerKeyFile))
	if err != nil {
		return nil, fmt.Errorf("server certificate in %s: %w", dir, err)
	}
	return &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}, nil
}

// EnsureFleetSalt returns the fleet salt of the install in dir: the
// trimmed text of its fleet-salt file. An install made before the file
// existed gets one now (created says so); a file that is there but empty
// or not one line is refused, never replaced: every agent's hashes depend
// on it.
func EnsureFleetSalt(dir string) (salt string, created bool, err error) {
	p := filepath.Join(dir, FleetSaltFile)
	b, err := os.ReadFile(p)
	if errors.Is(err, os.ErrNotExist) {
		salt = Secret("fws_")
		f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return "", false, fmt.Errorf("fleet salt: %w", err)
		}
		_, werr := f.WriteString(salt + "\n")
		if cerr := f.Close(); werr == nil {
			werr = cerr
		}
		if werr != nil {
			os.Remove(p)
			return "", false, fmt.Errorf("fleet salt: write %s: %w", p, werr)
		}
		return salt, true, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("fleet salt: %w", err)
	}
	salt = strings.TrimSpace(string(b))
	if salt == "" || len(salt) > 1024 || strings.ContainsAny(salt, "\r\n") {
		return "", false, fmt.Errorf("fleet salt %s: want one line of 1 to 1024 bytes; every agent's hashes depend on it, so it is not replaced", p)
	}
	return salt, false, nil
}
