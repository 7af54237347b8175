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
	"debug/buildinfo"
	"debug/macho"
	"encoding/pem"
	"fmt"
	"io"
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

// Main packages of the two executables, as their build info names them.
const (
	cliPackage    = "github.com/farmwatch/farmwatch/agent"
	daemonPackage = "github.com/farmwatch/farmwatch/agent/cmd/farmwatch-agentd"
)

// mainPackage is the Go package an executable was built from: its build
// info survives -s -w, so it tells farmwatch-agentd from farmwatch-agent
// whatever OS they were built for.
func mainPackage(b []byte) string {
	info, err := buildinfo.Read(bytes.NewReader(b))
	if err != nil {
		return fmt.Sprintf("(no build info: %v)", err)
	}
	return info.Path
}

func need(t *testing.T, tools ...string) {
	t.Helper()
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s is not installed (.ci/run installs the packaging tools): the end-to-end package test is skipped", tool)
		}
	}
}

// TestPackage builds the real farmwatch-agent and farmwatch-agentd and
// every package for amd64, signed with a throwaway certificate and key, and
// reads each back: the deb is installed with dpkg into a throwaway root and
// both executables run, the rpm's header and signature read (and, as root,
// it is installed and both run), the msi's tables, both exes' and its own
// Authenticode signatures checked, and the pkg's payload holds both as
// amd64 Mach-O. make package builds arm64 too.
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
		// The unit runs the daemon, which is installed and runs.
		if b, err := exec.Command(filepath.Join(root, "usr/sbin/farmwatch-agentd"), "version").CombinedOutput(); err != nil || string(b) != "farmwatch-agentd "+describe+"\n" {
			t.Errorf("installed daemon's version: %v %q", err, b)
		}
		if b, _ := os.ReadFile(filepath.Join(root, "usr/lib/systemd/system/farmwatch-agent.service")); !bytes.Contains(b, []byte("\nExecStart=/usr/sbin/farmwatch-agentd run --config /etc/farmwatch/agent.yaml\n")) {
			t.Errorf("installed unit:\n%s", b)
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
		for _, exe := range []string{"usr/bin/farmwatch-agent", "usr/sbin/farmwatch-agentd"} {
			if b, err := exec.Command(filepath.Join(root, exe), "version").CombinedOutput(); err != nil || string(b) != filepath.Base(exe)+" "+describe+"\n" {
				t.Errorf("installed %s's version: %v %q", exe, err, b)
			}
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
		exes := map[string][]string{}
		filepath.Walk(dir, func(path string, info os.FileInfo, err error) error {
			if err == nil && strings.HasSuffix(info.Name(), ".exe") {
				exes[info.Name()] = append(exes[info.Name()], path)
			}
			return err
		})
		if len(exes) != 2 {
			t.Errorf("exes in the msi: %v", exes)
		}
		for name, pkg := range map[string]string{"farmwatch-agent.exe": cliPackage, "farmwatch-agentd.exe": daemonPackage} {
			if len(exes[name]) != 1 || filepath.Base(filepath.Dir(exes[name][0])) != "farmwatch" {
				t.Errorf("no %s in the msi's farmwatch folder: %v", name, exes[name])
				continue
			}
			if r, err := authenticode.Verify(exes[name][0], cert); err != nil {
				t.Errorf("%s's signature: %v\n%s", name, err, r)
			}
			if b, _ := os.ReadFile(exes[name][0]); mainPackage(b) != pkg {
				t.Errorf("%s is built from %s, want %s", name, mainPackage(b), pkg)
			}
		}
		// The service (on the Daemon component) runs that component's key
		// file, farmwatch-agentd.exe.
		b, _ := exec.Command("msiinfo", "export", p, "ServiceInstall").Output()
		if !bytes.Contains(b, []byte("farmwatch-agent\tfarmwatch agent\t16\t2")) || !bytes.Contains(b, []byte("agent.yaml\"\tDaemon\t")) {
			t.Errorf("ServiceInstall:\n%s", b)
		}
		if b, _ := exec.Command("msiinfo", "export", p, "Component").Output(); !bytes.Contains(b, []byte("\nDaemon\t")) || !bytes.Contains(b, []byte("\tINSTALLDIR\t256\t\tDaemonExe")) {
			t.Errorf("Component:\n%s", b)
		}
		if b, _ := exec.Command("msiinfo", "export", p, "File").Output(); !bytes.Contains(b, []byte("DaemonExe\tDaemon\tfarmwatch-agentd.exe\t")) {
			t.Errorf("File:\n%s", b)
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
		want := map[string]string{"./usr/local/bin/farmwatch-agent": cliPackage, "./usr/local/bin/farmwatch-agentd": daemonPackage}
		for _, e := range entries {
			pkg, ok := want[e.Name]
			if !ok {
				continue
			}
			delete(want, e.Name)
			f, err := macho.NewFile(bytes.NewReader(e.Data))
			if err != nil || f.Cpu != macho.CpuAmd64 || e.Mode != 0o755 {
				t.Errorf("%s in the pkg: %v %v %v", e.Name, err, f, e.Mode)
			}
			if got := mainPackage(e.Data); got != pkg {
				t.Errorf("%s is built from %s, want %s", e.Name, got, pkg)
			}
		}
		if len(want) != 0 {
			t.Errorf("not in the pkg's payload: %v", want)
		}
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

// TestBin packages executables from --bin: both are taken, and a directory
// without either is refused with the missing file's name.
func TestBin(t *testing.T) {
	need(t, "go", "dpkg-deb")
	get := func(string) string { return "" }
	bin := t.TempDir()
	fakes := map[string]string{"farmwatch-agent-linux-amd64": "#!/bin/sh\necho cli\n", "farmwatch-agentd-linux-amd64": "#!/bin/sh\necho daemon\n"}
	for name, body := range fakes {
		os.WriteFile(filepath.Join(bin, name), []byte(body), 0o755)
	}
	args := func(out string) []string {
		return []string{"--version", "v1.2.3", "--out", out, "--arch", "amd64", "--formats", "deb", "--bin", bin}
	}
	out := t.TempDir()
	if err := run(args(out), io.Discard, get); err != nil {
		t.Fatal(err)
	}
	x := t.TempDir()
	if b, err := exec.Command("dpkg-deb", "--extract", filepath.Join(out, "farmwatch-agent_1.2.3_amd64.deb"), x).CombinedOutput(); err != nil {
		t.Fatalf("dpkg-deb --extract: %v %s", err, b)
	}
	for path, from := range map[string]string{"usr/bin/farmwatch-agent": "farmwatch-agent-linux-amd64", "usr/sbin/farmwatch-agentd": "farmwatch-agentd-linux-amd64"} {
		if b, err := os.ReadFile(filepath.Join(x, path)); err != nil || string(b) != fakes[from] {
			t.Errorf("%s: %v %q, want --bin's %s", path, err, b, from)
		}
	}

	for _, missing := range []string{"farmwatch-agentd-linux-amd64", "farmwatch-agent-linux-amd64"} {
		os.Remove(filepath.Join(bin, missing))
		err := run(args(t.TempDir()), io.Discard, get)
		if err == nil || !strings.Contains(err.Error(), missing) {
			t.Errorf("--bin without %s: error %v", missing, err)
		}
		os.WriteFile(filepath.Join(bin, missing), []byte(fakes[missing]), 0o755)
	}
}
