// Package e2e drives a real `gongpai serve` with a real relying party
// (coreos/go-oidc + x/oauth2) and a real browser (Debian's chromium via
// chromedp) through the real pages.
package e2e

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// gongpaiBin is the binary built once for the whole package.
var gongpaiBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "gongpai-e2e-bin")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		os.Exit(1)
	}
	gongpaiBin = filepath.Join(dir, "gongpai")
	build := exec.Command("go", "build", "-o", gongpaiBin, "../cmd/gongpai")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "e2e: building gongpai failed:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// server is one running `gongpai serve` process.
type server struct {
	URL     string // where this process listens
	Issuer  string // the issuer it serves (URL, or a load balancer's)
	DataDir string
	env     []string
	cmd     *exec.Cmd
	logs    *syncBuffer
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// freePort asks the kernel for an unused loopback port.
func freePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// startServer runs `gongpai serve` on a fresh data directory and a free
// loopback port, and stops it when the test ends. extraEnv are
// GONGPAI_* overrides.
func startServer(t testing.TB, extraEnv ...string) *server {
	t.Helper()
	return startServerAt(t, "", extraEnv...)
}

// startServerAt is startServer for a replica behind a load balancer:
// issuer is the balancer's URL ("" for the server's own).
func startServerAt(t testing.TB, issuer string, extraEnv ...string) *server {
	t.Helper()
	return startServerArgs(t, issuer, nil, extraEnv...)
}

// startServerArgs is startServerAt with extra arguments to serve (--demo).
func startServerArgs(t testing.TB, issuer string, serveArgs []string, extraEnv ...string) *server {
	t.Helper()
	port := freePort(t)
	s := &server{
		URL:     fmt.Sprintf("http://127.0.0.1:%d", port),
		Issuer:  issuer,
		DataDir: t.TempDir(),
		logs:    &syncBuffer{},
	}
	if s.Issuer == "" {
		s.Issuer = s.URL
	}
	forgetPasswords(s.Issuer) // a fresh store: the passwords tests onboard with
	s.env = append(os.Environ(),
		"GONGPAI_ISSUER="+s.Issuer,
		fmt.Sprintf("GONGPAI_LISTEN=127.0.0.1:%d", port),
		"GONGPAI_DATA_DIR="+s.DataDir,
		"GONGPAI_STORE_DSN="+filepath.Join(s.DataDir, "gongpai.db"),
		// Cheap hashes keep the suite fast; production defaults are tested in directory/.
		"GONGPAI_PASSWORD_MEMORY_KIB=8192", "GONGPAI_PASSWORD_TIME=1",
	)
	s.env = append(s.env, extraEnv...)
	// Generate the dev keys and the schema before the server starts, so
	// CLI calls made while it runs never race it for the key files.
	s.cli(t, "", "migrate")

	// E2E_SERVE_FLAGS adds flags to serve, e.g. "--pprof 127.0.0.1:6060"
	// to profile a benchmark.
	args := append(append([]string{"serve"}, serveArgs...), strings.Fields(os.Getenv("E2E_SERVE_FLAGS"))...)
	s.cmd = exec.Command(gongpaiBin, args...)
	s.cmd.Env = s.env
	s.cmd.Stdout, s.cmd.Stderr = s.logs, s.logs
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = s.cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan error, 1)
		go func() { done <- s.cmd.Wait() }()
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			_ = s.cmd.Process.Kill()
			<-done
			t.Errorf("gongpai serve did not stop within 15s of SIGTERM")
		}
		if t.Failed() {
			t.Logf("gongpai serve output:\n%s", s.logs.String())
		}
	})
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get(s.URL + "/.well-known/openid-configuration")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return s
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("gongpai serve did not answer discovery within 20s (last error %v); output:\n%s", err, s.logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// cli runs a gongpai subcommand against the server's data and returns its
// stdout; it fails the test on a non-zero exit.
func (s *server) cli(t testing.TB, stdin string, args ...string) string {
	t.Helper()
	out, errOut, err := s.tryCLI(stdin, args...)
	if err != nil {
		t.Fatalf("gongpai %s: %v\nstdout: %s\nstderr: %s", strings.Join(args, " "), err, out, errOut)
	}
	return out
}

func (s *server) tryCLI(stdin string, args ...string) (stdout, stderr string, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, gongpaiBin, args...)
	cmd.Env = s.env
	cmd.Stdin = strings.NewReader(stdin)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err = cmd.Run()
	return o.String(), e.String(), err
}

var secretLine = regexp.MustCompile(`(?m)^client_secret:\s+(\S+)`)

// addClient registers a confidential client through the CLI and returns
// its secret.
func (s *server) addClient(t testing.TB, id, redirectURI string, extra ...string) string {
	t.Helper()
	args := append([]string{"client", "add", "--id", id, "--name", strings.ToUpper(id), "--redirect-uri", redirectURI}, extra...)
	out := s.cli(t, "", args...)
	m := secretLine.FindStringSubmatch(out)
	if m == nil {
		if strings.Contains(strings.Join(extra, " "), "--public") {
			return ""
		}
		t.Fatalf("client add printed no secret:\n%s", out)
	}
	return m[1]
}

// company is the directory every end-to-end test signs in against.
type company struct {
	// enrolling has no TOTP yet: first sign-in enrols.
	enrolling employee
	// seeded has a TOTP seed imported with --totp-seed.
	seeded employee
}

type employee struct {
	ID, Password, TOTPSeed string
}

const importedSeed = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"

func (s *server) seedCompany(t testing.TB) company {
	t.Helper()
	s.cli(t, "", "entity", "add", "--code", "ACME", "--name", "ACME Group", "--id-rule", "{dept}{yyyy}{seq:3}")
	s.cli(t, "", "dept", "add", "--entity", "ACME", "--code", "HR01", "--name", "Human Resources")
	s.cli(t, "", "dept", "add", "--entity", "ACME", "--code", "FIN01", "--name", "Finance")
	c := company{
		enrolling: employee{ID: "HR012023001", Password: "correct horse battery 1"},
		seeded:    employee{ID: "FIN012023001", Password: "correct horse battery 2", TOTPSeed: importedSeed},
	}
	out := s.cli(t, c.enrolling.Password+"\n", "employee", "add", "--entity", "ACME", "--dept", "HR01",
		"--name", "Zhang Wei", "--email", "zhang.wei@acme.example", "--title", "HRBP", "--hired", "2023-03-01")
	if !strings.Contains(out, c.enrolling.ID) {
		t.Fatalf("employee add: want generated ID %s in %q", c.enrolling.ID, out)
	}
	s.cli(t, c.seeded.Password+"\n", "employee", "add", "--entity", "ACME", "--dept", "FIN01",
		"--name", "Li Na", "--hired", "2023-05-02", "--totp-seed", importedSeed)
	s.cli(t, "", "role", "grant", "--employee", c.enrolling.ID, "--role", "hr")
	s.cli(t, "", "role", "grant", "--employee", c.seeded.ID, "--role", "erp:approver")
	return c
}
