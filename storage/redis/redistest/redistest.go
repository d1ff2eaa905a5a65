// Package redistest gives tests a real Redis (ARCHITECTURE §8).
//
// Addr returns a Redis shared by the tests of one test binary, each
// test under its own key prefix: the one named by GONGPAI_TEST_REDIS_ADDR
// when set, else a throwaway redis-server started once per test binary
// on a free loopback port. Start gives a test a dedicated throwaway
// server it may stop, kill and restart (fault tests); StartCluster gives
// it a one-node Redis Cluster (slot-discipline tests).
//
// When no Redis can be had the test is skipped with a loud reason — and
// fails instead under CI=true.
//
// Throwaway servers keep nothing on disk (--save "" --appendonly no) and
// die with the test binary: they are stopped by PID at the end (the
// shared one by Main, dedicated ones by t.Cleanup), and on Linux the
// kernel kills them if the test binary dies first.
package redistest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"
)

// EnvAddr names the variable holding host:port of an existing Redis.
const EnvAddr = "GONGPAI_TEST_REDIS_ADDR"

// shared is the throwaway server Addr starts once per test binary.
var shared struct {
	once sync.Once
	srv  *Server
	err  error
}

// Addr returns the address of a Redis for t and a key prefix no other
// test uses; keys under the prefix are deleted when t ends. The Redis is
// the one at $GONGPAI_TEST_REDIS_ADDR, else a throwaway redis-server this
// package starts once per test binary (stopped by Main, or by the kernel
// when the binary exits).
func Addr(t testing.TB) (addr, prefix string) {
	t.Helper()
	if addr = os.Getenv(EnvAddr); addr != "" {
		if err := ping(addr, 2*time.Second); err != nil {
			t.Fatalf("redistest: %s=%s does not answer: %v", EnvAddr, addr, err)
		}
	} else {
		shared.once.Do(func() {
			var dir string
			if dir, shared.err = os.MkdirTemp("", "gongpai-redistest-"); shared.err == nil {
				shared.srv, shared.err = launch(dir, false)
			}
		})
		if shared.err != nil {
			unavailable(t, shared.err)
			return "", ""
		}
		addr = shared.srv.Addr()
	}
	prefix = "gongpai-test:" + randomHex() + ":"
	t.Cleanup(func() { deletePrefix(addr, prefix) })
	return addr, prefix
}

// Main runs m, then stops the shared server if Addr started one, and
// exits. Use it as
//
//	func TestMain(m *testing.M) { redistest.Main(m) }
func Main(m *testing.M) {
	code := m.Run()
	if shared.srv != nil {
		shared.srv.Stop()
		os.RemoveAll(shared.srv.dir)
	}
	os.Exit(code)
}

// Server is a throwaway redis-server owned by one test.
type Server struct {
	t       testing.TB // nil for the shared server
	dir     string
	port    int
	cluster bool

	mu   sync.Mutex
	proc *exec.Cmd
	done chan struct{} // closed when proc has exited
	out  *syncBuffer
}

// Start starts a dedicated throwaway redis-server for t, stopped when t
// ends. It ignores GONGPAI_TEST_REDIS_ADDR: a test that stops its server
// must own it.
func Start(t testing.TB) *Server {
	t.Helper()
	return start(t, false)
}

// StartCluster is Start for a one-node Redis Cluster holding all 16384
// slots: cross-slot commands fail there as on a real cluster. Connect with
// cluster mode forced (one seed address).
func StartCluster(t testing.TB) *Server {
	t.Helper()
	return start(t, true)
}

func start(t testing.TB, cluster bool) *Server {
	t.Helper()
	s, err := launch(t.TempDir(), cluster)
	if err != nil {
		unavailable(t, err)
		return nil
	}
	s.t = t
	t.Cleanup(s.Stop) // registered after TempDir: runs before its removal
	return s
}

// Addr is host:port of the server; it stays the same across restarts.
func (s *Server) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port)) }

// Stop stops the server by its PID — SIGTERM, then SIGKILL after 5s — and
// waits for it to exit. Stopping a stopped server does nothing.
func (s *Server) Stop() { s.signal(syscall.SIGTERM, 5*time.Second) }

// Kill ends the server at once with SIGKILL, like a crash, and waits for
// it to exit.
func (s *Server) Kill() { s.signal(syscall.SIGKILL, 0) }

// Pause freezes the server with SIGSTOP: connections stay open and
// commands go unanswered, like a hung host. Resume thaws it.
func (s *Server) Pause() { s.send(syscall.SIGSTOP) }

// Resume continues a paused server with SIGCONT.
func (s *Server) Resume() { s.send(syscall.SIGCONT) }

func (s *Server) send(sig syscall.Signal) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.proc != nil {
		_ = s.proc.Process.Signal(sig)
	}
}

func (s *Server) signal(sig syscall.Signal, grace time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.proc == nil {
		return
	}
	_ = s.proc.Process.Signal(sig)
	_ = s.proc.Process.Signal(syscall.SIGCONT) // a paused server must wake to die
	select {
	case <-s.done:
	case <-time.After(grace):
		_ = s.proc.Process.Kill()
		<-s.done
	}
	s.proc = nil
}

// Restart stops the server if it runs and starts it again on the same
// port, with an empty dataset (a cluster keeps its slots). It fails the
// test when the server does not come back.
func (s *Server) Restart() {
	if s.t != nil {
		s.t.Helper()
	}
	s.Stop()
	s.mu.Lock()
	err := s.run()
	s.mu.Unlock()
	if err != nil && s.t != nil {
		s.t.Fatalf("redistest: restart: %v", err)
	}
}

// launch picks a free loopback port and starts a server on it, trying
// again with another port if someone else took it first.
func launch(dir string, cluster bool) (*Server, error) {
	if _, err := exec.LookPath("redis-server"); err != nil {
		return nil, fmt.Errorf("no redis-server in PATH (%v) and %s is not set", err, EnvAddr)
	}
	var err error
	for range 5 {
		var port int
		if port, err = freePort(); err != nil {
			return nil, err
		}
		s := &Server{dir: dir, port: port, cluster: cluster}
		s.mu.Lock()
		err = s.run()
		s.mu.Unlock()
		if err == nil {
			return s, nil
		}
	}
	return nil, err
}

// run starts the process and waits until it answers; s.mu is held.
func (s *Server) run() error {
	args := []string{
		"--port", strconv.Itoa(s.port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--dir", s.dir,
		"--daemonize", "no", "--logfile", "", "--loglevel", "warning",
	}
	if s.cluster {
		args = append(args, "--cluster-enabled", "yes", "--cluster-config-file", "nodes-"+strconv.Itoa(s.port)+".conf")
	}
	cmd := exec.Command("redis-server", args...)
	out := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = sysProcAttr()
	if err := startProcess(cmd); err != nil {
		return fmt.Errorf("start redis-server: %w", err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	s.proc, s.done, s.out = cmd, done, out

	fail := func(err error) error {
		_ = cmd.Process.Kill()
		<-done
		s.proc = nil
		return fmt.Errorf("redis-server on port %d: %w; output:\n%s", s.port, err, out.String())
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		select {
		case <-done:
			return fail(errors.New("exited during start-up"))
		default:
		}
		err := ping(s.Addr(), 200*time.Millisecond)
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			return fail(err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if s.cluster {
		if err := assignSlots(s.Addr()); err != nil {
			return fail(err)
		}
	}
	return nil
}

// assignSlots gives a fresh one-node cluster every slot and waits for it
// to report itself ok.
func assignSlots(addr string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c := goredis.NewClient(&goredis.Options{Addr: addr, MaxRetries: -1, DisableIdentity: true})
	defer c.Close()
	info, err := c.ClusterInfo(ctx).Result()
	if err != nil {
		return err
	}
	if !strings.Contains(info, "cluster_slots_assigned:16384") {
		if err := c.Do(ctx, "CLUSTER", "ADDSLOTSRANGE", 0, 16383).Err(); err != nil {
			return fmt.Errorf("assign slots: %w", err)
		}
	}
	for {
		info, err := c.ClusterInfo(ctx).Result()
		if err == nil && strings.Contains(info, "cluster_state:ok") {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("cluster not ok: %v %v", err, info)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// launcher starts processes from one goroutine locked to its OS thread
// for the life of the test binary: on Linux a child's parent-death signal
// fires when the thread that forked it ends, not the process.
var launcher = sync.OnceValue(func() chan<- launchReq {
	ch := make(chan launchReq)
	go func() {
		runtime.LockOSThread() // never unlocked: this thread lives as long as the binary
		for r := range ch {
			r.errc <- r.cmd.Start()
		}
	}()
	return ch
})

type launchReq struct {
	cmd  *exec.Cmd
	errc chan error
}

func startProcess(cmd *exec.Cmd) error {
	errc := make(chan error, 1)
	launcher() <- launchReq{cmd, errc}
	return <-errc
}

// freePort asks the kernel for a free loopback port.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// ping sends one PING over a fresh connection.
func ping(addr string, timeout time.Duration) error {
	conn, err := net.DialTimeout("tcp", addr, timeout)
	if err != nil {
		return err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(timeout))
	if _, err := conn.Write([]byte("PING\r\n")); err != nil {
		return err
	}
	buf := make([]byte, 64)
	n, err := conn.Read(buf)
	if err != nil {
		return err
	}
	if reply := string(buf[:n]); !strings.HasPrefix(reply, "+PONG") {
		return fmt.Errorf("PING answered %q", strings.TrimSpace(reply))
	}
	return nil
}

// deletePrefix removes a finished test's keys from a shared server. SCAN
// is fine here, in test clean-up; the store itself never scans.
func deletePrefix(addr, prefix string) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c := goredis.NewClient(&goredis.Options{Addr: addr, MaxRetries: -1, DisableIdentity: true})
	defer c.Close()
	it := c.Scan(ctx, 0, prefix+"*", 1000).Iterator()
	var batch []string
	for it.Next(ctx) {
		if batch = append(batch, it.Val()); len(batch) == 500 {
			c.Unlink(ctx, batch...)
			batch = batch[:0]
		}
	}
	if len(batch) > 0 {
		c.Unlink(ctx, batch...)
	}
}

// unavailable skips t loudly, or fails it under CI=true, where a skipped
// Redis test would hide a broken setup.
func unavailable(t testing.TB, why error) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf("redistest: no Redis for this test: %v (CI=true: a skip is a failure)", why)
		return
	}
	t.Skipf("redistest: SKIPPING — no Redis for this test: %v. Set %s=host:port or install redis-server.", why, EnvAddr)
}

func randomHex() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b) // never fails (crypto/rand)
	return hex.EncodeToString(b)
}

// syncBuffer collects a server's output for error messages.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
