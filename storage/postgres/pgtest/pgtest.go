// Package pgtest gives tests a real, empty PostgreSQL database
// (ARCHITECTURE §8).
//
// DSN creates a fresh database per test on a server found, in order:
//
//  1. GONGPAI_TEST_POSTGRES_DSN: a server the caller provides. The role
//     needs CREATEDB; databases are named gongpai_test_<pid>_<n>_<random>
//     and dropped when the test ends.
//  2. A throwaway server started once per test binary from the installed
//     binaries (initdb and postgres from PATH, else the newest
//     /usr/lib/postgresql/*/bin), in a temp dir (on /dev/shm when it has
//     room: on a tmpfs CREATE DATABASE takes ~20ms instead of ~400ms), on
//     a free loopback port, with fsync off. When the tests run as root —
//     initdb refuses to — the server runs as the "postgres" user, else
//     "nobody", through SysProcAttr.Credential, with the temp dir chowned
//     to it.
//
// When neither is possible the test is skipped with the reason, and under
// CI=true it fails instead: on CI a skip would hide a suite that never ran.
//
// Lifetime of the throwaway server: a package that uses DSN or
// StartServer declares
//
//	func TestMain(m *testing.M) { pgtest.Main(m) }
//
// Main runs the tests, then stops every server this package started (by
// PID: SIGINT, then SIGKILL after a grace period) and removes its temp
// dir. A reference count over t.Cleanup was the alternative, but each
// storagetest subtest is its own test, so the count would reach zero — and
// the server restart — dozens of times per run. DSN fails the test with
// instructions if Main is not in charge. If the test binary dies without
// reaching the end of Main (a panic, a timeout), the kernel still stops the
// server: it is started with a parent-death signal (SIGQUIT, PostgreSQL's
// immediate shutdown); only its temp dir is left behind.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// EnvDSN names the variable that points the helpers at an existing server.
const EnvDSN = "GONGPAI_TEST_POSTGRES_DSN"

var (
	mainRunning atomic.Bool

	mu       sync.Mutex
	shared   *Server // the throwaway server DSN uses, once started
	sharedOK bool    // shared start was attempted
	sharedEr error   // why it could not start
	servers  []*Server
	dbSeq    atomic.Int64
)

// Main runs the package's tests and then stops and removes every server
// this package started. Call it from TestMain; it does not return.
func Main(m *testing.M) {
	mainRunning.Store(true)
	code := m.Run()
	mainRunning.Store(false)
	mu.Lock()
	all := servers
	servers = nil
	mu.Unlock()
	for _, s := range all {
		if err := s.remove(); err != nil {
			fmt.Fprintf(os.Stderr, "pgtest: %v\n", err)
			if code == 0 {
				code = 1
			}
		}
	}
	os.Exit(code)
}

// DSN returns a connection string to a fresh, empty database for this
// test; the database is dropped at cleanup. See the package doc for where
// the server comes from.
func DSN(t testing.TB) string {
	t.Helper()
	admin, err := adminDSN()
	if err != nil {
		unavailable(t, err)
	}
	return createDatabase(t, admin)
}

// adminDSN is the DSN of the server DSN creates databases in.
func adminDSN() (string, error) {
	if dsn := os.Getenv(EnvDSN); dsn != "" {
		return dsn, nil
	}
	if !mainRunning.Load() {
		return "", errNoMain
	}
	mu.Lock()
	defer mu.Unlock()
	if !sharedOK {
		sharedOK = true
		shared, sharedEr = start()
		if shared != nil {
			servers = append(servers, shared)
		}
	}
	if sharedEr != nil {
		return "", sharedEr
	}
	return shared.DSN("postgres"), nil
}

// errNoMain is a usage error, never a reason to skip.
var errNoMain = fmt.Errorf("pgtest: %s is unset, and a throwaway server needs TestMain to stop it: "+
	"add func TestMain(m *testing.M) { pgtest.Main(m) } to the package's tests", EnvDSN)

// unavailable skips the test with the reason, or fails it under CI=true.
func unavailable(t testing.TB, err error) {
	t.Helper()
	if errors.Is(err, errNoMain) || os.Getenv("CI") == "true" {
		t.Fatalf("pgtest: no PostgreSQL for this test: %v", err)
	}
	t.Skipf("pgtest: SKIPPING, no PostgreSQL for this test: %v "+
		"(install postgresql, or set %s to a server where the role may CREATE DATABASE)", err, EnvDSN)
}

// createDatabase creates a uniquely named database on the server admin
// points at, registers its removal, and returns its DSN.
func createDatabase(t testing.TB, admin string) string {
	t.Helper()
	var b [4]byte
	_, _ = rand.Read(b[:])
	name := fmt.Sprintf("gongpai_test_%d_%d_%s", os.Getpid(), dbSeq.Add(1), hex.EncodeToString(b[:]))
	dsn, err := withDatabase(admin, name)
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	// template0 with an explicit encoding: never blocked by sessions on
	// template1, and UTF-8 whatever the server's default. FILE_COPY
	// (PostgreSQL 15+) copies the small template faster than WAL_LOG.
	create := func(ctx context.Context, conn *pgx.Conn) error {
		var version int
		if err := conn.QueryRow(ctx, `SELECT current_setting('server_version_num')::int`).Scan(&version); err != nil {
			return err
		}
		sql := `CREATE DATABASE ` + name + ` TEMPLATE template0 ENCODING 'UTF8' LC_COLLATE 'C' LC_CTYPE 'C'`
		if version >= 150000 {
			sql += ` STRATEGY FILE_COPY`
		}
		_, err := conn.Exec(ctx, sql)
		return err
	}
	if err := adminDo(admin, create); err != nil {
		if os.Getenv(EnvDSN) != "" {
			// The caller's server is the only source: a refusal there
			// is the environment's problem, reported like a missing one.
			unavailable(t, fmt.Errorf("create database on the %s server: %w", EnvDSN, err))
		}
		t.Fatalf("pgtest: create database: %v", err)
	}
	t.Cleanup(func() {
		// FORCE ends sessions a test left open (PostgreSQL 13+).
		drop := func(ctx context.Context, conn *pgx.Conn) error {
			_, err := conn.Exec(ctx, `DROP DATABASE IF EXISTS `+name+` WITH (FORCE)`)
			return err
		}
		if err := adminDo(admin, drop); err != nil {
			t.Errorf("pgtest: drop database %s: %v", name, err)
		}
	})
	return dsn
}

// adminDo runs f on a short-lived connection to admin. It does not use
// the test's context: cleanups run after that is cancelled.
func adminDo(admin string, f func(ctx context.Context, conn *pgx.Conn) error) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		return redact(err)
	}
	defer conn.Close(ctx)
	return f(ctx, conn)
}

// withDatabase returns dsn pointed at database name, in either DSN form.
func withDatabase(dsn, name string) (string, error) {
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		u, err := url.Parse(dsn)
		if err != nil {
			return "", fmt.Errorf("%s is not a valid URL", EnvDSN) // the error would quote the password
		}
		u.Path, u.RawPath = "/"+name, ""
		return u.String(), nil
	}
	// Keyword/value form: a later keyword wins.
	return dsn + " dbname=" + name, nil
}

// redact keeps connection errors from quoting a DSN (and its password):
// pgx's parse errors can.
func redact(err error) error {
	var pe *pgconn.ParseConfigError
	if errors.As(err, &pe) {
		return errors.New("cannot parse the DSN (details withheld: they may include the password)")
	}
	return err
}
