package storagetest

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"reflect"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gongpai/gongpai/storage"
)

// SnapshotStore is what the snapshot subtests and Populate need.
type SnapshotStore interface {
	storage.Durable
	storage.DirectoryAdmin
	storage.Snapshotter
	storage.Restorer
}

type snapshotTest struct {
	name string
	run  func(t *testing.T, open func() SnapshotStore, c *clock)
}

var snapshotTests = []snapshotTest{
	{"RoundTrip", testSnapshotRoundTrip},
	{"RestoredStoreCarriesOn", testSnapshotCarriesOn},
	{"RestoreRefusesNonEmpty", testRestoreRefusesNonEmpty},
	{"RestoreSourceErrorWritesNothing", testRestoreSourceError},
	{"RestoreConflictWritesNothing", testRestoreConflict},
	{"SnapshotEmitError", testSnapshotEmitError},
	{"SnapshotCancelled", testSnapshotCancelled},
	{"SnapshotConsistentUnderWrites", testSnapshotConsistent},
}

// RunSnapshot runs the backup/restore subtests (storage.Snapshotter and
// storage.Restorer) against stores open returns. A subtest may open
// several stores: a source and restore targets, each fresh and empty.
func RunSnapshot(t *testing.T, open func(t *testing.T, now func() time.Time) storage.Store) {
	t.Helper()
	t.Run("Snapshot", func(t *testing.T) {
		for _, tt := range snapshotTests {
			t.Run(tt.name, func(t *testing.T) {
				c := newClock()
				openOne := func() SnapshotStore {
					s, ok := open(t, c.Now).(SnapshotStore)
					if !ok {
						t.Fatal("BACKEND DOES NOT IMPLEMENT storage.Snapshotter, storage.Restorer and storage.DirectoryAdmin: it cannot be backed up or restored")
					}
					return s
				}
				withTimeout(t, func() { tt.run(t, openOne, c) })
			})
		}
	})
}

// Fixture IDs. The child department's ID sorts before its parent's, and
// the grandchild was created as a root and moved under it later, so a
// snapshot listing departments by ID or by creation time breaks restore.
const (
	snapRoot       = "dep-9-root"
	snapChild      = "dep-1-child"
	snapGrandchild = "dep-5-grandchild"
	snapBeta       = "dep-3-beta"

	// SeqKey is the employee-ID sequence Populate draws from; its
	// generated IDs are SeqPrefix plus three digits.
	SeqKey    = "ACME/HR012025"
	SeqPrefix = "HR012025"
)

// Populate writes at least one record of every durable kind into s, with
// every field of every record type set somewhere, through the ordinary
// Durable and DirectoryAdmin methods (so the rows are what gongpai would
// write). now anchors the times; refresh tokens expire a day after it.
// CheckCoverage proves the result covers every kind and field.
func Populate(t testing.TB, s interface {
	storage.Durable
	storage.DirectoryAdmin
}, now time.Time) {
	t.Helper()
	ctx := context.Background()
	at := func(d time.Duration) time.Time { return now.Add(d).In(shanghai) }
	mustTB := func(err error, what string) {
		t.Helper()
		if err != nil {
			t.Fatalf("Populate: %s: %v", what, err)
		}
	}

	for _, e := range []*storage.LegalEntity{
		{Code: "ACME", Name: "ACME 集团", IDRule: "{dept}{yyyy}{seq:3}", CreatedAt: at(-100 * time.Hour)},
		{Code: "BETA", Name: "Beta Ltd", IDRule: "B{seq:5}", CreatedAt: at(-99 * time.Hour)},
	} {
		mustTB(s.CreateEntity(ctx, e), "CreateEntity "+e.Code)
	}
	for _, d := range []*storage.Department{
		{ID: snapRoot, Entity: "ACME", Code: "HR01", Name: "人力资源", CreatedAt: at(-90 * time.Hour)},
		{ID: snapChild, Entity: "ACME", Code: "ENG", Name: "Engineering", ParentID: snapRoot, CreatedAt: at(-89 * time.Hour)},
		{ID: snapGrandchild, Entity: "ACME", Code: "FIN01", Name: "Finance", CreatedAt: at(-88 * time.Hour)},
		{ID: snapBeta, Entity: "BETA", Code: "OPS", Name: "Operations", CreatedAt: at(-87 * time.Hour)},
	} {
		mustTB(s.CreateDepartment(ctx, d), "CreateDepartment "+d.Code)
	}
	mustTB(s.UpdateDepartment(ctx, &storage.Department{ID: snapGrandchild, Entity: "ACME", Code: "FIN01", Name: "Finance",
		ParentID: snapChild}), "UpdateDepartment FIN01 under ENG")

	person := func(sub, id, dept string) *storage.Employee {
		return &storage.Employee{
			Subject: sub, EmployeeID: id, Entity: "ACME", DepartmentID: dept, Name: "张伟 " + sub,
			Email: sub + "@acme.example", Title: "Engineer", Status: storage.StatusActive,
			PasswordHash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNo" + sub,
			Version:      1, CreatedAt: at(-80 * time.Hour), UpdatedAt: at(-80 * time.Hour),
		}
	}
	// An explicit ID with every field set, then updated (version 2).
	e1 := person("sub-e1", "ACME-0001", snapRoot)
	e1.ExternalID = "hris-0001"
	e1.TOTPSecret = []byte("v1.0a1b2c3d.sealed\x00totp\xffseed")
	e1.PasswordChangeRequired = true
	mustTB(s.CreateEmployee(ctx, e1, "", nil), "CreateEmployee e1")
	e1.Status = storage.StatusFrozen
	e1.UpdatedAt = at(-70 * time.Hour)
	mustTB(s.UpdateEmployee(ctx, e1), "UpdateEmployee e1")
	// Generated IDs: the sequence row.
	seq := func(n int64) (string, error) { return fmt.Sprintf("%s%03d", SeqPrefix, n), nil }
	mustTB(s.CreateEmployee(ctx, person("sub-e2", "", snapChild), SeqKey, seq), "CreateEmployee e2")
	// A batch create with grants and an audit event.
	e3 := person("sub-e3", "", snapGrandchild)
	mustTB(s.WriteEmployees(ctx, []storage.EmployeeWrite{{
		Employee: e3, Create: true, SeqKey: SeqKey, MakeID: seq,
		Grants: []storage.RoleGrant{{Role: "manager", DepartmentID: snapChild, CreatedAt: at(-60 * time.Hour)}},
		Audit: &storage.AuditEvent{ID: "aud-2-create", At: at(-60 * time.Hour), Actor: "cli", Action: "employee.create",
			Reason: "onboarding", Detail: `{"source":"populate"}`},
	}}), "WriteEmployees create e3")
	// A transfer to another entity: the old ID is retired.
	e4 := person("sub-e4", "ACME-0004", snapRoot)
	mustTB(s.CreateEmployee(ctx, e4, "", nil), "CreateEmployee e4")
	e4.Entity, e4.DepartmentID, e4.EmployeeID, e4.UpdatedAt = "BETA", snapBeta, "B00001", at(-50*time.Hour)
	mustTB(s.WriteEmployees(ctx, []storage.EmployeeWrite{{
		Employee: e4, ReissueID: true, RetireReason: "transfer to BETA",
		Audit: &storage.AuditEvent{ID: "aud-3-transfer", At: at(-50 * time.Hour), Actor: "employee:ACME-0001",
			Action: "employee.transfer", Reason: "reorganisation"},
	}}), "WriteEmployees transfer e4")
	// Departed, in no department.
	e5 := person("sub-e5", "ACME-0005", "")
	e5.Status = storage.StatusDeparted
	mustTB(s.CreateEmployee(ctx, e5, "", nil), "CreateEmployee e5")

	for _, g := range []*storage.RoleGrant{
		{Subject: "sub-e1", Role: "hr", CreatedAt: at(-40 * time.Hour)},
		{Subject: "sub-e1", Role: "manager", DepartmentID: snapRoot, CreatedAt: at(-40 * time.Hour)},
	} {
		mustTB(s.GrantRole(ctx, g), "GrantRole "+g.Role)
	}

	full := &storage.Client{
		ID: "oa", Name: "OA 办公", SecretHash: []byte("0123456789abcdef0123456789abcdef"),
		RedirectURIs:           []string{"https://oa.acme.example/callback", "https://oa.acme.example/cb2"},
		PostLogoutRedirectURIs: []string{"https://oa.acme.example/"},
		GrantTypes:             []string{"authorization_code", "refresh_token", "client_credentials"},
		Scopes:                 []string{"openid", "profile", "employee", "roles", "offline_access"},
		AccessTokenFormat:      storage.AccessTokenJWT, RequireMFA: true,
		AllowedDepartments: []string{snapRoot}, AllowedRoles: []string{"admin", "manager"},
		BackchannelLogoutURI: "https://oa.acme.example/bcl", ServiceRoles: []string{"hr", "scim"},
		AccessTokenTTL: 5 * time.Minute, IDTokenTTL: time.Hour, RefreshTokenTTL: 720 * time.Hour,
		CreatedAt: at(-30 * time.Hour), IDTokenSignedResponseAlg: "ES256", VisibleRoles: []string{"employee", "oa:*"},
	}
	// Public: no secret; empty lists kept apart from nil ones.
	spa := &storage.Client{
		ID: "spa", Name: "SPA", Public: true, RedirectURIs: []string{"https://spa.acme.example/"},
		PostLogoutRedirectURIs: []string{}, GrantTypes: []string{"authorization_code"}, Scopes: nil,
		AccessTokenFormat: storage.AccessTokenOpaque, AllowedDepartments: []string{}, CreatedAt: at(-29 * time.Hour),
	}
	for _, c := range []*storage.Client{full, spa} {
		mustTB(s.CreateClient(ctx, c), "CreateClient "+c.ID)
	}

	for _, k := range []*storage.SigningKey{
		{ID: "kid-1-retired", Algorithm: "RS256", State: storage.KeyRetired, PrivateKey: []byte("v1.0a1b2c3d.sealed-1"),
			PublicKey: []byte("pkix-1"), CreatedAt: at(-20 * time.Hour), ActivatesAt: at(-19 * time.Hour),
			RetiresAt: at(-2 * time.Hour), Version: 3},
		{ID: "kid-2-active", Algorithm: "ES256", State: storage.KeyActive, PrivateKey: []byte("v1.0a1b2c3d.sealed-2"),
			PublicKey: []byte("pkix-2"), CreatedAt: at(-3 * time.Hour), ActivatesAt: at(-2 * time.Hour), Version: 2},
		{ID: "kid-0-removed", Algorithm: "EdDSA", State: storage.KeyRemoved, PublicKey: []byte("pkix-0"),
			CreatedAt: at(-30 * time.Hour), Version: 4},
	} {
		mustTB(s.CreateSigningKey(ctx, k), "CreateSigningKey "+k.ID)
	}
	for i, a := range []string{"created", "activated", "retired"} {
		mustTB(s.RecordKeyEvent(ctx, &storage.KeyEvent{At: at(time.Duration(i-20) * time.Hour), KID: "kid-1-retired",
			Action: a, Actor: "system:rotation", Reason: "schedule " + a}), "RecordKeyEvent "+a)
	}
	// Audit IDs out of time order: the log keeps insertion order.
	for _, ev := range []*storage.AuditEvent{
		{ID: "aud-9-first", At: at(-10 * time.Hour), Actor: "cli", Action: "client.create", Target: "oa", Reason: "new app"},
		{ID: "aud-1-last", At: at(-9 * time.Hour), Actor: "client:hris", Action: "employee.freeze", Target: "ACME-0001",
			Reason: "investigation", Detail: "free text"},
	} {
		mustTB(s.AppendAudit(ctx, ev), "AppendAudit "+ev.ID)
	}

	rt := &storage.RefreshToken{
		ID: "rt-1", FamilyID: "fam-1", ClientID: "oa", Subject: "sub-e1",
		Scopes: []string{"openid", "offline_access"}, Audience: []string{"oa"},
		AuthTime: at(-time.Hour), AMR: []string{"pwd", "otp"}, ACR: "urn:gongpai:mfa", SessionID: "sess-1",
		CreatedAt: at(-time.Hour), ExpiresAt: at(24 * time.Hour),
	}
	mustTB(s.CreateRefreshToken(ctx, rt), "CreateRefreshToken rt-1")
	next := *rt
	next.ID, next.CreatedAt = "rt-2", at(-30*time.Minute)
	mustTB(s.RotateRefreshToken(ctx, "rt-1", &next), "RotateRefreshToken rt-1")
	other := &storage.RefreshToken{ID: "rt-3", FamilyID: "fam-2", ClientID: "spa", Subject: "sub-e2",
		Scopes: []string{}, CreatedAt: at(-time.Hour), ExpiresAt: at(24 * time.Hour)}
	mustTB(s.CreateRefreshToken(ctx, other), "CreateRefreshToken rt-3")
	mustTB(s.RevokeRefreshFamily(ctx, "fam-2"), "RevokeRefreshFamily fam-2")

	mustTB(s.PutSetting(ctx, "demo.seeded", "2025-03-14"), "PutSetting")
	mustTB(s.PutSetting(ctx, "empty", ""), "PutSetting empty")
}

// Collect takes a snapshot of s and returns its records.
func Collect(t testing.TB, s storage.Snapshotter) []storage.Record {
	t.Helper()
	var recs []storage.Record
	if err := s.Snapshot(context.Background(), func(r storage.Record) error {
		recs = append(recs, r)
		return nil
	}); err != nil {
		t.Fatalf("Snapshot: %v", err)
	}
	return recs
}

// Records yields recs, as Restore takes them.
func Records(recs []storage.Record) iter.Seq2[storage.Record, error] {
	return func(yield func(storage.Record, error) bool) {
		for _, r := range recs {
			if !yield(r, nil) {
				return
			}
		}
	}
}

// WantSameRecords reports every difference between two snapshots, field
// by field (times as instants, in UTC; nil and empty slices apart).
func WantSameRecords(t testing.TB, what string, got, want []storage.Record) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%s: got %d records %v, want %d %v", what, len(got), Count(got), len(want), Count(want))
		return
	}
	var d []string
	for i := range got {
		compare(reflect.ValueOf(got[i]), reflect.ValueOf(want[i]), fmt.Sprintf("%s[%d]", what, i), &d)
	}
	for _, line := range d {
		t.Error(line)
	}
}

// Count counts records per kind.
func Count(recs []storage.Record) map[storage.Kind]int {
	n := map[storage.Kind]int{}
	for _, r := range recs {
		n[r.RecordKind()]++
	}
	return n
}

// CheckCoverage fails t unless recs hold a record of every kind in
// storage.RecordKinds and, for every field of every record type, a record
// where that field is not its zero value. A field added to a domain type
// that a backend's snapshot does not carry shows up here as never set
// (after Populate learns to set it).
func CheckCoverage(t testing.TB, recs []storage.Record) {
	t.Helper()
	set := map[storage.Kind]map[string]bool{}
	types := map[storage.Kind]reflect.Type{}
	for _, r := range recs {
		v := reflect.ValueOf(r).Elem()
		k := r.RecordKind()
		types[k] = v.Type()
		if set[k] == nil {
			set[k] = map[string]bool{}
		}
		for i := range v.NumField() {
			if !v.Field(i).IsZero() {
				set[k][v.Type().Field(i).Name] = true
			}
		}
	}
	for _, k := range storage.RecordKinds {
		typ, ok := types[k]
		if !ok {
			t.Errorf("snapshot has no record of kind %s", k)
			continue
		}
		for i := range typ.NumField() {
			if f := typ.Field(i).Name; !set[k][f] {
				t.Errorf("snapshot: no %s record has %s.%s set", k, typ.Name(), f)
			}
		}
	}
}

// CheckOrder fails t unless recs come kind by kind in RecordKinds order
// with every department after its parent.
func CheckOrder(t testing.TB, recs []storage.Record) {
	t.Helper()
	last := -1
	seen := map[string]bool{}
	for i, r := range recs {
		k := slices.Index(storage.RecordKinds, r.RecordKind())
		if k < last {
			t.Errorf("record %d: %s after %s", i, r.RecordKind(), storage.RecordKinds[last])
		}
		last = k
		if d, ok := r.(*storage.Department); ok {
			if d.ParentID != "" && !seen[d.ParentID] {
				t.Errorf("record %d: department %s comes before its parent %s", i, d.ID, d.ParentID)
			}
			seen[d.ID] = true
		}
	}
}

func testSnapshotRoundTrip(t *testing.T, open func() SnapshotStore, c *clock) {
	src := open()
	Populate(t, src, c.Now())
	want := Collect(t, src)
	CheckCoverage(t, want)
	CheckOrder(t, want)
	// A snapshot changes nothing and is repeatable.
	WantSameRecords(t, "second snapshot", Collect(t, src), want)

	dst := open()
	must(t, dst.Restore(t.Context(), Records(want)), "Restore")
	WantSameRecords(t, "snapshot of the restored store", Collect(t, dst), want)
}

func testSnapshotCarriesOn(t *testing.T, open func() SnapshotStore, c *clock) {
	ctx := t.Context()
	src := open()
	Populate(t, src, c.Now())
	dst := open()
	must(t, dst.Restore(ctx, Records(Collect(t, src))), "Restore")

	// Sign-in data reads back through the ordinary methods.
	e, err := dst.EmployeeByEmployeeID(ctx, "acme-0001")
	must(t, err, "EmployeeByEmployeeID")
	want, err := src.Employee(ctx, "sub-e1")
	must(t, err, "Employee in the source")
	wantEqual(t, "restored employee", e, want)
	_, err = dst.RefreshToken(ctx, "rt-2")
	must(t, err, "RefreshToken rt-2")
	gotClient, err := dst.Client(ctx, "oa")
	must(t, err, "Client")
	wantClient, _ := src.Client(ctx, "oa")
	wantEqual(t, "restored client", gotClient, wantClient)

	// Generated IDs continue after the last one, gap-free.
	next := employee(c, "sub-new", "")
	next.DepartmentID = snapRoot
	must(t, dst.CreateEmployee(ctx, next, SeqKey, func(n int64) (string, error) { return fmt.Sprintf("%s%03d", SeqPrefix, n), nil }),
		"CreateEmployee after restore")
	if want := SeqPrefix + "003"; next.EmployeeID != want {
		t.Errorf("first generated ID after restore: got %s, want %s", next.EmployeeID, want)
	}
	// A retired ID stays retired.
	wantErr(t, dst.CreateEmployee(ctx, employee(c, "sub-x", "ACME-0004"), "", nil), storage.ErrConflict,
		"CreateEmployee with the retired ID")
	// Key events number on after the restored ones.
	ev := &storage.KeyEvent{At: c.Now(), KID: "kid-2-active", Action: "revoked", Actor: "cli:test"}
	must(t, dst.RecordKeyEvent(ctx, ev), "RecordKeyEvent after restore")
	if ev.Seq <= 3 {
		t.Errorf("key event after restore got seq %d, want > 3", ev.Seq)
	}
	// The audit log keeps its order, and new events go on top.
	must(t, dst.AppendAudit(ctx, &storage.AuditEvent{ID: "aud-new", At: c.Now(), Actor: "cli", Action: "x"}), "AppendAudit")
	log, err := dst.ListAudit(ctx, storage.AuditQuery{})
	must(t, err, "ListAudit")
	var ids []string
	for _, ev := range log {
		ids = append(ids, ev.ID)
	}
	if want := []string{"aud-new", "aud-1-last", "aud-9-first", "aud-3-transfer", "aud-2-create"}; !slices.Equal(ids, want) {
		t.Errorf("audit log after restore, newest first: got %v, want %v", ids, want)
	}
	page, err := dst.ListAudit(ctx, storage.AuditQuery{Before: "aud-9-first", Limit: 1})
	must(t, err, "ListAudit before")
	if len(page) != 1 || page[0].ID != "aud-3-transfer" {
		t.Errorf("audit page before aud-9-first: got %v, want aud-3-transfer", page)
	}
}

func testRestoreRefusesNonEmpty(t *testing.T, open func() SnapshotStore, c *clock) {
	ctx := t.Context()
	src := open()
	Populate(t, src, c.Now())
	recs := Collect(t, src)

	tests := []struct {
		name string
		seed func(s SnapshotStore) error
	}{
		{"an entity", func(s SnapshotStore) error { return s.CreateEntity(ctx, entity(c, "OTHER")) }},
		{"only a setting", func(s SnapshotStore) error { return s.PutSetting(ctx, "demo.seeded", "yes") }},
		{"only a key event", func(s SnapshotStore) error {
			return s.RecordKeyEvent(ctx, &storage.KeyEvent{At: c.Now(), KID: "k", Action: "created", Actor: "x"})
		}},
		{"only a signing key", func(s SnapshotStore) error {
			return s.CreateSigningKey(ctx, signingKey(c, "kid-x", storage.KeyActive))
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dst := open()
			must(t, tt.seed(dst), "seed")
			before := Collect(t, dst)
			err := dst.Restore(ctx, Records(recs))
			wantErr(t, err, storage.ErrNotEmpty, "Restore into a non-empty store")
			WantSameRecords(t, "store after the refused restore", Collect(t, dst), before)
		})
	}
}

func testRestoreSourceError(t *testing.T, open func() SnapshotStore, c *clock) {
	ctx := t.Context()
	src := open()
	Populate(t, src, c.Now())
	recs := Collect(t, src)
	errCorrupt := errors.New("backup file is corrupt")
	dst := open()
	// Most records first (so plenty was written inside the transaction),
	// then the source fails.
	halfThenFail := func(yield func(storage.Record, error) bool) {
		for _, r := range recs[:len(recs)-2] {
			if !yield(r, nil) {
				return
			}
		}
		yield(nil, errCorrupt)
	}
	err := dst.Restore(ctx, halfThenFail)
	wantErr(t, err, errCorrupt, "Restore from a failing source")
	if got := Collect(t, dst); len(got) != 0 {
		t.Errorf("a failed restore left %d records behind: %v", len(got), Count(got))
	}
	// The store is still usable, and still empty enough to restore into.
	must(t, dst.Restore(ctx, Records(recs)), "Restore after a failed one")
	WantSameRecords(t, "store after the second restore", Collect(t, dst), recs)
}

func testRestoreConflict(t *testing.T, open func() SnapshotStore, c *clock) {
	ctx := t.Context()
	src := open()
	Populate(t, src, c.Now())
	recs := Collect(t, src)
	// An employee twice: the second insert clashes late in the stream.
	var dup []storage.Record
	for _, r := range recs {
		dup = append(dup, r)
		if e, ok := r.(*storage.Employee); ok && e.Subject == "sub-e5" {
			dup = append(dup, r)
		}
	}
	dst := open()
	wantErr(t, dst.Restore(ctx, Records(dup)), storage.ErrConflict, "Restore with a duplicate employee")
	if got := Collect(t, dst); len(got) != 0 {
		t.Errorf("a failed restore left %d records behind: %v", len(got), Count(got))
	}
}

func testSnapshotEmitError(t *testing.T, open func() SnapshotStore, c *clock) {
	s := open()
	Populate(t, s, c.Now())
	errFull := errors.New("disk full")
	n := 0
	err := s.Snapshot(t.Context(), func(storage.Record) error {
		if n++; n == 5 {
			return errFull
		}
		return nil
	})
	wantErr(t, err, errFull, "Snapshot whose emit fails")
	if n != 5 {
		t.Errorf("emit called %d times, want 5 (the snapshot must stop at the first error)", n)
	}
}

func testSnapshotCancelled(t *testing.T, open func() SnapshotStore, c *clock) {
	s := open()
	Populate(t, s, c.Now())
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	err := s.Snapshot(ctx, func(storage.Record) error { return nil })
	wantErr(t, err, context.Canceled, "Snapshot with a cancelled context")
}

// testSnapshotConsistent takes snapshots while writers keep onboarding
// employees. Each onboarding writes an employee, its role grant, its
// sequence number and an audit event in one transaction; a snapshot that
// read its tables at different moments would see them disagree.
func testSnapshotConsistent(t *testing.T, open func() SnapshotStore, c *clock) {
	ctx := t.Context()
	s := open()
	Populate(t, s, c.Now())
	base := Collect(t, s)
	baseCount := Count(base)

	var stop atomic.Bool
	var written atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for w := range 3 {
		wg.Go(func() {
			for i := 0; !stop.Load(); i++ {
				sub := fmt.Sprintf("sub-w%d-%04d", w, i)
				e := employee(c, sub, "")
				e.DepartmentID = snapRoot
				err := s.WriteEmployees(ctx, []storage.EmployeeWrite{{
					Employee: e, Create: true, SeqKey: "ACME/LOAD",
					MakeID: func(n int64) (string, error) { return fmt.Sprintf("LOAD%06d", n), nil },
					Grants: []storage.RoleGrant{{Role: "staff", CreatedAt: c.Now()}},
					Audit:  &storage.AuditEvent{ID: "aud-" + sub, At: c.Now(), Actor: "cli", Action: "load.create"},
				}})
				if err != nil {
					errs <- fmt.Errorf("writer %d: %w", w, err)
					return
				}
				written.Add(1)
			}
		})
	}

	for round := range 5 {
		recs := Collect(t, s)
		n := Count(recs)
		added := n[storage.KindEmployee] - baseCount[storage.KindEmployee]
		subjects := map[string]bool{}
		var seqValue int64
		for _, r := range recs {
			switch r := r.(type) {
			case *storage.Employee:
				subjects[r.Subject] = true
			case *storage.Sequence:
				if r.Key == "ACME/LOAD" {
					seqValue = r.Value
				}
			}
		}
		for _, r := range recs {
			if g, ok := r.(*storage.RoleGrant); ok && !subjects[g.Subject] {
				t.Errorf("round %d: role grant of %s, who is not in the snapshot", round, g.Subject)
			}
		}
		if got := n[storage.KindRoleGrant] - baseCount[storage.KindRoleGrant]; got != added {
			t.Errorf("round %d: %d new employees but %d new role grants", round, added, got)
		}
		if got := n[storage.KindAuditEvent] - baseCount[storage.KindAuditEvent]; got != added {
			t.Errorf("round %d: %d new employees but %d new audit events", round, added, got)
		}
		if seqValue != int64(added) {
			t.Errorf("round %d: %d new employees but sequence ACME/LOAD at %d", round, added, seqValue)
		}
		// Let some writes land between rounds.
		for target := written.Load() + 3; written.Load() < target && len(errs) == 0; {
			time.Sleep(time.Millisecond)
		}
	}
	stop.Store(true)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if written.Load() == 0 {
		t.Error("no onboarding completed while snapshots ran")
	}
}
