package postgres_test

import (
	"context"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/gongpai/gongpai/storage/postgres"
	"github.com/gongpai/gongpai/storage/postgres/pgtest"
	"github.com/gongpai/gongpai/storage/storagetest"
)

// migrationFiles counts the embedded migrations from the source tree.
func migrationFiles(t *testing.T) int {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("migrations", "*.sql"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no migration files found (%v)", err)
	}
	return len(files)
}

func schemaVersion(t *testing.T, s *postgres.Store) (version, rows int) {
	t.Helper()
	err := s.Pool().QueryRow(t.Context(), `SELECT COALESCE(MAX(version), 0), COUNT(*) FROM schema_migrations`).Scan(&version, &rows)
	if err != nil {
		t.Fatalf("read schema_migrations: %v", err)
	}
	return version, rows
}

// TestMigrateConcurrent starts replicas at once on an empty database: each
// Open migrates, the advisory lock queues them, and the schema is applied
// exactly once (a second application would fail on CREATE TABLE).
func TestMigrateConcurrent(t *testing.T) {
	dsn := pgtest.DSN(t)
	want := migrationFiles(t)
	const replicas = 4
	stores := make([]*postgres.Store, replicas)
	errs := make([]error, replicas)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range replicas {
		wg.Go(func() {
			<-start
			stores[i], errs[i] = postgres.Open(t.Context(), dsn, postgres.Options{})
		})
	}
	close(start)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("replica %d: Open: %v", i, err)
		}
		t.Cleanup(func() { stores[i].Close() })
	}
	// And again, concurrently, on stores that are already migrated.
	for i := range replicas {
		wg.Go(func() { errs[i] = stores[i].Migrate(t.Context()) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("replica %d: second Migrate: %v", i, err)
		}
	}
	if v, n := schemaVersion(t, stores[0]); v != want || n != want {
		t.Errorf("schema_migrations: got version %d with %d rows, want %d and %d", v, n, want, want)
	}
}

func TestMigrateRefusesNewerSchema(t *testing.T) {
	dsn := pgtest.DSN(t)
	s := open(t, dsn, postgres.Options{})
	if _, err := s.Pool().Exec(t.Context(), `INSERT INTO schema_migrations (version, name, applied_at) VALUES (9999, 'future.sql', now())`); err != nil {
		t.Fatal(err)
	}
	if s, err := postgres.Open(t.Context(), dsn, postgres.Options{}); err == nil {
		s.Close()
		t.Fatal("Open of a database from a newer binary: got nil error")
	}
}

func TestSweep(t *testing.T) {
	var s *postgres.Store
	storagetest.CheckSweep(t, func(now func() time.Time) storagetest.SweepStore {
		s = open(t, pgtest.DSN(t), postgres.Options{Now: now})
		return s
	}, func(ctx context.Context, table string) (n int, err error) {
		err = s.Pool().QueryRow(ctx, `SELECT COUNT(*) FROM `+table).Scan(&n)
		return n, err
	})
}
