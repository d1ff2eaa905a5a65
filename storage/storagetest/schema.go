package storagetest

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/gongpai/gongpai/storage"
)

// EphemeralTables hold state that expires on its own and is deliberately
// left out of snapshots (ARCHITECTURE §2). Every other table must be
// snapshotted. Both SQL backends name them alike.
var EphemeralTables = []string{"auth_requests", "sessions", "access_tokens", "hits", "totp_steps"}

// UnsnapshottedColumns are durable columns a snapshot leaves out, each with
// its reason.
var UnsnapshottedColumns = map[string]string{
	"audit_events.seq": "internal ordering only; the order is kept and restore renumbers",
}

// SnapshotTable is what a backend's snapshot reads and writes back for one
// kind: the kind (its table) and the columns, in its own order.
type SnapshotTable struct {
	Kind storage.Kind
	Cols []string
}

// CheckSchemaCoverage fails when a migration added a durable table or
// column that the backend's snapshot does not carry, or the snapshot names
// something the schema lacks. schema maps every table of the live database
// (schema_migrations excluded) to its columns; snapshot is the backend's
// table list, which must follow storage.RecordKinds.
func CheckSchemaCoverage(t *testing.T, schema map[string][]string, snapshot []SnapshotTable) {
	t.Helper()
	var kinds []storage.Kind
	byKind := map[storage.Kind][]string{}
	for _, st := range snapshot {
		kinds = append(kinds, st.Kind)
		byKind[st.Kind] = st.Cols
	}
	if !slices.Equal(kinds, storage.RecordKinds) {
		t.Errorf("the snapshot covers %v, want storage.RecordKinds %v in that order", kinds, storage.RecordKinds)
	}
	for name, cols := range schema {
		if slices.Contains(EphemeralTables, name) {
			continue
		}
		snapCols, ok := byKind[storage.Kind(name)]
		if !ok {
			t.Errorf("table %s is neither snapshotted nor listed as ephemeral: backups would lose it", name)
			continue
		}
		for _, col := range cols {
			if _, skip := UnsnapshottedColumns[name+"."+col]; !skip && !slices.Contains(snapCols, col) {
				t.Errorf("column %s.%s is not snapshotted: backups would lose it", name, col)
			}
		}
		for _, col := range snapCols {
			if !slices.Contains(cols, col) {
				t.Errorf("snapshot writes column %s.%s, which the schema lacks", name, col)
			}
		}
	}
	for _, name := range EphemeralTables {
		if _, ok := schema[name]; !ok {
			t.Errorf("ephemeral table %s is not in the schema any more: update EphemeralTables", name)
		}
	}
}

// CheckSnapshotRefusesUnreachableDepartments: departments unreachable from
// a root (two made each other's parent behind UpdateDepartment's back, by
// reparent) make the snapshot fail loudly instead of writing a backup
// without them.
func CheckSnapshotRefusesUnreachableDepartments(t *testing.T, s interface {
	storage.Store
	storage.Snapshotter
}, reparent func(ctx context.Context, id, parentID string) error) {
	t.Helper()
	ctx := t.Context()
	now := time.Now()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(s.CreateEntity(ctx, &storage.LegalEntity{Code: "ACME", Name: "ACME", IDRule: "{seq:3}", CreatedAt: now}))
	for _, d := range []storage.Department{
		{ID: "d-root", Entity: "ACME", Code: "R", Name: "root", CreatedAt: now},
		{ID: "d-a", Entity: "ACME", Code: "A", Name: "a", ParentID: "d-root", CreatedAt: now},
		{ID: "d-b", Entity: "ACME", Code: "B", Name: "b", ParentID: "d-a", CreatedAt: now},
	} {
		must(s.CreateDepartment(ctx, &d))
	}
	n := 0
	must(s.Snapshot(ctx, func(r storage.Record) error {
		if r.RecordKind() == storage.KindDepartment {
			n++
		}
		return nil
	}))
	if n != 3 {
		t.Fatalf("snapshot of a sound tree holds %d departments, want 3", n)
	}
	must(reparent(ctx, "d-a", "d-b"))
	err := s.Snapshot(ctx, func(storage.Record) error { return nil })
	if !errors.Is(err, storage.ErrIncompleteSnapshot) {
		t.Fatalf("Snapshot with a parent cycle: %v, want ErrIncompleteSnapshot", err)
	}
}
