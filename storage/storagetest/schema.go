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

// SweepStore is a backend that keeps expired rows until swept.
type SweepStore interface {
	storage.Store
	Sweep(ctx context.Context) (int64, error)
}

// CheckSweep: Sweep deletes exactly the expired rows of every table that
// expires (one of two rows in each), nothing before they expire, and
// honours a cancelled context. open gets the fake clock the check moves;
// rows counts a table's rows with the backend's own SQL.
func CheckSweep(t *testing.T, open func(now func() time.Time) SweepStore, rows func(ctx context.Context, table string) (int, error)) {
	t.Helper()
	now := time.Date(2025, 3, 14, 9, 0, 0, 0, time.UTC)
	s := open(func() time.Time { return now })
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
		left, err := rows(ctx, table)
		must(err)
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
