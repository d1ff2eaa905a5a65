package postgres

import (
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/gongpai/gongpai/storage/postgres/pgtest"
	"github.com/gongpai/gongpai/storage/storagetest"
)

// TestSnapshotCoversSchema fails when a migration adds a durable table or
// column that snapshotTables does not read and write back.
func TestSnapshotCoversSchema(t *testing.T) {
	s, err := Open(t.Context(), pgtest.DSN(t), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := t.Context()

	rows, err := s.pool.Query(ctx, `SELECT table_name::text FROM information_schema.tables
		WHERE table_schema = current_schema() AND table_type = 'BASE TABLE' AND table_name <> 'schema_migrations'
		ORDER BY 1`)
	tables, err := collect(rows, err, func(r pgx.Row, name *string) error { return r.Scan(name) })
	if err != nil {
		t.Fatal(err)
	}
	schema := map[string][]string{}
	for _, name := range tables {
		rows, err := s.pool.Query(ctx, `SELECT column_name::text FROM information_schema.columns
			WHERE table_schema = current_schema() AND table_name = $1 ORDER BY ordinal_position`, name)
		if schema[name], err = collect(rows, err, func(r pgx.Row, col *string) error { return r.Scan(col) }); err != nil {
			t.Fatal(err)
		}
	}
	var snap []storagetest.SnapshotTable
	for _, st := range snapshotTables {
		snap = append(snap, storagetest.SnapshotTable{Kind: st.kind, Cols: st.cols})
	}
	storagetest.CheckSchemaCoverage(t, schema, snap)
}
