package postgres_test

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/gongpai/gongpai/storage"
	"github.com/gongpai/gongpai/storage/postgres"
	"github.com/gongpai/gongpai/storage/postgres/pgtest"
	"github.com/gongpai/gongpai/storage/sqlite"
	"github.com/gongpai/gongpai/storage/storagetest"
)

func TestSnapshot(t *testing.T) {
	storagetest.RunSnapshot(t, func(t *testing.T, now func() time.Time) storage.Store {
		return open(t, pgtest.DSN(t), postgres.Options{Now: now})
	})
}

// TestSnapshotAcrossBackends moves one directory sqlite → postgres →
// sqlite: every snapshot along the way is the same, record for record, so
// migrate-store loses nothing in either direction.
func TestSnapshotAcrossBackends(t *testing.T) {
	anchor := time.Date(2025, 3, 14, 9, 26, 53, 589793238, time.UTC)
	now := func() time.Time { return anchor }
	openSQLite := func() *sqlite.Store {
		s, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "g.db"), sqlite.Options{Now: now})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
	first := openSQLite()
	storagetest.Populate(t, first, anchor)
	want := storagetest.Collect(t, first)
	storagetest.CheckCoverage(t, want)

	pg := open(t, pgtest.DSN(t), postgres.Options{Now: now})
	if err := pg.Restore(t.Context(), storagetest.Records(want)); err != nil {
		t.Fatalf("restore into postgres: %v", err)
	}
	viaPG := storagetest.Collect(t, pg)
	storagetest.WantSameRecords(t, "postgres snapshot", viaPG, want)

	last := openSQLite()
	if err := last.Restore(t.Context(), storagetest.Records(viaPG)); err != nil {
		t.Fatalf("restore back into sqlite: %v", err)
	}
	storagetest.WantSameRecords(t, "sqlite snapshot after the round trip", storagetest.Collect(t, last), want)
}
