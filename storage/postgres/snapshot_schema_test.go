package postgres

import (
	"slices"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/gongpai/gongpai/storage"
	"github.com/gongpai/gongpai/storage/postgres/pgtest"
)

// ephemeralTables hold state that expires on its own and is deliberately
// left out of snapshots (ARCHITECTURE §2). Every other table of the schema
// must be snapshotted.
var ephemeralTables = []string{"auth_requests", "sessions", "access_tokens", "hits", "totp_steps"}

// unsnapshottedColumns are durable columns a snapshot leaves out, each
// with its reason.
var unsnapshottedColumns = map[string]string{
	"audit_events.seq": "internal ordering only; the order is kept and the identity renumbers",
}

// TestSnapshotCoversSchema fails when a migration adds a durable table or
// column that snapshotTables does not read and write back.
func TestSnapshotCoversSchema(t *testing.T) {
	s, err := Open(t.Context(), pgtest.DSN(t), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := t.Context()

	var kinds []storage.Kind
	for _, st := range snapshotTables {
		kinds = append(kinds, st.kind)
	}
	if !slices.Equal(kinds, storage.RecordKinds) {
		t.Errorf("snapshotTables cover %v, want storage.RecordKinds %v in that order", kinds, storage.RecordKinds)
	}

	rows, err := s.pool.Query(ctx, `SELECT table_name::text FROM information_schema.tables
		WHERE table_schema = current_schema() AND table_type = 'BASE TABLE' AND table_name <> 'schema_migrations'
		ORDER BY 1`)
	tables, err := collect(rows, err, func(r pgx.Row, name *string) error { return r.Scan(name) })
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range tables {
		if slices.Contains(ephemeralTables, name) {
			continue
		}
		st, ok := snapshotTableOf[storage.Kind(name)]
		if !ok {
			t.Errorf("table %s is neither snapshotted (snapshotTables) nor listed as ephemeral: backups would lose it", name)
			continue
		}
		rows, err := s.pool.Query(ctx, `SELECT column_name::text FROM information_schema.columns
			WHERE table_schema = current_schema() AND table_name = $1 ORDER BY ordinal_position`, name)
		cols, err := collect(rows, err, func(r pgx.Row, col *string) error { return r.Scan(col) })
		if err != nil {
			t.Fatal(err)
		}
		for _, col := range cols {
			if _, skip := unsnapshottedColumns[name+"."+col]; !skip && !slices.Contains(st.cols, col) {
				t.Errorf("column %s.%s is not snapshotted: backups would lose it", name, col)
			}
		}
		for _, col := range st.cols {
			if !slices.Contains(cols, col) {
				t.Errorf("snapshot writes column %s.%s, which the schema lacks", name, col)
			}
		}
	}
	for _, name := range ephemeralTables {
		if !slices.Contains(tables, name) {
			t.Errorf("ephemeral table %s is not in the schema any more: update ephemeralTables", name)
		}
	}
}
