package sqlite

import (
	"path/filepath"
	"testing"

	"github.com/gongpai/gongpai/storage/storagetest"
)

// TestSnapshotCoversSchema fails when a migration adds a durable table or
// column that snapshotTables does not read and write back.
func TestSnapshotCoversSchema(t *testing.T) {
	s, err := Open(t.Context(), filepath.Join(t.TempDir(), "g.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := t.Context()

	rows, err := s.r.QueryContext(ctx, `SELECT name FROM sqlite_schema WHERE type = 'table'
		AND name NOT LIKE 'sqlite_%' AND name <> 'schema_migrations' ORDER BY name`)
	tables, err := collect(rows, err, func(r rowScanner, name *string) error { return r.Scan(name) })
	if err != nil {
		t.Fatal(err)
	}
	schema := map[string][]string{}
	for _, name := range tables {
		rows, err := s.r.QueryContext(ctx, `SELECT name FROM pragma_table_info(?) ORDER BY cid`, name)
		if schema[name], err = collect(rows, err, func(r rowScanner, col *string) error { return r.Scan(col) }); err != nil {
			t.Fatal(err)
		}
	}
	var snap []storagetest.SnapshotTable
	for _, st := range snapshotTables {
		snap = append(snap, storagetest.SnapshotTable{Kind: st.kind, Cols: st.cols})
	}
	storagetest.CheckSchemaCoverage(t, schema, snap)
}
