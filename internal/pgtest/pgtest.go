// Package pgtest gives tests a real PostgreSQL: a throwaway cluster made
// with initdb and started with pg_ctl from the server binaries of this
// machine (PostgreSQL 15, /usr/lib/postgresql/15/bin, or $FARMWATCH_PGBIN),
// in a temporary directory, listening on a free loopback port, and stopped
// when the test binary ends. One cluster serves a test binary; each test
// gets a database of its own.
//
// When the tests run as root the cluster runs as the user postgres (the
// server refuses root): the directory is made theirs, and initdb and pg_ctl
// run through runuser.
//
// Tests skip, saying why, only where the server binaries do not exist;
// with FARMWATCH_PG_REQUIRED=1 (CI) they fail instead. Any other failure
// to start the cluster fails the test.
//
// A package that uses it calls Main from its TestMain, so that the cluster
// is stopped once every test has run:
//
//	func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }
package pgtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// DefaultBin is where the PostgreSQL server binaries of this machine kind are.
const DefaultBin = "/usr/lib/postgresql/15/bin"

// Cluster is a running throwaway PostgreSQL cluster.
type Cluster struct {
	Bin  string // the server binaries
	Dir  string // the temporary directory: data/ and the socket
	Port int
	asPG bool // run as the user postgres (the tests run as root)
	n    atomic.Int64
}

// Options change how a cluster is made.
type Options struct {
	// Durable keeps fsync and synchronous commit on, as in production
	// (benchmarks); tests turn them off.
	Durable bool
	// MaxConnections is the server's max_connections; 300 when zero.
	MaxConnections int
}

var (
	shared     *Cluster
	sharedErr  error
	sharedOnce sync.Once
	sharedMu   sync.Mutex
)

// Main runs the tests and stops the shared cluster, if one was started.
func Main(m *testing.M) int {
	code := m.Run()
	sharedMu.Lock()
	defer sharedMu.Unlock()
	if shared != nil {
		if err := shared.Stop(); err != nil {
			fmt.Fprintf(os.Stderr, "pgtest: %v\n", err)
		}
		shared = nil
	}
	return code
}

// Bin returns the directory of the server binaries, or why there are none.
func Bin() (string, error) {
	bin := os.Getenv("FARMWATCH_PGBIN")
	if bin == "" {
		bin = DefaultBin
	}
	for _, b := range []string{"initdb", "pg_ctl", "postgres"} {
		if _, err := os.Stat(filepath.Join(bin, b)); err != nil {
			return "", fmt.Errorf("no PostgreSQL server binaries: %w (install postgresql-15, or set FARMWATCH_PGBIN)", err)
		}
	}
	return bin, nil
}

// skipOrFail skips t when the server binaries do not exist, unless
// FARMWATCH_PG_REQUIRED is set.
func skipOrFail(t testing.TB) string {
	t.Helper()
	bin, err := Bin()
	if err == nil {
		return bin
	}
	if os.Getenv("FARMWATCH_PG_REQUIRED") != "" {
		t.Fatalf("PostgreSQL tests are required (FARMWATCH_PG_REQUIRED): %v", err)
	}
	t.Skipf("skipping the PostgreSQL tests: %v", err)
	return ""
}

// Shared returns the test binary's cluster, starting it the first time.
func Shared(t testing.TB) *Cluster {
	t.Helper()
	bin := skipOrFail(t)
	sharedOnce.Do(func() {
		c, err := Start(bin, Options{})
		sharedMu.Lock()
		shared, sharedErr = c, err
		sharedMu.Unlock()
	})
	sharedMu.Lock()
	defer sharedMu.Unlock()
	if sharedErr != nil {
		t.Fatalf("start PostgreSQL: %v", sharedErr)
	}
	if shared == nil {
		t.Fatal("the shared PostgreSQL cluster was stopped (call pgtest.Main from TestMain)")
	}
	return shared
}

// DSN returns the address of a new, empty database of the test binary's
// cluster; it is dropped when t ends.
func DSN(t testing.TB) string {
	t.Helper()
	return Shared(t).NewDB(t)
}

// Start makes and starts a cluster.
func Start(bin string, o Options) (*Cluster, error) {
	dir, err := os.MkdirTemp("", "farmwatch-pg-")
	if err != nil {
		return nil, err
	}
	c := &Cluster{Bin: bin, Dir: dir, asPG: os.Geteuid() == 0}
	if err := c.start(o); err != nil {
		c.Stop()
		return nil, err
	}
	return c, nil
}

func (c *Cluster) start(o Options) error {
	if c.asPG {
		u, err := user.Lookup("postgres")
		if err != nil {
			return fmt.Errorf("running as root, and no user postgres to run the server as: %w", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		if err := os.Chown(c.Dir, uid, gid); err != nil {
			return fmt.Errorf("give %s to postgres: %w", c.Dir, err)
		}
		if out, err := c.run("test", "-w", c.Dir); err != nil {
			return fmt.Errorf("the user postgres cannot write %s (is a parent directory closed to it? set TMPDIR): %v %s", c.Dir, err, out)
		}
	}
	data := filepath.Join(c.Dir, "data")
	if out, err := c.run(filepath.Join(c.Bin, "initdb"), "-D", data, "-U", "postgres", "--auth=trust", "--no-sync", "-E", "UTF8", "--locale=C"); err != nil {
		return fmt.Errorf("initdb: %v\n%s", err, out)
	}
	maxConns := o.MaxConnections
	if maxConns == 0 {
		maxConns = 300
	}
	conf := []string{
		"listen_addresses = '127.0.0.1'",
		"unix_socket_directories = '" + c.Dir + "'",
		fmt.Sprintf("max_connections = %d", maxConns),
		"shared_buffers = 128MB",
		"logging_collector = off",
	}
	if !o.Durable {
		conf = append(conf, "fsync = off", "synchronous_commit = off", "full_page_writes = off")
	}
	f, err := os.OpenFile(filepath.Join(data, "postgresql.conf"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	_, err = f.WriteString("\n# pgtest\n" + strings.Join(conf, "\n") + "\n")
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	// A free port can be taken between the check and the server's bind:
	// try a few.
	var last error
	for range 5 {
		c.Port, err = freePort()
		if err != nil {
			return err
		}
		out, err := c.run(filepath.Join(c.Bin, "pg_ctl"), "-D", data, "-l", filepath.Join(c.Dir, "server.log"), "-w", "-t", "60",
			"-o", fmt.Sprintf("-p %d", c.Port), "start")
		if err == nil {
			return nil
		}
		log, _ := os.ReadFile(filepath.Join(c.Dir, "server.log"))
		last = fmt.Errorf("pg_ctl start: %v\n%s\n%s", err, out, log)
	}
	return last
}

// run runs a server binary, as the user postgres when the tests run as root.
func (c *Cluster) run(name string, args ...string) ([]byte, error) {
	if c.asPG {
		args = append([]string{"-u", "postgres", "--", name}, args...)
		name = "runuser"
	}
	cmd := exec.Command(name, args...)
	cmd.Dir = c.Dir
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.Bytes(), err
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// URL is the address of database db of the cluster.
func (c *Cluster) URL(db string) string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", c.Port, db)
}

// CreateDB makes an empty database and returns its address.
func (c *Cluster) CreateDB(ctx context.Context, name string) (string, error) {
	conn, err := pgx.Connect(ctx, c.URL("postgres"))
	if err != nil {
		return "", err
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		return "", fmt.Errorf("create database %s: %w", name, err)
	}
	return c.URL(name), nil
}

// DropDB drops a database, closing its connections.
func (c *Cluster) DropDB(ctx context.Context, name string) error {
	conn, err := pgx.Connect(ctx, c.URL("postgres"))
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)")
	return err
}

// NewDB makes an empty database for t, dropped when t ends.
func (c *Cluster) NewDB(t testing.TB) string {
	t.Helper()
	name := fmt.Sprintf("t%d_%d", os.Getpid(), c.n.Add(1))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	dsn, err := c.CreateDB(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := c.DropDB(ctx, name); err != nil {
			t.Logf("drop database %s: %v", name, err)
		}
	})
	return dsn
}

// Stop stops the server and removes the directory.
func (c *Cluster) Stop() error {
	var err error
	data := filepath.Join(c.Dir, "data")
	if _, serr := os.Stat(filepath.Join(data, "postmaster.pid")); serr == nil {
		if out, rerr := c.run(filepath.Join(c.Bin, "pg_ctl"), "-D", data, "-m", "immediate", "-w", "stop"); rerr != nil {
			err = fmt.Errorf("pg_ctl stop: %v\n%s", rerr, out)
		}
	}
	if rerr := os.RemoveAll(c.Dir); rerr != nil && !errors.Is(rerr, os.ErrNotExist) && err == nil {
		err = rerr
	}
	return err
}
