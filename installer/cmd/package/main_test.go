package main

import (
	"bytes"
	"compress/gzip"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"debug/macho"
	"encoding/pem"
	"fmt"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/farmwatch/farmwatch/installer/authenticode"
	"github.com/farmwatch/farmwatch/installer/cpio"
	"github.com/farmwatch/farmwatch/installer/pgptest"
	"github.com/farmwatch/farmwatch/installer/xar"
	"howett.net/plist"
)

func throwawayCert(t *testing.T) (cert, key string) {
	t.Helper()
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(9), Subject: pkix.Name{CommonName: "farmwatch throwaway code signing"},
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

func need(t *testing.T, tools ...string) {
	t.Helper()
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s is not installed (.ci/run installs the packaging tools): the end-to-end package test is skipped", tool)
		}
	}
}

// TestPackage builds the real agent and every package for amd64, signed
// with a throwaway certificate and key, and reads each back: the deb is
// installed with dpkg into a throwaway root and its agent run, the rpm's header and signature read, the
// msi's tables and its exe's and its own Authenticode signatures checked,
// and the pkg's payload holds an amd64 Mach-O agent. make package builds
// arm64 too.
func TestPackage(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: the packages are not built")
	}
	need(t, "go", "git", "dpkg-deb", "wixl", "msibuild", "msiinfo", "msiextract", "osslsigncode")
	cert, key := throwawayCert(t)
	gpg := pgptest.New(t)
	env := map[string]string{"FARMWATCH_SIGN_CERT": cert, "FARMWATCH_SIGN_KEY": key,
		"FARMWATCH_GPG_KEY": gpg.SecretFile, "FARMWATCH_GPG_PASSPHRASE": gpg.Passphrase, "SOURCE_DATE_EPOCH": "1767323045"}
	out := t.TempDir()
	var stdout bytes.Buffer
	const describe = "v1.2.3-4-gabc1234"
	// --build-flags "": the agents are built as go vet (make vet-os) and go
	// test build their packages, so that only the link is new.
	if err := run([]string{"--version", describe, "--out", out, "--arch", "amd64", "--build-flags", ""}, &stdout, func(k string) string { return env[k] }); err != nil {
		t.Fatal(err)
	}
	t.Logf("made:\n%s", stdout.String())
	names := []string{"farmwatch-agent_1.2.3+4.gabc1234_amd64.deb", "farmwatch-agent-1.2.3-1.4.gabc1234.x86_64.rpm",
		"farmwatch-agent_1.2.3+4.gabc1234_amd64.msi", "farmwatch-agent_1.2.3+4.gabc1234_amd64.pkg", "farmwatch-agent.mobileconfig"}
	sums, _ := os.ReadFile(filepath.Join(out, "SHA256SUMS"))
	for _, n := range names {
		b, err := os.ReadFile(filepath.Join(out, n))
		if err != nil {
			t.Fatal(err)
		}
		if line := fmt.Sprintf("%x  %s\n", sha256.Sum256(b), n); !bytes.Contains(sums, []byte(line)) {
			t.Errorf("SHA256SUMS lacks %q", line)
		}
	}

	t.Run("deb", func(t *testing.T) {
		// dpkg installs it into a throwaway root (its maintainer scripts
		// run outside a chroot, and without run/systemd/system there they
		// leave systemctl alone).
		need(t, "dpkg", "dpkg-query")
		root := t.TempDir()
		for _, d := range []string{"var/lib/dpkg/info", "var/lib/dpkg/updates"} {
			os.MkdirAll(filepath.Join(root, d), 0o755)
		}
		for _, f := range []string{"var/lib/dpkg/status", "var/lib/dpkg/available"} {
			os.WriteFile(filepath.Join(root, f), nil, 0o644)
		}
		if b, err := exec.Command("dpkg", "--root="+root, "--force-script-chrootless", "--force-not-root", "--log=/dev/null",
			"--install", filepath.Join(out, names[0])).CombinedOutput(); err != nil {
			t.Fatalf("dpkg --install: %v %s", err, b)
		}
		if b, err := exec.Command("dpkg-query", "--admindir="+filepath.Join(root, "var/lib/dpkg"), "-W", "-f", "${Status} ${Version}", "farmwatch-agent").Output(); err != nil ||
			string(b) != "install ok installed 1.2.3+4.gabc1234" {
			t.Errorf("dpkg-query: %v %q", err, b)
		}
		if fi, err := os.Stat(filepath.Join(root, "var/lib/farmwatch")); err != nil || fi.Mode().Perm() != 0o700 {
			t.Errorf("state directory: %v %v", fi, err)
		}
		agent := filepath.Join(root, "usr/bin/farmwatch-agent")
		b, err := exec.Command(agent, "version").CombinedOutput()
		if err != nil || string(b) != "farmwatch-agent "+describe+"\n" {
			t.Fatalf("installed agent's version: %v %q", err, b)
		}
		b, _ = exec.Command(agent, "status", "--config", filepath.Join(root, "etc/farmwatch/agent.yaml")).CombinedOutput()
		if !strings.Contains(string(b), "farmwatch-agent: ") || !strings.Contains(string(b), "collector:     none set") {
			t.Errorf("installed agent's status:\n%s", b)
		}
		deb, _ := os.ReadFile(filepath.Join(out, names[0]))
		if !bytes.Contains(deb, []byte("_gpgorigin")) {
			t.Error("the deb is not signed")
		}
	})
	t.Run("rpm", func(t *testing.T) {
		need(t, "rpm", "rpmkeys")
		p := filepath.Join(out, names[1])
		b, err := exec.Command("rpm", "-qp", "--nosignature", "--qf", "%{NAME} %{VERSION}-%{RELEASE} %{ARCH}", p).Output()
		if err != nil || string(b) != "farmwatch-agent 1.2.3-1.4.gabc1234 x86_64" {
			t.Errorf("rpm header: %v %q", err, b)
		}
		db := t.TempDir()
		exec.Command("rpmkeys", "--dbpath", db, "--import", gpg.PublicFile).Run()
		if b, err := exec.Command("rpmkeys", "--dbpath", db, "--checksig", p).CombinedOutput(); err != nil || !strings.Contains(string(b), "signatures OK") {
			t.Errorf("rpm signature: %v %s", err, b)
		}
		// rpm installs it into a throwaway root (chrooted: as root only;
		// installer/linuxpkg runs the scriptlets), and the agent runs.
		if os.Geteuid() != 0 {
			t.Skip("not root: rpm --root is not run")
		}
		root := t.TempDir()
		if b, err := exec.Command("rpm", "--root", root, "--dbpath", "/var/lib/rpm", "-i", "--nodeps", "--noscripts", p).CombinedOutput(); err != nil {
			t.Fatalf("rpm -i: %v %s", err, b)
		}
		if b, err := exec.Command(filepath.Join(root, "usr/bin/farmwatch-agent"), "version").CombinedOutput(); err != nil || string(b) != "farmwatch-agent "+describe+"\n" {
			t.Errorf("installed agent's version: %v %q", err, b)
		}
	})
	t.Run("msi", func(t *testing.T) {
		p := filepath.Join(out, names[2])
		if r, err := authenticode.Verify(p, cert); err != nil {
			t.Errorf("msi signature: %v\n%s", err, r)
		}
		dir := t.TempDir()
		if b, err := exec.Command("msiextract", "-C", dir, p).CombinedOutput(); err != nil {
			t.Fatalf("msiextract: %v %s", err, b)
		}
		var exes []string
		filepath.Walk(dir, func(path string, info os.FileInfo, err error) error {
			if err == nil && info.Name() == "farmwatch-agent.exe" {
				exes = append(exes, path)
			}
			return err
		})
		if len(exes) != 1 || filepath.Base(filepath.Dir(exes[0])) != "farmwatch" {
			t.Fatalf("no agent in the msi: %v", exes)
		}
		if r, err := authenticode.Verify(exes[0], cert); err != nil {
			t.Errorf("exe signature: %v\n%s", err, r)
		}
		b, _ := exec.Command("msiinfo", "export", p, "ServiceInstall").Output()
		if !bytes.Contains(b, []byte("farmwatch-agent\tfarmwatch agent\t16\t2")) {
			t.Errorf("ServiceInstall:\n%s", b)
		}
		// msidump writes every table and stream out: the service, its
		// recovery actions, the cabinet and the signature are all there.
		need(t, "msidump")
		dump := t.TempDir()
		if b, err := exec.Command("msidump", "--tables", "--streams", "--directory", dump, p).CombinedOutput(); err != nil {
			t.Fatalf("msidump: %v %s", err, b)
		}
		for file, want := range map[string]string{
			"ServiceInstall.idt":                 "\tfarmwatch-agent\tfarmwatch agent\t16\t2\t1\t",
			"MsiServiceConfigFailureActions.idt": "\tfarmwatch-agent\t5\t86400\t\t\t1[~]1[~]1\t5000[~]30000[~]60000\t",
			"Property.idt":                       "MsiHiddenProperties\tENROLL_SECRET;CA_PEM",
		} {
			if b, _ := os.ReadFile(filepath.Join(dump, file)); !bytes.Contains(b, []byte(want)) {
				t.Errorf("%s lacks %q:\n%s", file, want, b)
			}
		}
		streams, _ := os.ReadDir(filepath.Join(dump, "_Streams"))
		var names []string
		for _, s := range streams {
			names = append(names, s.Name())
		}
		if got := strings.Join(names, " "); !strings.Contains(got, "agent.cab") || !strings.Contains(got, "DigitalSignature") {
			t.Errorf("streams: %q", got)
		}
	})
	t.Run("pkg", func(t *testing.T) {
		b, _ := os.ReadFile(filepath.Join(out, names[3]))
		a, err := xar.Read(b)
		if err != nil {
			t.Fatal(err)
		}
		zr, err := gzip.NewReader(bytes.NewReader(a.Lookup("farmwatch-agent.pkg/Payload").Data))
		if err != nil {
			t.Fatal(err)
		}
		entries, err := cpio.Read(zr)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			if e.Name == "./usr/local/bin/farmwatch-agent" {
				f, err := macho.NewFile(bytes.NewReader(e.Data))
				if err != nil || f.Cpu != macho.CpuAmd64 || e.Mode != 0o755 {
					t.Fatalf("agent in the pkg: %v %v %v", err, f, e.Mode)
				}
				return
			}
		}
		t.Fatal("no agent in the pkg's payload")
	})
	t.Run("mobileconfig", func(t *testing.T) {
		b, _ := os.ReadFile(filepath.Join(out, names[4]))
		var p struct{ PayloadType string }
		if _, err := plist.Unmarshal(b, &p); err != nil || p.PayloadType != "Configuration" {
			t.Errorf("%v %+v", err, p)
		}
	})
}

func TestArgs(t *testing.T) {
	get := func(string) string { return "" }
	for _, bad := range [][]string{{"--arch", "386"}, {"--formats", "zip"}, {"extra"}} {
		if _, err := parseArgs(bad, get); err == nil {
			t.Errorf("%v: no error", bad)
		}
	}
	c, err := parseArgs(nil, func(k string) string { return map[string]string{"FARMWATCH_SIGN_PKCS12": "a.p12"}[k] })
	if err != nil || !c.sign.Configured() || len(c.arches) != 2 || len(c.formats) != 5 || strings.Join(c.buildFlags, " ") != "-trimpath -tags=grpcnotrace" {
		t.Fatalf("%+v %v", c, err)
	}
}
