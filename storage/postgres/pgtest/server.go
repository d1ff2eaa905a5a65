package pgtest

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// Server is a throwaway PostgreSQL server run from the installed
// binaries, listening on 127.0.0.1 only, with trust authentication for the
// superuser "postgres".
type Server struct {
	bin  string              // directory holding initdb and postgres
	dir  string              // temp dir: data/ and postgres.log
	cred *syscall.Credential // whom the server runs as; nil: as us
	port int

	mu   sync.Mutex
	cmd  *exec.Cmd     // nil while stopped
	done chan struct{} // closed when cmd has exited
}

// readyTimeout bounds how long a starting server may take to accept
// connections; stopTimeout how long a fast shutdown may take before the
// server is killed.
const (
	readyTimeout = 60 * time.Second
	stopTimeout  = 30 * time.Second
)

// StartServer starts a private throwaway server for this test — for tests
// that stop or restart a server, which must not be the one DSN shares —
// and stops and removes it at cleanup. When no server can be started the
// test is skipped, or fails under CI=true.
func StartServer(t testing.TB) *Server {
	t.Helper()
	s, err := start()
	if err != nil {
		unavailable(t, err)
	}
	t.Cleanup(func() {
		if err := s.remove(); err != nil {
			t.Errorf("pgtest: %v", err)
		}
	})
	return s
}

// DSN is a connection string for database on s (the "postgres" database
// always exists).
func (s *Server) DSN(database string) string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", s.port, database)
}

// Stop shuts the server down (fast shutdown, by its PID) and waits for it
// to exit, keeping its data; Start brings it back.
func (s *Server) Stop() error {
	s.mu.Lock()
	cmd, done := s.cmd, s.done
	s.cmd = nil
	s.mu.Unlock()
	if cmd == nil {
		return nil
	}
	_ = cmd.Process.Signal(syscall.SIGINT) // PostgreSQL's fast shutdown
	select {
	case <-done:
		return nil
	case <-time.After(stopTimeout):
		_ = cmd.Process.Kill()
		<-done
		return fmt.Errorf("pgtest: server pid %d ignored SIGINT for %v; killed", cmd.Process.Pid, stopTimeout)
	}
}

// Start starts a stopped server again on the same port with the same
// data, and waits until it accepts connections.
func (s *Server) Start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd != nil {
		return errors.New("pgtest: server already running")
	}
	logPath := filepath.Join(s.dir, "postgres.log")
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("pgtest: %w", err)
	}
	defer logf.Close() // the child has its own descriptor
	cmd := exec.Command(filepath.Join(s.bin, "postgres"),
		"-D", filepath.Join(s.dir, "data"),
		"-p", strconv.Itoa(s.port),
		"-c", "listen_addresses=127.0.0.1",
		"-c", "unix_socket_directories=", // TCP only: no socket file to clash or clean up
		"-c", "fsync=off",
		"-c", "synchronous_commit=off",
		"-c", "full_page_writes=off",
		"-c", "max_connections=200",
	)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.Env = env()
	// Pdeathsig: if the test binary dies without stopping us, the kernel
	// sends the server SIGQUIT (immediate shutdown). Go sets it after
	// switching credentials, so it survives the switch.
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: s.cred, Pdeathsig: syscall.SIGQUIT}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("pgtest: start postgres: %w", err)
	}
	done := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(done)
	}()

	deadline := time.Now().Add(readyTimeout)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		conn, err := pgx.Connect(ctx, s.DSN("postgres"))
		if err == nil {
			_ = conn.Close(ctx)
			cancel()
			s.cmd, s.done = cmd, done
			return nil
		}
		cancel()
		select {
		case <-done:
			return fmt.Errorf("pgtest: postgres exited during start-up; log:\n%s", tail(logPath))
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			<-done
			return fmt.Errorf("pgtest: postgres not accepting connections after %v (%v); log:\n%s", readyTimeout, err, tail(logPath))
		}
	}
}

// remove stops the server and deletes its directory.
func (s *Server) remove() error {
	stopErr := s.Stop()
	if err := os.RemoveAll(s.dir); err != nil {
		return errors.Join(stopErr, fmt.Errorf("pgtest: remove %s: %w", s.dir, err))
	}
	return stopErr
}

// start runs initdb in a new temp dir and starts the server on a free
// loopback port, trying a few ports in case another process takes the one
// picked before the server binds it.
func start() (*Server, error) {
	bin, err := binaries()
	if err != nil {
		return nil, err
	}
	cred, err := unprivileged()
	if err != nil {
		return nil, err
	}
	base, err := tempBase(cred)
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp(base, "gongpai-pgtest-")
	if err != nil {
		return nil, fmt.Errorf("pgtest: %w", err)
	}
	s := &Server{bin: bin, dir: dir, cred: cred}
	if err := s.initdb(); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	for range 3 {
		if s.port, err = freePort(); err != nil {
			break
		}
		if err = s.Start(); err == nil {
			return s, nil
		}
	}
	os.RemoveAll(dir)
	return nil, err
}

// initdb creates the cluster in s.dir/data as s.cred.
func (s *Server) initdb() error {
	if s.cred != nil {
		if err := os.Chown(s.dir, int(s.cred.Uid), int(s.cred.Gid)); err != nil {
			return fmt.Errorf("pgtest: %w", err)
		}
	}
	cmd := exec.Command(filepath.Join(s.bin, "initdb"),
		"-D", filepath.Join(s.dir, "data"),
		"-U", "postgres", "--auth=trust",
		"-E", "UTF8", "--locale=C",
		"--no-sync",
	)
	cmd.Env = env()
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: s.cred}
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("pgtest: initdb in %s: %v\n%s", s.dir, err, out)
	}
	return nil
}

// binaries finds the directory holding both initdb and postgres: the one
// initdb on PATH resolves to, else the newest /usr/lib/postgresql/N/bin
// (Debian keeps them off PATH).
func binaries() (string, error) {
	both := func(dir string) bool {
		for _, name := range []string{"initdb", "postgres"} {
			if fi, err := os.Stat(filepath.Join(dir, name)); err != nil || fi.IsDir() {
				return false
			}
		}
		return true
	}
	if p, err := exec.LookPath("initdb"); err == nil {
		if real, err := filepath.EvalSymlinks(p); err == nil && both(filepath.Dir(real)) {
			return filepath.Dir(real), nil
		}
		if both(filepath.Dir(p)) {
			return filepath.Dir(p), nil
		}
	}
	matches, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	version := func(dir string) float64 {
		v, _ := strconv.ParseFloat(filepath.Base(filepath.Dir(dir)), 64)
		return v
	}
	slices.SortFunc(matches, func(a, b string) int { return cmp.Compare(version(b), version(a)) })
	for _, dir := range matches {
		if both(dir) {
			return dir, nil
		}
	}
	return "", errors.New("no initdb and postgres on PATH or in /usr/lib/postgresql/*/bin")
}

// unprivileged is whom to run initdb and postgres as: nil (ourselves)
// unless we are root, which both refuse; then the "postgres" user, else
// "nobody".
func unprivileged() (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	for _, name := range []string{"postgres", "nobody"} {
		u, err := user.Lookup(name)
		if err != nil {
			continue
		}
		uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
		gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
		if err1 != nil || err2 != nil || uid == 0 {
			continue
		}
		return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
	}
	return nil, errors.New("running as root, which initdb refuses, and there is no unprivileged user (postgres, nobody) to run it as")
}

// tempBase is where the temp dir goes. /dev/shm first when it is a tmpfs
// with room to spare: CREATE DATABASE there takes ~20ms instead of ~400ms
// on a disk, which is most of the suite's run time. Then os.TempDir, and
// /tmp when the server's user could not reach TMPDIR (a root-only home).
func tempBase(cred *syscall.Credential) (string, error) {
	const minFree = 1 << 30
	var st syscall.Statfs_t
	if syscall.Statfs("/dev/shm", &st) == nil && uint64(st.Bavail)*uint64(st.Bsize) >= minFree && reachable("/dev/shm") {
		return "/dev/shm", nil
	}
	if cred == nil {
		return os.TempDir(), nil
	}
	for _, base := range []string{os.TempDir(), "/tmp"} {
		if reachable(base) {
			return base, nil
		}
	}
	return "", errors.New("no temp directory the unprivileged server user can reach (tried /dev/shm, $TMPDIR and /tmp)")
}

// reachable reports whether every directory from / down to dir lets
// anyone search it.
func reachable(dir string) bool {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return false
	}
	for {
		fi, err := os.Stat(dir)
		if err != nil || fi.Mode().Perm()&0o001 == 0 {
			return false
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return true
		}
		dir = parent
	}
}

// env is our environment without libpq's PG* variables (which would
// steer initdb or postgres) and with the C locale.
func env() []string {
	var out []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "PG") || strings.HasPrefix(kv, "LC_") || strings.HasPrefix(kv, "LANG=") {
			continue
		}
		out = append(out, kv)
	}
	return append(out, "LC_ALL=C", "LANG=C")
}

// freePort asks the kernel for a loopback port nobody holds right now.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("pgtest: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// tail is the end of the log at path, for start-up errors.
func tail(path string) string {
	f, err := os.Open(path)
	if err != nil {
		return err.Error()
	}
	defer f.Close()
	const n = 4096
	if fi, err := f.Stat(); err == nil && fi.Size() > n {
		_, _ = f.Seek(-n, io.SeekEnd)
	}
	b, _ := io.ReadAll(f)
	return string(b)
}
