// Package credential is how agents and people prove who they are to a
// collector, the same in both binaries: the TLS configuration that trusts
// the collector's CA and nothing else, secret files (enroll secret, node
// key, fleet API tokens), and the gRPC metadata that carries them.
//
// An enrolment carries "Enroll <secret>" in MDAuthorization; an agent's
// stream carries its host id in MDHost and "Node <key>" in
// MDAuthorization; a fleet API call carries "Bearer <token>".
package credential

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"os"
	"strings"
)

// The gRPC metadata keys.
const (
	MDHost          = "x-farmwatch-host" // an agent's host id
	MDAuthorization = "authorization"    // "Node <key>" or "Bearer <token>"
)

const (
	enrollScheme = "Enroll "
	nodeScheme   = "Node "
	bearerScheme = "Bearer "
)

// Enroll is the authorization value of an enrolment: the fleet's enroll
// secret.
func Enroll(secret string) string { return enrollScheme + secret }

// ParseEnroll returns the enroll secret of an authorization value, and
// whether it is one.
func ParseEnroll(v string) (string, bool) {
	s, ok := strings.CutPrefix(v, enrollScheme)
	return s, ok && s != ""
}

// Node is the authorization value of an agent's node key.
func Node(key string) string { return nodeScheme + key }

// Bearer is the authorization value of a fleet API token.
func Bearer(token string) string { return bearerScheme + token }

// ParseNode returns the node key of an authorization value, and whether it
// is one.
func ParseNode(v string) (string, bool) {
	k, ok := strings.CutPrefix(v, nodeScheme)
	return k, ok && k != ""
}

// ParseBearer returns the token of an authorization value, and whether it
// is one.
func ParseBearer(v string) (string, bool) {
	t, ok := strings.CutPrefix(v, bearerScheme)
	return t, ok && t != ""
}

// ClientTLS trusts the CA certificate in caFile, and nothing else, for the
// collector.
func ClientTLS(caFile string) (*tls.Config, error) {
	b, err := os.ReadFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("ca %s: %w", caFile, err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		return nil, fmt.Errorf("ca %s: no PEM certificate in it", caFile)
	}
	return &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}, nil
}

// maxSecret bounds a secret file: a secret is one short line.
const maxSecret = 4 << 10

// ReadSecret reads a one-line secret file; surrounding white space is not
// part of the secret, and an empty or oversized file is an error that names
// it.
func ReadSecret(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("read %s: %w", path, err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxSecret+1))
	if err != nil {
		return "", fmt.Errorf("read %s: %w", path, err)
	}
	if len(b) > maxSecret {
		return "", fmt.Errorf("read %s: over %d bytes: not a secret file", path, maxSecret)
	}
	s := strings.TrimSpace(string(b))
	if s == "" {
		return "", fmt.Errorf("read %s: empty", path)
	}
	if strings.ContainsAny(s, "\r\n") {
		return "", fmt.Errorf("read %s: more than one line", path)
	}
	return s, nil
}
