package sqlite

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/gongpai/gongpai/storage/storagetest"
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
	var s *Store
	storagetest.CheckSweep(t, func(now func() time.Time) storagetest.SweepStore {
		var err error
		if s, err = Open(t.Context(), filepath.Join(t.TempDir(), "g.db"), Options{Now: now}); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}, func(ctx context.Context, table string) (n int, err error) {
		err = s.r.QueryRowContext(ctx, `SELECT COUNT(*) FROM `+table).Scan(&n)
		return n, err
	})
}
