package postgres_test

import (
	"testing"
	"time"

	"github.com/gongpai/gongpai/storage"
	"github.com/gongpai/gongpai/storage/postgres"
	"github.com/gongpai/gongpai/storage/postgres/pgtest"
	"github.com/gongpai/gongpai/storage/storagetest"
)

// TestMain lets pgtest stop its throwaway server after the last test.
func TestMain(m *testing.M) { pgtest.Main(m) }

func TestConformance(t *testing.T) {
	storagetest.Run(t, func(t *testing.T, now func() time.Time) storage.Store {
		return open(t, pgtest.DSN(t), postgres.Options{Now: now})
	})
}

// open opens a store on dsn and closes it at cleanup.
func open(t *testing.T, dsn string, o postgres.Options) *postgres.Store {
	t.Helper()
	s, err := postgres.Open(t.Context(), dsn, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}
