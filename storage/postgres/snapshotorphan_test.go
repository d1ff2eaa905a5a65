package postgres

import (
	"errors"
	"testing"
	"time"

	"github.com/gongpai/gongpai/storage"
	"github.com/gongpai/gongpai/storage/postgres/pgtest"
)

// A department unreachable from a root (here: two departments made each
// other's parent behind UpdateDepartment's back) makes the snapshot fail
// loudly instead of writing a backup without them.
func TestSnapshotRefusesUnreachableDepartments(t *testing.T) {
	ctx := t.Context()
	s, err := Open(ctx, pgtest.DSN(t), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
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
	count := func() int {
		n := 0
		err := s.Snapshot(ctx, func(r storage.Record) error {
			if r.RecordKind() == storage.KindDepartment {
				n++
			}
			return nil
		})
		if err != nil {
			t.Fatalf("Snapshot of a sound tree: %v", err)
		}
		return n
	}
	if n := count(); n != 3 {
		t.Fatalf("snapshot holds %d departments, want 3", n)
	}
	_, err = s.pool.Exec(ctx, `UPDATE departments SET parent_id = 'd-b' WHERE id = 'd-a'`)
	must(err)
	err = s.Snapshot(ctx, func(storage.Record) error { return nil })
	if !errors.Is(err, storage.ErrIncompleteSnapshot) {
		t.Fatalf("Snapshot with a parent cycle: %v, want ErrIncompleteSnapshot", err)
	}
	t.Log(err)
}
