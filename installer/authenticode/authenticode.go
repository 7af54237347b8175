// Package authenticode signs Windows executables and MSI packages with
// osslsigncode, which runs on Linux:
//
//	osslsigncode sign -pkcs12 FILE [-pass PASS] | -certs CERT.pem -key KEY.pem \
//	    -n "farmwatch agent" -h sha256 [-t URL] -in IN -out OUT
//	osslsigncode verify -CAfile CA.pem -in FILE
package authenticode

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
)

// Signer is a code-signing certificate: a PKCS#12 file, or a certificate
// and key in PEM.
type Signer struct {
	PKCS12, Password string
	Cert, Key        string
	// Timestamp is an RFC 3161 time-stamping URL; empty: none (the
	// signature then expires with the certificate).
	Timestamp string
}

// Configured says whether there is a certificate to sign with.
func (s Signer) Configured() bool { return s.PKCS12 != "" || s.Cert != "" }

// Sign signs the file at path in place.
func (s Signer) Sign(path string) error {
	tool, err := exec.LookPath("osslsigncode")
	if err != nil {
		return fmt.Errorf("authenticode: osslsigncode is not installed (apt-get install osslsigncode): %w", err)
	}
	args := []string{"sign"}
	switch {
	case s.PKCS12 != "":
		args = append(args, "-pkcs12", s.PKCS12)
		if s.Password != "" {
			args = append(args, "-pass", s.Password)
		}
	case s.Cert != "" && s.Key != "":
		args = append(args, "-certs", s.Cert, "-key", s.Key)
	default:
		return fmt.Errorf("authenticode: no certificate: give a PKCS#12 file, or a certificate and its key")
	}
	args = append(args, "-n", "farmwatch agent", "-h", "sha256")
	if s.Timestamp != "" {
		args = append(args, "-ts", s.Timestamp)
	}
	out := path + ".signed"
	os.Remove(out)
	if b, err := exec.Command(tool, append(args, "-in", path, "-out", out)...).CombinedOutput(); err != nil {
		os.Remove(out)
		return fmt.Errorf("authenticode: sign %s: %v: %s", path, err, strings.TrimSpace(string(b)))
	}
	return os.Rename(out, path)
}

// Verify checks the file's signature against the CA certificates in
// caFile and returns osslsigncode's report.
func Verify(path, caFile string) (string, error) {
	b, err := exec.Command("osslsigncode", "verify", "-CAfile", caFile, "-in", path).CombinedOutput()
	if err != nil {
		return string(b), fmt.Errorf("authenticode: verify %s: %v", path, err)
	}
	return string(b), nil
}
