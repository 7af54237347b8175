package credential

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestReadSecret(t *testing.T) {
	dir := t.TempDir()
	cases := []struct {
		name, body, want, err string
	}{
		{"plain", "abc\n", "abc", ""},
		{"crlf and spaces", "  abc \r\n", "abc", ""},
		{"empty", "\n \n", "", "empty"},
		{"two lines", "abc\ndef\n", "", "more than one line"},
		{"oversized", strings.Repeat("a", maxSecret+1), "", "not a secret file"},
	}
	for _, c := range cases {
		p := filepath.Join(dir, strings.ReplaceAll(c.name, " ", "-"))
		if err := os.WriteFile(p, []byte(c.body), 0o600); err != nil {
			t.Fatal(err)
		}
		got, err := ReadSecret(p)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) || !strings.Contains(err.Error(), p) {
				t.Errorf("%s: error %v, want one naming %s and saying %q", c.name, err, p, c.err)
			}
			continue
		}
		if err != nil || got != c.want {
			t.Errorf("%s: %q, %v; want %q", c.name, got, err, c.want)
		}
	}
	if _, err := ReadSecret(filepath.Join(dir, "missing")); err == nil || !strings.Contains(err.Error(), "missing") {
		t.Errorf("missing file: %v", err)
	}
}

func TestAuthorizationValues(t *testing.T) {
	if k, ok := ParseNode(Node("fwn_x")); !ok || k != "fwn_x" {
		t.Errorf("node round trip: %q %v", k, ok)
	}
	if sec, ok := ParseEnroll(Enroll("s3")); !ok || sec != "s3" {
		t.Errorf("enroll round trip: %q %v", sec, ok)
	}
	if _, ok := ParseEnroll(Node("s3")); ok {
		t.Error("a node key taken for an enroll secret")
	}
	if tok, ok := ParseBearer(Bearer("fwt_y")); !ok || tok != "fwt_y" {
		t.Errorf("bearer round trip: %q %v", tok, ok)
	}
	for _, v := range []string{"", "Node ", "Bearer fwt_y", "node fwn_x", "Nodefwn_x"} {
		if _, ok := ParseNode(v); ok {
			t.Errorf("ParseNode(%q) accepted", v)
		}
	}
	for _, v := range []string{"", "Bearer ", "Node fwn_x", "bearer x"} {
		if _, ok := ParseBearer(v); ok {
			t.Errorf("ParseBearer(%q) accepted", v)
		}
	}
}

func TestClientTLSRefusesNonPEM(t *testing.T) {
	p := filepath.Join(t.TempDir(), "ca.crt")
	os.WriteFile(p, []byte("not a certificate"), 0o600)
	if _, err := ClientTLS(p); err == nil || !strings.Contains(err.Error(), p) {
		t.Errorf("ClientTLS of a non-PEM file: %v", err)
	}
}
