// Command package builds the agent's packages into dist/ (make package):
//
//	go run ./installer/cmd/package [--version DESCRIBE] [--out dist] [--arch amd64,arm64]
//	    [--formats deb,rpm,msi,pkg,mobileconfig] [--bin DIR] [--build-flags FLAGS]
//	    [--team-id ID] [--collector ADDR --ca-pem-file FILE --enroll-secret-file FILE]
//
// It builds the agent's two executables for linux, windows and darwin on
// each architecture: farmwatch-agent, the command (./agent), and
// farmwatch-agentd, which the service runs (./agent/cmd/farmwatch-agentd).
// With --bin it takes them from that directory instead, as
// farmwatch-agent-OS-ARCH[.exe] and farmwatch-agentd-OS-ARCH[.exe]. Every
// package carries both. Then it writes
//
//	farmwatch-agent_VERSION_ARCH.deb         installer/linuxpkg
//	farmwatch-agent-VERSION-RELEASE.RPMARCH.rpm
//	farmwatch-agent_VERSION_ARCH.msi         installer/msi (wixl, msibuild)
//	farmwatch-agent_VERSION_ARCH.pkg         installer/macpkg
//	farmwatch-agent.mobileconfig             installer/macpkg
//	SHA256SUMS
//
// The version is git describe's (--tags --match 'v[0-9]*' --always --dirty)
// unless given.
// Signing is set by the environment, so that no secret is on a command
// line:
//
//	FARMWATCH_SIGN_PKCS12, FARMWATCH_SIGN_PASSWORD   Authenticode certificate (PKCS#12) for both exes and the msi
//	FARMWATCH_SIGN_CERT, FARMWATCH_SIGN_KEY          ... or as PEM certificate and key
//	FARMWATCH_SIGN_TIMESTAMP                         an RFC 3161 time-stamping URL
//	FARMWATCH_GPG_KEY, FARMWATCH_GPG_PASSPHRASE      an OpenPGP secret key file for the deb and the rpm
package main

import (
	"crypto/sha256"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/farmwatch/farmwatch/installer/authenticode"
	"github.com/farmwatch/farmwatch/installer/linuxpkg"
	"github.com/farmwatch/farmwatch/installer/macpkg"
	"github.com/farmwatch/farmwatch/installer/msi"
	"github.com/farmwatch/farmwatch/installer/version"
)

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Getenv); err != nil {
		fmt.Fprintf(os.Stderr, "package: %v\n", err)
		os.Exit(1)
	}
}

// config is what run was asked for.
type config struct {
	describe, out, bin, teamID    string
	collector, caFile, secretFile string
	arches, formats, buildFlags   []string
	mtime                         time.Time
	sign                          authenticode.Signer
	gpgKey, gpgPass               string
}

func parseArgs(args []string, getenv func(string) string) (config, error) {
	fs := flag.NewFlagSet("package", flag.ContinueOnError)
	describe := fs.String("version", "", "the version, as git describe prints it (default: git describe --tags --match v[0-9]* --always --dirty)")
	out := fs.String("out", "dist", "where the packages are written")
	arch := fs.String("arch", "amd64,arm64", "architectures")
	formats := fs.String("formats", "deb,rpm,msi,pkg,mobileconfig", "what to build")
	bin := fs.String("bin", "", "take the executables from here (farmwatch-agent-OS-ARCH[.exe] and farmwatch-agentd-OS-ARCH[.exe]) instead of building them")
	teamID := fs.String("team-id", "", "mobileconfig: the Apple Developer team that signs the agent")
	collector := fs.String("collector", "", "mobileconfig: the collector the agent is configured with")
	caFile := fs.String("ca-pem-file", "", "mobileconfig: the collector's CA certificate")
	secretFile := fs.String("enroll-secret-file", "", "mobileconfig: the enroll secret")
	buildFlags := fs.String("build-flags", "-trimpath -tags=grpcnotrace", "go build's flags for the agents (besides -ldflags); the test passes none, to share the build cache of go vet")
	if err := fs.Parse(args); err != nil {
		return config{}, err
	}
	if fs.NArg() > 0 {
		return config{}, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	c := config{describe: *describe, out: *out, bin: *bin, teamID: *teamID, collector: *collector, caFile: *caFile, secretFile: *secretFile,
		arches: strings.Split(*arch, ","), formats: strings.Split(*formats, ","), buildFlags: strings.Fields(*buildFlags)}
	for _, a := range c.arches {
		if a != "amd64" && a != "arm64" {
			return c, fmt.Errorf("--arch %s: want amd64 or arm64", a)
		}
	}
	for _, f := range c.formats {
		switch f {
		case "deb", "rpm", "msi", "pkg", "mobileconfig":
		default:
			return c, fmt.Errorf("--formats %s: want deb, rpm, msi, pkg or mobileconfig", f)
		}
	}
	c.sign = authenticode.Signer{PKCS12: getenv("FARMWATCH_SIGN_PKCS12"), Password: getenv("FARMWATCH_SIGN_PASSWORD"),
		Cert: getenv("FARMWATCH_SIGN_CERT"), Key: getenv("FARMWATCH_SIGN_KEY"), Timestamp: getenv("FARMWATCH_SIGN_TIMESTAMP")}
	c.gpgKey, c.gpgPass = getenv("FARMWATCH_GPG_KEY"), getenv("FARMWATCH_GPG_PASSPHRASE")
	return c, nil
}

func has(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func run(args []string, stdout io.Writer, getenv func(string) string) error {
	c, err := parseArgs(args, getenv)
	if err != nil {
		return err
	}
	root, err := moduleRoot()
	if err != nil {
		return err
	}
	if c.describe == "" {
		b, err := gitOutput(root, "describe", "--tags", "--match", "v[0-9]*", "--always", "--dirty")
		if err != nil {
			return fmt.Errorf("git describe: %w (give --version)", err)
		}
		c.describe = b
	}
	v, err := version.Parse(c.describe)
	if err != nil {
		return err
	}
	c.mtime = time.Unix(0, 0).UTC()
	if s := getenv("SOURCE_DATE_EPOCH"); s != "" {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return fmt.Errorf("SOURCE_DATE_EPOCH: %w", err)
		}
		c.mtime = time.Unix(n, 0).UTC()
	} else if s, err := gitOutput(root, "log", "-1", "--format=%ct"); err == nil {
		if n, err := strconv.ParseInt(s, 10, 64); err == nil {
			c.mtime = time.Unix(n, 0).UTC()
		}
	}
	if err := os.MkdirAll(c.out, 0o755); err != nil {
		return err
	}
	work, err := os.MkdirTemp("", "farmwatch-package-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)

	need := map[string]bool{}
	for _, a := range c.arches {
		if has(c.formats, "deb") || has(c.formats, "rpm") {
			need["linux/"+a] = true
		}
		if has(c.formats, "msi") {
			need["windows/"+a] = true
		}
		if has(c.formats, "pkg") {
			need["darwin/"+a] = true
		}
	}
	bins, err := agents(root, c, v, work, need)
	if err != nil {
		return err
	}
	var made []string
	for _, a := range c.arches {
		for _, f := range []string{"deb", "rpm"} {
			if !has(c.formats, f) {
				continue
			}
			b := bins["linux/"+a]
			p, err := linuxpkg.Build(f, linuxpkg.Options{Version: v, Arch: a, Binary: b.cli, Daemon: b.daemon, Out: c.out, MTime: c.mtime, GPGKey: c.gpgKey, GPGPassphrase: c.gpgPass})
			if err != nil {
				return err
			}
			made = append(made, p)
		}
		if has(c.formats, "msi") {
			b := bins["windows/"+a]
			if c.sign.Configured() {
				for _, exe := range []string{b.cli, b.daemon} {
					if err := c.sign.Sign(exe); err != nil {
						return err
					}
				}
			}
			p, err := msi.Build(msi.Options{Version: v, Arch: a, Binary: b.cli, Daemon: b.daemon, Out: c.out})
			if err != nil {
				return err
			}
			if c.sign.Configured() {
				if err := c.sign.Sign(p); err != nil {
					return err
				}
			}
			made = append(made, p)
		}
		if has(c.formats, "pkg") {
			b := bins["darwin/"+a]
			p, err := macpkg.Build(macpkg.Options{Version: v, Arch: a, Binary: b.cli, Daemon: b.daemon, Out: c.out, MTime: c.mtime})
			if err != nil {
				return err
			}
			made = append(made, p)
		}
	}
	if has(c.formats, "mobileconfig") {
		prof := macpkg.Profile{TeamID: c.teamID, Collector: c.collector}
		for dst, f := range map[*string]string{&prof.CAPEM: c.caFile, &prof.EnrollSecret: c.secretFile} {
			if f != "" {
				b, err := os.ReadFile(f)
				if err != nil {
					return err
				}
				*dst = strings.TrimSpace(string(b))
			}
		}
		b, err := macpkg.MobileConfig(prof)
		if err != nil {
			return err
		}
		p := filepath.Join(c.out, "farmwatch-agent.mobileconfig")
		if err := os.WriteFile(p, b, 0o644); err != nil {
			return err
		}
		made = append(made, p)
	}
	return sums(c.out, made, stdout)
}

// executables are one os/arch's two programs, as files in the work
// directory.
type executables struct{ cli, daemon string }

// program is one of the agent's executables: its file name's stem and the
// package it is built from.
type program struct{ name, pkg string }

// cli and daemon are what every package carries.
var (
	cli    = program{"farmwatch-agent", "./agent"}
	daemon = program{"farmwatch-agentd", "./agent/cmd/farmwatch-agentd"}
)

// agents builds (or finds in --bin) both executables for each "os/arch".
func agents(root string, c config, v version.Version, work string, need map[string]bool) (map[string]executables, error) {
	bins := map[string]executables{}
	var targets []string
	for t := range need {
		targets = append(targets, t)
	}
	sort.Strings(targets)
	var (
		mu   sync.Mutex
		errs []error
		wg   sync.WaitGroup
		sem  = make(chan struct{}, runtime.NumCPU())
	)
	for _, t := range targets {
		goos, goarch, _ := strings.Cut(t, "/")
		var e executables
		for _, x := range []struct {
			prog program
			dst  *string
		}{{cli, &e.cli}, {daemon, &e.daemon}} {
			prog := x.prog
			name := prog.name + "-" + goos + "-" + goarch
			if goos == "windows" {
				name += ".exe"
			}
			dst := filepath.Join(work, name)
			*x.dst = dst
			if c.bin != "" {
				src := filepath.Join(c.bin, name)
				if _, err := os.Stat(src); errors.Is(err, os.ErrNotExist) {
					return nil, fmt.Errorf("--bin %s has no %s (%s, built from %s)", c.bin, name, prog.name, prog.pkg)
				}
				if err := copyFile(src, dst); err != nil {
					return nil, fmt.Errorf("--bin: %w", err)
				}
				continue
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				sem <- struct{}{}
				defer func() { <-sem }()
				args := append(append([]string{"build"}, c.buildFlags...), "-ldflags", "-s -w -X main.version="+v.Describe, "-o", dst, prog.pkg)
				cmd := exec.Command("go", args...)
				cmd.Dir = root
				cmd.Env = append(os.Environ(), "GOOS="+goos, "GOARCH="+goarch, "CGO_ENABLED=0")
				if out, err := cmd.CombinedOutput(); err != nil {
					mu.Lock()
					errs = append(errs, fmt.Errorf("go build %s %s: %v\n%s", prog.pkg, t, err, out))
					mu.Unlock()
				}
			}()
		}
		bins[t] = e
	}
	wg.Wait()
	return bins, errors.Join(errs...)
}

func copyFile(src, dst string) error {
	b, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	return os.WriteFile(dst, b, 0o755)
}

// sums writes SHA256SUMS for what was made and prints each with its size.
func sums(out string, made []string, stdout io.Writer) error {
	var b strings.Builder
	for _, p := range made {
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		fmt.Fprintf(&b, "%x  %s\n", sha256.Sum256(data), filepath.Base(p))
		fmt.Fprintf(stdout, "%-60s %9d bytes\n", filepath.Join(out, filepath.Base(p)), len(data))
	}
	return os.WriteFile(filepath.Join(out, "SHA256SUMS"), []byte(b.String()), 0o644)
}

func moduleRoot() (string, error) {
	b, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	mod := strings.TrimSpace(string(b))
	if mod == "" || mod == os.DevNull {
		return "", errors.New("not inside the farmwatch module")
	}
	return filepath.Dir(mod), nil
}

func gitOutput(dir string, args ...string) (string, error) {
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	b, err := cmd.Output()
	return strings.TrimSpace(string(b)), err
}
