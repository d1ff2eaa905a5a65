package postgres_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/gongpai/gongpai/storage"
	"github.com/gongpai/gongpai/storage/postgres"
	"github.com/gongpai/gongpai/storage/postgres/pgtest"
)

// password is put in DSNs to check that it never surfaces.
const password = "pw-must-not-leak"

// patience is far longer than any of these calls should take. The calls
// run under it so that a hang shows up as a context error — which the
// tests reject: the store must give up on its own, with ErrUnavailable.
const patience = 2 * time.Minute

func closedPort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	return port
}

func wantUnavailable(t *testing.T, ctx context.Context, what string, err error) {
	t.Helper()
	if !errors.Is(err, storage.ErrUnavailable) {
		t.Errorf("%s: got %v, want an error wrapping storage.ErrUnavailable", what, err)
	}
	if ctx.Err() != nil {
		t.Errorf("%s: the caller's context ran out (%v): the store did not give up on its own", what, ctx.Err())
	}
	if err != nil && strings.Contains(err.Error(), password) {
		t.Errorf("%s: error quotes the DSN password: %v", what, err)
	}
}

func TestOpenUnreachable(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), patience)
	defer cancel()
	dsn := fmt.Sprintf("postgres://gongpai:%s@127.0.0.1:%d/gongpai?sslmode=disable", password, closedPort(t))
	s, err := postgres.Open(ctx, dsn, postgres.Options{})
	if err == nil {
		s.Close()
		t.Fatal("Open against a closed port: got nil error")
	}
	wantUnavailable(t, ctx, "Open against a closed port", err)
}

// TestOpenSilentServer dials a server that accepts TCP connections and
// never answers: the store's connect timeout, not the caller's context,
// ends the wait.
func TestOpenSilentServer(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		var held []net.Conn // accepted and left silent
		defer func() {
			for _, c := range held {
				c.Close()
			}
		}()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			held = append(held, c)
		}
	}()
	ctx, cancel := context.WithTimeout(t.Context(), patience)
	defer cancel()
	dsn := fmt.Sprintf("postgres://gongpai:%s@%s/gongpai?sslmode=disable&connect_timeout=1", password, l.Addr())
	s, err := postgres.Open(ctx, dsn, postgres.Options{})
	if err == nil {
		s.Close()
		t.Fatal("Open against a silent server: got nil error")
	}
	wantUnavailable(t, ctx, "Open against a silent server", err)
}

func TestOpenBadDSN(t *testing.T) {
	for _, dsn := range []string{
		"postgres://gongpai:" + password + "@127.0.0.1:notaport/gongpai",
		"host=127.0.0.1 password=" + password + " port=notaport",
		"postgres://gongpai:" + password + "@[::1/gongpai",
	} {
		s, err := postgres.Open(t.Context(), dsn, postgres.Options{})
		if err == nil {
			s.Close()
			t.Errorf("Open(bad DSN): got nil error")
			continue
		}
		if strings.Contains(err.Error(), password) {
			t.Errorf("Open(bad DSN): error quotes the password: %v", err)
		}
	}
}

// TestServerStopped stops the server under an open store: calls fail with
// ErrUnavailable instead of hanging, and once the server is back the same
// store recovers without being reopened.
func TestServerStopped(t *testing.T) {
	srv := pgtest.StartServer(t)
	var logs bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	// Trust authentication ignores the password; it is there to be hidden.
	dsn := strings.Replace(srv.DSN("postgres"), "postgres@", "postgres:"+password+"@", 1)
	s := open(t, dsn, postgres.Options{Logger: logger})
	ent := &storage.LegalEntity{Code: "ACME", Name: "Acme", IDRule: "{seq:3}", CreatedAt: time.Now()}
	if err := s.CreateEntity(t.Context(), ent); err != nil {
		t.Fatal(err)
	}

	if err := srv.Stop(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), patience)
	defer cancel()
	calls := []struct {
		name string
		call func() error
	}{
		{"Ping", func() error { return s.Ping(ctx) }},
		{"Entity", func() error { _, err := s.Entity(ctx, "ACME"); return err }},
		{"Employee", func() error { _, err := s.Employee(ctx, "sub-1"); return err }},
		{"CreateEntity", func() error { return s.CreateEntity(ctx, &storage.LegalEntity{Code: "GLOBEX", CreatedAt: time.Now()}) }},
		{"RotateRefreshToken", func() error { return s.RotateRefreshToken(ctx, "rt-1", &storage.RefreshToken{ID: "rt-2"}) }},
		{"TakeAuthCode", func() error { _, err := s.TakeAuthCode(ctx, "code"); return err }},
		{"Hit", func() error { _, err := s.Hit(ctx, "k", time.Minute); return err }},
	}
	for _, c := range calls {
		wantUnavailable(t, ctx, c.name+" with the server stopped", c.call())
	}

	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	// Connections broken by the restart may still sit idle in the pool;
	// each failed use discards one, so a bounded number of tries suffices.
	var err error
	for range 20 {
		if _, err = s.Entity(ctx, "ACME"); err == nil {
			break
		}
		wantUnavailable(t, ctx, "Entity just after the restart", err)
	}
	if err != nil {
		t.Fatalf("Entity after the server came back: %v", err)
	}

	if strings.Contains(logs.String(), password) {
		t.Errorf("log output quotes the DSN password:\n%s", logs.String())
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	wantUnavailable(t, ctx, "Ping after Close", s.Ping(ctx))
}
