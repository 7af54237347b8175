// Package pgptest makes throwaway OpenPGP keys for the packages' signing
// tests (github.com/ProtonMail/go-crypto, which nfpm signs with), and a
// GNUPGHOME that trusts them for gpg to verify with.
package pgptest

import (
	"bytes"
	"crypto"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
)

// Key is a throwaway signing key. The zero Key means: do not sign.
type Key struct {
	Home       string   // a GNUPGHOME holding the public key
	Env        []string // GNUPGHOME=Home, for gpg
	SecretFile string   // the armored secret key, encrypted with Passphrase
	PublicFile string   // the armored public key
	Passphrase string
}

// New makes a key; the test is skipped where gpg is not installed to
// verify with.
func New(t testing.TB) Key {
	t.Helper()
	gpg, err := exec.LookPath("gpg")
	if err != nil {
		t.Skip("gpg is not installed: signatures are not verified")
	}
	home := t.TempDir()
	k := Key{Home: home, Env: []string{"GNUPGHOME=" + home}, SecretFile: filepath.Join(home, "secret.asc"),
		PublicFile: filepath.Join(home, "public.asc"), Passphrase: "throwaway"}
	cfg := &packet.Config{Algorithm: packet.PubKeyAlgoRSA, RSABits: 2048, DefaultHash: crypto.SHA256}
	e, err := openpgp.NewEntity("farmwatch test", "throwaway", "test@farmwatch.invalid", cfg)
	if err != nil {
		t.Fatal(err)
	}
	var pub bytes.Buffer
	w, _ := armor.Encode(&pub, openpgp.PublicKeyType, nil)
	if err := e.Serialize(w); err != nil {
		t.Fatal(err)
	}
	w.Close()
	if err := e.EncryptPrivateKeys([]byte(k.Passphrase), cfg); err != nil {
		t.Fatal(err)
	}
	var sec bytes.Buffer
	w, _ = armor.Encode(&sec, openpgp.PrivateKeyType, nil)
	if err := e.SerializePrivateWithoutSigning(w, cfg); err != nil {
		t.Fatal(err)
	}
	w.Close()
	if err := os.WriteFile(k.SecretFile, sec.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(k.PublicFile, pub.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(gpg, "--homedir", home, "--batch", "--import", k.PublicFile).CombinedOutput(); err != nil {
		t.Fatalf("gpg --import: %v\n%s", err, out)
	}
	return k
}
