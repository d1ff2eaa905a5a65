package sqlite

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/gongpai/gongpai/storage"
)

func schemaVersion(t *testing.T, s *Store) (version, rows int) {
	t.Helper()
	err := s.r.QueryRowContext(t.Context(), `SELECT COALESCE(MAX(version), 0), COUNT(*) FROM schema_migrations`).Scan(&version, &rows)
	if err != nil {
		t.Fatalf("read schema_migrations: %v", err)
	}
	return version, rows
}

func TestMigrationsIdempotent(t *testing.T) {
	ms, err := migrations()
	if err != nil {
		t.Fatalf("migrations: %v", err)
	}
	path := filepath.Join(t.TempDir(), "nested", "dir", "g.db")
	for i := range 3 {
		s, err := Open(t.Context(), path, Options{})
		if err != nil {
			t.Fatalf("open %d: %v", i, err)
		}
		if v, n := schemaVersion(t, s); v != len(ms) || n != len(ms) {
			t.Errorf("open %d: got version %d with %d rows, want %d and %d", i, v, n, len(ms), len(ms))
		}
		if err := s.Close(); err != nil {
			t.Fatalf("close %d: %v", i, err)
		}
	}
	fi, err := os.Stat(filepath.Dir(path))
	if err != nil {
		t.Fatal(err)
	}
	if perm := fi.Mode().Perm(); perm != 0o700 {
		t.Errorf("created directory mode: got %o, want 700", perm)
	}
}

func TestMigrationsRefuseNewerSchema(t *testing.T) {
	path := filepath.Join(t.TempDir(), "g.db")
	s, err := Open(t.Context(), path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.w.ExecContext(t.Context(), `INSERT INTO schema_migrations (version, name, applied_at) VALUES (9999, 'future.sql', 0)`); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if s, err := Open(t.Context(), path, Options{}); err == nil {
		s.Close()
		t.Fatal("Open of a database from a newer binary: got nil error")
	}
}

func TestOpenRejectsPath(t *testing.T) {
	for _, path := range []string{"", ":memory:", filepath.Join(t.TempDir(), "g.db?mode=ro")} {
		if s, err := Open(t.Context(), path, Options{}); err == nil {
			s.Close()
			t.Errorf("Open(%q): got nil error", path)
		}
	}
}

func TestSweep(t *testing.T) {
	now := time.Date(2025, 3, 14, 9, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	s, err := Open(t.Context(), filepath.Join(t.TempDir(), "g.db"), Options{Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	ctx := t.Context()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	short, long := now.Add(time.Minute), now.Add(time.Hour)
	for _, exp := range []time.Time{short, long} {
		id := exp.Format("150405")
		must(s.CreateAuthRequest(ctx, &storage.AuthRequest{ID: "ar-" + id, ExpiresAt: exp}))
		must(s.CreateSession(ctx, &storage.Session{ID: "s-" + id, Subject: "sub", ExpiresAt: exp}))
		must(s.CreateAccessToken(ctx, &storage.AccessToken{ID: "at-" + id, ExpiresAt: exp}))
		must(s.CreateRefreshToken(ctx, &storage.RefreshToken{ID: "rt-" + id, ExpiresAt: exp}))
		_, err := s.Hit(ctx, "hit-"+id, exp.Sub(now))
		must(err)
		must(s.UseTOTPStep(ctx, "sub-"+id, 1, exp.Sub(now)))
	}
	n, err := s.Sweep(ctx)
	must(err)
	if n != 0 {
		t.Errorf("Sweep before anything expired: deleted %d rows, want 0", n)
	}
	now = now.Add(2 * time.Minute)
	n, err = s.Sweep(ctx)
	must(err)
	if n != 6 {
		t.Errorf("Sweep: deleted %d rows, want 6 (one per table)", n)
	}
	for _, table := range []string{"auth_requests", "sessions", "access_tokens", "refresh_tokens", "hits", "totp_steps"} {
		var left int
		must(s.r.QueryRowContext(ctx, `SELECT COUNT(*) FROM `+table).Scan(&left))
		if left != 1 {
			t.Errorf("%s: %d rows left, want the 1 live row", table, left)
		}
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := s.Sweep(cancelled); err == nil {
		t.Error("Sweep with a cancelled context: got nil error")
	}
}
