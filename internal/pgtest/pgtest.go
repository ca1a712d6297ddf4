// Package pgtest gives tests a real PostgreSQL database: a throwaway
// cluster started once per test binary (initdb + pg_ctl in a temp dir, as
// the postgres system user when the tests run as root, on a free port of
// 127.0.0.1 with a password), or the server named by CRMLOAD_TEST_POSTGRES.
// Each DSN call creates a fresh database in it.
//
// Without PostgreSQL the tests that need it skip, saying how to run them;
// with CRMLOAD_REQUIRE_POSTGRES=1 (set by CI) they fail instead.
package pgtest

import (
	"context"
	"fmt"
	"net"
	"net/url"
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

// Password is the password of the throwaway cluster's superuser: tests
// check that it never shows in what crmload writes.
const Password = "s3cret-Pg-pw"

// EnvDSN names a server to use instead of starting one: a DSN whose user
// may create databases.
const EnvDSN = "CRMLOAD_TEST_POSTGRES"

// EnvRequire makes a missing PostgreSQL a test failure instead of a skip.
const EnvRequire = "CRMLOAD_REQUIRE_POSTGRES"

var (
	once    sync.Once
	admin   string // DSN of the maintenance database
	failure string // why there is no server
	stop    func()
	dbs     atomic.Int64
	mu      sync.Mutex
)

// binDir is where the server binaries are looked for.
func binDir() string {
	if d := os.Getenv("CRMLOAD_PG_BIN"); d != "" {
		if _, err := os.Stat(filepath.Join(d, "initdb")); err != nil {
			return ""
		}
		return d
	}
	for _, v := range []string{"17", "16", "15", "14", "13"} {
		d := "/usr/lib/postgresql/" + v + "/bin"
		if _, err := os.Stat(filepath.Join(d, "initdb")); err == nil {
			return d
		}
	}
	if p, err := exec.LookPath("initdb"); err == nil {
		return filepath.Dir(p)
	}
	return ""
}

func setup() {
	if dsn := os.Getenv(EnvDSN); dsn != "" {
		admin = dsn
		return
	}
	bin := binDir()
	if bin == "" {
		failure = "no PostgreSQL server binaries (initdb) found: install the postgresql package (apt-get install postgresql), or set " + EnvDSN + "=postgres://user:password@host/db"
		return
	}
	if err := startCluster(bin); err != nil {
		failure = fmt.Sprintf("start a throwaway PostgreSQL cluster with %s: %v (or set %s=postgres://user:password@host/db)", bin, err, EnvDSN)
	}
}

// ownerFile, in a cluster's temp dir, holds the pid of the test process
// that started it: a cluster whose process is gone (killed, or stopped by
// go test's -timeout before it could stop the cluster) is stopped and
// removed by the next test binary that starts one.
const ownerFile = "owner.pid"

// startCluster runs initdb and pg_ctl start in a temp dir.
func startCluster(bin string) error {
	removeStale(bin)
	dir, err := os.MkdirTemp("", "crmload-pg")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, ownerFile), []byte(strconv.Itoa(os.Getpid())), 0o644); err != nil {
		os.RemoveAll(dir)
		return err
	}
	var as []string // the command prefix that runs as the cluster's owner
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			os.RemoveAll(dir)
			return fmt.Errorf("running as root, and there is no postgres user to own the cluster: %w", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		if err := os.Chown(dir, uid, gid); err != nil {
			os.RemoveAll(dir)
			return err
		}
		as = []string{"runuser", "-u", "postgres", "--"}
	}
	run := func(name string, args ...string) error {
		argv := append(append(append([]string{}, as...), filepath.Join(bin, name)), args...)
		cmd := exec.Command(argv[0], argv[1:]...)
		cmd.Dir = dir
		out, err := cmd.CombinedOutput()
		if err != nil {
			return fmt.Errorf("%s: %v: %s", name, err, strings.TrimSpace(string(out)))
		}
		return nil
	}
	pwfile := filepath.Join(dir, "pw")
	if err := os.WriteFile(pwfile, []byte(Password+"\n"), 0o644); err != nil {
		os.RemoveAll(dir)
		return err
	}
	data := filepath.Join(dir, "data")
	if err := run("initdb", "-D", data, "-U", "postgres", "--pwfile", pwfile, "--auth-local=trust", "--auth-host=scram-sha-256",
		"--no-sync", "-E", "UTF8", "--locale=C"); err != nil {
		os.RemoveAll(dir)
		return err
	}
	// A free port may be taken by another test binary's cluster before
	// this one binds it: try again on another.
	var port int
	for attempt := 0; ; attempt++ {
		if port, err = freePort(); err != nil {
			os.RemoveAll(dir)
			return err
		}
		opts := fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200", port, dir)
		err = run("pg_ctl", "-D", data, "-o", opts, "-l", filepath.Join(dir, "log"), "-w", "-t", "60", "start")
		if err == nil {
			break
		}
		if attempt == 2 {
			log, _ := os.ReadFile(filepath.Join(dir, "log"))
			os.RemoveAll(dir)
			return fmt.Errorf("%v\n%s", err, log)
		}
	}
	admin = fmt.Sprintf("postgres://postgres:%s@127.0.0.1:%d/postgres?sslmode=disable", url.QueryEscape(Password), port)
	stop = func() {
		run("pg_ctl", "-D", data, "-m", "immediate", "-w", "stop")
		os.RemoveAll(dir)
	}
	return nil
}

// removeStale stops and removes the clusters of test processes that are
// gone.
func removeStale(bin string) {
	dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), "crmload-pg*"))
	for _, dir := range dirs {
		b, err := os.ReadFile(filepath.Join(dir, ownerFile))
		if err != nil {
			continue // not one of ours, or being created
		}
		pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
		if err != nil || pid <= 0 || !processGone(pid) {
			continue // its process is alive (or not ours to judge)
		}
		argv := []string{filepath.Join(bin, "pg_ctl"), "-D", filepath.Join(dir, "data"), "-m", "immediate", "-w", "stop"}
		if os.Geteuid() == 0 {
			argv = append([]string{"runuser", "-u", "postgres", "--"}, argv...)
		}
		exec.Command(argv[0], argv[1:]...).Run()
		os.RemoveAll(dir)
	}
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// Main runs a package's tests and then stops the cluster they started.
func Main(m *testing.M) {
	code := m.Run()
	Stop()
	os.Exit(code)
}

// Stop stops the throwaway cluster, if one was started.
func Stop() {
	mu.Lock()
	defer mu.Unlock()
	if stop != nil {
		stop()
		stop = nil
	}
}

// Available reports whether a server is there, starting it if needed,
// and why not.
func Available() (bool, string) {
	mu.Lock()
	defer mu.Unlock()
	once.Do(setup)
	return admin != "", failure
}

// DSN returns the DSN of a new, empty database, dropped when t ends. It
// skips t when there is no PostgreSQL (fails it under
// CRMLOAD_REQUIRE_POSTGRES=1).
func DSN(t testing.TB) string {
	t.Helper()
	if ok, why := Available(); !ok {
		if os.Getenv(EnvRequire) == "1" {
			t.Fatalf("PostgreSQL is required (%s=1): %s", EnvRequire, why)
		}
		t.Skipf("no PostgreSQL: %s", why)
	}
	name := fmt.Sprintf("crmload_test_%d_%d", os.Getpid(), dbs.Add(1))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, err := pgx.Connect(ctx, admin)
	if err != nil {
		t.Fatalf("connect to the test PostgreSQL: %v", err)
	}
	defer c.Close(ctx)
	if _, err := c.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("create the test database: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if c, err := pgx.Connect(ctx, admin); err == nil {
			c.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
			c.Close(ctx)
		}
	})
	u, err := url.Parse(admin)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		// A keyword/value DSN.
		return admin + " dbname=" + name
	}
	u.Path = "/" + name
	return u.String()
}

// After wraps a package's tests for a TestMain that exits by itself
// (testscript.Main): the cluster is stopped when they end.
func After(m interface{ Run() int }) interface{ Run() int } { return after{m} }

type after struct{ m interface{ Run() int } }

func (a after) Run() int {
	code := a.m.Run()
	Stop()
	return code
}
