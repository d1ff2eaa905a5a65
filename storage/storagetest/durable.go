package storagetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gongpai/gongpai/storage"
)

var durableTests = []durableTest{
	{"EntityRoundTrip", testEntityRoundTrip},
	{"EntityCanonicalCode", testEntityCanonicalCode},
	{"EntityDuplicate", testEntityDuplicate},
	{"EntityMissing", testEntityMissing},
	{"EntityList", testEntityList},
	{"DepartmentRoundTrip", testDepartmentRoundTrip},
	{"DepartmentDuplicate", testDepartmentDuplicate},
	{"DepartmentMissing", testDepartmentMissing},
	{"DepartmentUnknownEntity", testDepartmentUnknownEntity},
	{"DepartmentList", testDepartmentList},
	{"EmployeeRoundTrip", testEmployeeRoundTrip},
	{"EmployeeCanonicalID", testEmployeeCanonicalID},
	{"EmployeeDuplicate", testEmployeeDuplicate},
	{"EmployeeMissing", testEmployeeMissing},
	{"EmployeeList", testEmployeeList},
	{"EmployeeGeneratedIDs", testEmployeeGeneratedIDs},
	{"EmployeeGeneratedIDNoGapOnFailure", testEmployeeGeneratedIDNoGap},
	{"EmployeeGeneratedIDSkipsTaken", testEmployeeGeneratedIDSkipsTaken},
	{"EmployeeExplicitIDLeavesSequence", testEmployeeExplicitIDLeavesSequence},
	{"EmployeeUpdate", testEmployeeUpdate},
	{"EmployeeUpdateStaleOrMissing", testEmployeeUpdateStaleOrMissing},
	{"EmployeeUpdateTakenID", testEmployeeUpdateTakenID},
	{"Roles", testRoles},
	{"ClientRoundTrip", testClientRoundTrip},
	{"ClientDuplicateAndMissing", testClientDuplicateAndMissing},
	{"ClientList", testClientList},
	{"SigningKeyRoundTrip", testSigningKeyRoundTrip},
	{"SigningKeyCompareAndSwap", testSigningKeyCAS},
	{"SigningKeyRemovedState", testSigningKeyRemovedState},
	{"KeyEvents", testKeyEvents},
	{"RaceRecordKeyEvent", testRaceRecordKeyEvent},
	{"RefreshTokenRoundTrip", testRefreshTokenRoundTrip},
	{"RefreshTokenMissingAndExpired", testRefreshTokenMissingAndExpired},
	{"RefreshTokenRotate", testRefreshTokenRotate},
	{"RefreshTokenRotateFailures", testRefreshTokenRotateFailures},
	{"RefreshTokenRevokeFamily", testRefreshTokenRevokeFamily},
	{"RefreshTokenRevokeSubject", testRefreshTokenRevokeSubject},
	{"RefreshTokenRevokeClient", testRefreshTokenRevokeClient},
	{"Settings", testSettings},
	{"Ping", func(t *testing.T, s storage.Durable, _ *clock) { must(t, s.Ping(t.Context()), "Ping") }},
	{"CancelledContext", testDurableCancelled},
	{"RaceCreateEmployeeSequence", testRaceCreateEmployeeSequence},
	{"RaceUpdateEmployee", testRaceUpdateEmployee},
	{"RaceUpdateSigningKey", testRaceUpdateSigningKey},
	{"RaceRotateRefreshToken", testRaceRotateRefreshToken},
	{"RaceCreateEntity", testRaceCreateEntity},
}

// Fixtures. Times are in shanghai with nanoseconds so every round trip
// also checks UTC and microsecond truncation.

func entity(c *clock, code string) *storage.LegalEntity {
	return &storage.LegalEntity{Code: code, Name: "Acme 有限公司 " + code, IDRule: "{dept}{yyyy}{seq:3}", CreatedAt: c.local(0)}
}

func department(c *clock, id, ent, code, parent string) *storage.Department {
	return &storage.Department{ID: id, Entity: ent, Code: code, Name: "人力资源 " + code, ParentID: parent, CreatedAt: c.local(time.Second)}
}

const (
	deptHR  = "0e6f5a1c-0000-4000-8000-000000000001"
	deptEng = "0e6f5a1c-0000-4000-8000-000000000002"
)

// seedOrg creates entity ACME with departments HR01 and ENG (child of
// HR01, to have a parent) so employees have something to point at.
func seedOrg(t *testing.T, s storage.Durable, c *clock) {
	t.Helper()
	ctx := t.Context()
	must(t, s.CreateEntity(ctx, entity(c, "ACME")), "CreateEntity")
	must(t, s.CreateDepartment(ctx, department(c, deptHR, "ACME", "HR01", "")), "CreateDepartment HR01")
	must(t, s.CreateDepartment(ctx, department(c, deptEng, "ACME", "ENG", deptHR)), "CreateDepartment ENG")
}

func employee(c *clock, subject, employeeID string) *storage.Employee {
	return &storage.Employee{
		Subject:      subject,
		EmployeeID:   employeeID,
		Entity:       "ACME",
		DepartmentID: deptHR,
		Name:         "张伟",
		Email:        strings.ToLower(subject) + "@acme.example",
		Title:        "Engineer",
		Status:       storage.StatusActive,
		PasswordHash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNo",
		TOTPSecret:   []byte("sealed\x00totp\xffsecret"),
		Version:      1,
		CreatedAt:    c.local(2 * time.Second),
		UpdatedAt:    c.local(3 * time.Second),
	}
}

// seqID is the makeID the sequence tests use.
func seqID(prefix string) func(int64) (string, error) {
	return func(n int64) (string, error) { return fmt.Sprintf("%s%03d", prefix, n), nil }
}

func testEntityRoundTrip(t *testing.T, s storage.Durable, c *clock) {
	ctx := t.Context()
	want := entity(c, "ACME")
	must(t, s.CreateEntity(ctx, want), "CreateEntity")
	for _, code := range []string{"ACME", "acme", "  Acme "} {
		got, err := s.Entity(ctx, code)
		must(t, err, "Entity "+code)
		wantEqual(t, "Entity "+code, got, want)
	}
}

func testEntityCanonicalCode(t *testing.T, s storage.Durable, c *clock) {
	ctx := t.Context()
	must(t, s.CreateEntity(ctx, entity(c, " globex ")), "CreateEntity")
	got, err := s.Entity(ctx, "GLOBEX")
	must(t, err, "Entity")
	if got.Code != "GLOBEX" {
		t.Errorf("Code: got %q, want canonical %q", got.Code, "GLOBEX")
	}
}

func testEntityDuplicate(t *testing.T, s storage.Durable, c *clock) {
	ctx := t.Context()
	must(t, s.CreateEntity(ctx, entity(c, "ACME")), "CreateEntity")
	tests := []string{"ACME", "acme", " Acme"}
	for _, code := range tests {
		wantErr(t, s.CreateEntity(ctx, entity(c, code)), storage.ErrConflict, "CreateEntity "+code)
	}
}

func testEntityMissing(t *testing.T, s storage.Durable, _ *clock) {
	_, err := s.Entity(t.Context(), "NOPE")
	wantErr(t, err, storage.ErrNotFound, "Entity")
}

func testEntityList(t *testing.T, s storage.Durable, c *clock) {
	ctx := t.Context()
	got, err := s.ListEntities(ctx)
	must(t, err, "ListEntities empty")
	if len(got) != 0 {
		t.Fatalf("ListEntities on an empty store: got %d, want 0", len(got))
	}
	var want []storage.LegalEntity
	for _, code := range []string{"GLOBEX", "ACME", "INITECH"} {
		e := entity(c, code)
		must(t, s.CreateEntity(ctx, e), "CreateEntity")
		want = append(want, *e)
	}
	got, err = s.ListEntities(ctx)
	must(t, err, "ListEntities")
	sortBy(got, func(e storage.LegalEntity) string { return e.Code })
	sortBy(want, func(e storage.LegalEntity) string { return e.Code })
	wantEqual(t, "ListEntities", got, want)
}

func testDepartmentRoundTrip(t *testing.T, s storage.Durable, c *clock) {
	ctx := t.Context()
	must(t, s.CreateEntity(ctx, entity(c, "ACME")), "CreateEntity")
	root := department(c, deptHR, "ACME", "HR01", "")
	child := department(c, deptEng, "acme", "eng", deptHR)
	must(t, s.CreateDepartment(ctx, root), "CreateDepartment root")
	must(t, s.CreateDepartment(ctx, child), "CreateDepartment child")
	wantChild := *child
	wantChild.Entity, wantChild.Code = "ACME", "ENG" // stored canonical

	tests := []struct {
		name string
		get  func() (*storage.Department, error)
		want *storage.Department
	}{
		{"root by ID", func() (*storage.Department, error) { return s.Department(ctx, deptHR) }, root},
		{"child by ID", func() (*storage.Department, error) { return s.Department(ctx, deptEng) }, &wantChild},
		{"root by code", func() (*storage.Department, error) { return s.DepartmentByCode(ctx, "ACME", "HR01") }, root},
		{"root by lower-case code", func() (*storage.Department, error) { return s.DepartmentByCode(ctx, "acme", " hr01 ") }, root},
		{"child by code", func() (*storage.Department, error) { return s.DepartmentByCode(ctx, "Acme", "Eng") }, &wantChild},
	}
	for _, tt := range tests {
		got, err := tt.get()
		must(t, err, tt.name)
		wantEqual(t, tt.name, got, tt.want)
	}
}

func testDepartmentDuplicate(t *testing.T, s storage.Durable, c *clock) {
	ctx := t.Context()
	must(t, s.CreateEntity(ctx, entity(c, "ACME")), "CreateEntity")
	must(t, s.CreateEntity(ctx, entity(c, "GLOBEX")), "CreateEntity")
	must(t, s.CreateDepartment(ctx, department(c, deptHR, "ACME", "HR01", "")), "CreateDepartment")
	tests := []struct {
		name string
		d    *storage.Department
		want error
	}{
		{"same ID", department(c, deptHR, "GLOBEX", "OTHER", ""), storage.ErrConflict},
		{"same entity and code", department(c, "id-2", "ACME", "HR01", ""), storage.ErrConflict},
		{"same code in another case", department(c, "id-3", "acme", "hr01", ""), storage.ErrConflict},
		{"same code in another entity", department(c, "id-4", "GLOBEX", "HR01", ""), nil},
	}
	for _, tt := range tests {
		err := s.CreateDepartment(ctx, tt.d)
		if tt.want == nil {
			must(t, err, tt.name)
			continue
		}
		wantErr(t, err, tt.want, tt.name)
	}
}

func testDepartmentMissing(t *testing.T, s storage.Durable, c *clock) {
	ctx := t.Context()
	seedOrg(t, s, c)
	_, err := s.Department(ctx, "no-such-id")
	wantErr(t, err, storage.ErrNotFound, "Department")
	_, err = s.DepartmentByCode(ctx, "ACME", "NOPE")
	wantErr(t, err, storage.ErrNotFound, "DepartmentByCode unknown code")
	_, err = s.DepartmentByCode(ctx, "GLOBEX", "HR01")
	wantErr(t, err, storage.ErrNotFound, "DepartmentByCode other entity")
}

func testDepartmentUnknownEntity(t *testing.T, s storage.Durable, c *clock) {
	// The entity must exist; which sentinel comes back is left to the
	// backend, but the department must not be created.
	ctx := t.Context()
	if err := s.CreateDepartment(ctx, department(c, deptHR, "NOPE", "HR01", "")); err == nil {
		t.Fatal("CreateDepartment in an unknown entity: got nil error")
	}
	_, err := s.Department(ctx, deptHR)
	wantErr(t, err, storage.ErrNotFound, "Department after failed create")
}

func testDepartmentList(t *testing.T, s storage.Durable, c *clock) {
	ctx := t.Context()
	seedOrg(t, s, c)
	must(t, s.CreateEntity(ctx, entity(c, "GLOBEX")), "CreateEntity")
	must(t, s.CreateDepartment(ctx, department(c, "g-1", "GLOBEX", "HR01", "")), "CreateDepartment")
	tests := []struct {
		entity string
		want   []string // IDs
	}{
		{"ACME", []string{deptHR, deptEng}},
		{"acme", []string{deptHR, deptEng}},
		{"GLOBEX", []string{"g-1"}},
		{"NOPE", nil},
	}
	for _, tt := range tests {
		got, err := s.ListDepartments(ctx, tt.entity)
		must(t, err, "ListDepartments "+tt.entity)
		var ids []string
		for _, d := range got {
			ids = append(ids, d.ID)
		}
		slices.Sort(ids)
		slices.Sort(tt.want)
		if !slices.Equal(ids, tt.want) {
			t.Errorf("ListDepartments(%q): got %v, want %v", tt.entity, ids, tt.want)
		}
	}
}

func testEmployeeRoundTrip(t *testing.T, s storage.Durable, c *clock) {
	ctx := t.Context()
	seedOrg(t, s, c)
	enrolled := employee(c, "sub-enrolled", "HR012023001")
	unenrolled := employee(c, "sub-unenrolled", "HR012023002")
	unenrolled.TOTPSecret = nil // not enrolled: must come back nil
	unenrolled.Status = storage.StatusFrozen
	unenrolled.DepartmentID = deptEng
	unenrolled.PasswordChangeRequired = true // an initial password: must come back set
	for _, e := range []*storage.Employee{enrolled, unenrolled} {
		must(t, s.CreateEmployee(ctx, e, "", nil), "CreateEmployee "+e.Subject)
		got, err := s.Employee(ctx, e.Subject)
		must(t, err, "Employee")
		wantEqual(t, "Employee "+e.Subject, got, e)
		got, err = s.EmployeeByEmployeeID(ctx, e.EmployeeID)
		must(t, err, "EmployeeByEmployeeID")
		wantEqual(t, "EmployeeByEmployeeID "+e.EmployeeID, got, e)
	}
}

func testEmployeeCanonicalID(t *testing.T, s storage.Durable, c *clock) {
	ctx := t.Context()
	seedOrg(t, s, c)
	must(t, s.CreateEmployee(ctx, employee(c, "sub-1", "HR012023001"), "", nil), "CreateEmployee canonical")
	must(t, s.CreateEmployee(ctx, employee(c, "sub-2", " hr012023002 "), "", nil), "CreateEmployee lower-case")
	tests := []struct {
		lookup, subject string
	}{
		{"hr012023001", "sub-1"},
		{" Hr012023001", "sub-1"},
		{"HR012023002", "sub-2"},
		{"hr012023002", "sub-2"},
	}
	for _, tt := range tests {
		got, err := s.EmployeeByEmployeeID(ctx, tt.lookup)
		must(t, err, fmt.Sprintf("EmployeeByEmployeeID(%q)", tt.lookup))
		if got.Subject != tt.subject {
			t.Errorf("EmployeeByEmployeeID(%q): got subject %q, want %q", tt.lookup, got.Subject, tt.subject)
		}
	}
	got, err := s.Employee(ctx, "sub-2")
	must(t, err, "Employee")
	if got.EmployeeID != "HR012023002" {
		t.Errorf("stored EmployeeID: got %q, want canonical %q", got.EmployeeID, "HR012023002")
	}
}

func testEmployeeDuplicate(t *testing.T, s storage.Durable, c *clock) {
	ctx := t.Context()
	seedOrg(t, s, c)
	must(t, s.CreateEmployee(ctx, employee(c, "sub-1", "HR012023001"), "", nil), "CreateEmployee")
	tests := []struct {
		name string
		e    *storage.Employee
	}{
		{"same employee ID", employee(c, "sub-2", "HR012023001")},
		{"same employee ID in another case", employee(c, "sub-3", "hr012023001")},
		{"same subject", employee(c, "sub-1", "HR012023009")},
	}
	for _, tt := range tests {
		wantErr(t, s.CreateEmployee(ctx, tt.e, "", nil), storage.ErrConflict, tt.name)
	}
}

func testEmployeeMissing(t *testing.T, s storage.Durable, _ *clock) {
	ctx := t.Context()
	_, err := s.Employee(ctx, "no-such-subject")
	wantErr(t, err, storage.ErrNotFound, "Employee")
	_, err = s.EmployeeByEmployeeID(ctx, "HR012023999")
	wantErr(t, err, storage.ErrNotFound, "EmployeeByEmployeeID")
}

func testEmployeeList(t *testing.T, s storage.Durable, c *clock) {
	ctx := t.Context()
	seedOrg(t, s, c)
	var want []storage.Employee
	for i, id := range []string{"HR012023003", "HR012023001", "HR012023002"} {
		e := employee(c, fmt.Sprintf("sub-%d", i), id)
		must(t, s.CreateEmployee(ctx, e, "", nil), "CreateEmployee")
		want = append(want, *e)
	}
	got, err := s.ListEmployees(ctx)
	must(t, err, "ListEmployees")
	sortBy(got, func(e storage.Employee) string { return e.Subject })
	wantEqual(t, "ListEmployees", got, want)
}

func testEmployeeGeneratedIDs(t *testing.T, s storage.Durable, c *clock) {
	ctx := t.Context()
	seedOrg(t, s, c)
	tests := []struct {
		seqKey, prefix, want string
	}{
		{"ACME/HR012023", "HR012023", "HR012023001"},
		{"ACME/HR012023", "HR012023", "HR012023002"},
		{"ACME/ENG2023", "eng2023", "ENG2023001"}, // own sequence; makeID output canonicalised
		{"ACME/HR012023", "HR012023", "HR012023003"},
	}
	for i, tt := range tests {
		e := employee(c, fmt.Sprintf("sub-%d", i), "")
		must(t, s.CreateEmployee(ctx, e, tt.seqKey, seqID(tt.prefix)), "CreateEmployee "+tt.want)
		if e.EmployeeID != tt.want {
			t.Errorf("generated EmployeeID: got %q, want %q", e.EmployeeID, tt.want)
		}
		got, err := s.EmployeeByEmployeeID(ctx, tt.want)
		must(t, err, "EmployeeByEmployeeID "+tt.want)
		if got.Subject != e.Subject {
			t.Errorf("EmployeeByEmployeeID(%q): got subject %q, want %q", tt.want, got.Subject, e.Subject)
		}
	}
}

func testEmployeeGeneratedIDNoGap(t *testing.T, s storage.Durable, c *clock) {
	ctx := t.Context()
	seedOrg(t, s, c)
	const key = "ACME/HR012023"
	must(t, s.CreateEmployee(ctx, employee(c, "sub-1", ""), key, seqID("HR012023")), "first CreateEmployee")

	errBoom := errors.New("boom")
	err := s.CreateEmployee(ctx, employee(c, "sub-2", ""), key, func(int64) (string, error) { return "", errBoom })
	wantErr(t, err, errBoom, "CreateEmployee with failing makeID")

	err = s.CreateEmployee(ctx, employee(c, "sub-1", ""), key, seqID("HR012023"))
	wantErr(t, err, storage.ErrConflict, "CreateEmployee with a duplicate subject")

	e := employee(c, "sub-3", "")
	must(t, s.CreateEmployee(ctx, e, key, seqID("HR012023")), "CreateEmployee after failures")
	if e.EmployeeID != "HR012023002" {
		t.Errorf("after two failed creates: got %q, want %q (failed creates must not use up numbers)", e.EmployeeID, "HR012023002")
	}
}

func testEmployeeGeneratedIDSkipsTaken(t *testing.T, s storage.Durable, c *clock) {
	ctx := t.Context()
	seedOrg(t, s, c)
	const key = "ACME/HR012023"
	must(t, s.CreateEmployee(ctx, employee(c, "sub-explicit", "HR012023002"), "", nil), "CreateEmployee explicit")
	var got []string
	for i := range 2 {
		e := employee(c, fmt.Sprintf("sub-%d", i), "")
		must(t, s.CreateEmployee(ctx, e, key, seqID("HR012023")), "CreateEmployee generated")
		got = append(got, e.EmployeeID)
	}
	if want := []string{"HR012023001", "HR012023003"}; !slices.Equal(got, want) {
		t.Errorf("generated IDs around a taken one: got %v, want %v", got, want)
	}
}

func testEmployeeExplicitIDLeavesSequence(t *testing.T, s storage.Durable, c *clock) {
	ctx := t.Context()
	seedOrg(t, s, c)
	const key = "ACME/HR012023"
	must(t, s.CreateEmployee(ctx, employee(c, "sub-explicit", "HR012023050"), key, seqID("HR012023")), "CreateEmployee explicit")
	e := employee(c, "sub-generated", "")
	must(t, s.CreateEmployee(ctx, e, key, seqID("HR012023")), "CreateEmployee generated")
	if e.EmployeeID != "HR012023001" {
		t.Errorf("first generated ID after an explicit one: got %q, want %q", e.EmployeeID, "HR012023001")
	}
}

func testEmployeeUpdate(t *testing.T, s storage.Durable, c *clock) {
	ctx := t.Context()
	seedOrg(t, s, c)
	e := employee(c, "sub-1", "HR012023001")
	e.TOTPSecret = nil
	must(t, s.CreateEmployee(ctx, e, "", nil), "CreateEmployee")

	steps := []struct {
		name   string
		change func(e *storage.Employee)
	}{
		{"reset password: change required", func(e *storage.Employee) {
			e.PasswordHash = "$argon2id$v=19$m=19456,t=2,p=1$cmVzZXQ$cmVzZXRoYXNo"
			e.PasswordChangeRequired = true
			e.UpdatedAt = c.local(30 * time.Minute)
		}},
		{"enrol TOTP and transfer", func(e *storage.Employee) {
			e.TOTPSecret = []byte("sealed-secret")
			e.EmployeeID = "eng2024007" // stored canonical
			e.DepartmentID = deptEng
			e.Title = "Staff Engineer"
			e.UpdatedAt = c.local(time.Hour)
		}},
		{"freeze and drop TOTP", func(e *storage.Employee) {
			e.Status = storage.StatusFrozen
			e.TOTPSecret = nil
			e.PasswordHash = "$argon2id$v=19$m=19456,t=2,p=1$bmV3c2FsdA$bmV3aGFzaA"
			e.PasswordChangeRequired = false // changed by the employee
			e.Name, e.Email = "张伟 (Zhang Wei)", "zw@acme.example"
			e.UpdatedAt = c.local(2 * time.Hour)
		}},
	}
	for _, step := range steps {
		before := e.Version
		step.change(e)
		must(t, s.UpdateEmployee(ctx, e), step.name)
		if e.Version != before+1 {
			t.Errorf("%s: e.Version got %d, want %d", step.name, e.Version, before+1)
		}
		want := *e
		want.EmployeeID = storage.CanonicalCode(e.EmployeeID)
		got, err := s.Employee(ctx, e.Subject)
		must(t, err, "Employee")
		wantEqual(t, step.name, got, &want)
	}
}

func testEmployeeUpdateStaleOrMissing(t *testing.T, s storage.Durable, c *clock) {
	ctx := t.Context()
	seedOrg(t, s, c)
	e := employee(c, "sub-1", "HR012023001")
	must(t, s.CreateEmployee(ctx, e, "", nil), "CreateEmployee")
	stale := *e
	must(t, s.UpdateEmployee(ctx, e), "UpdateEmployee")

	stale.Title = "lost update"
	wantErr(t, s.UpdateEmployee(ctx, &stale), storage.ErrConflict, "UpdateEmployee with a stale version")
	if stale.Version != e.Version-1 {
		t.Errorf("failed update changed Version to %d", stale.Version)
	}
	got, err := s.Employee(ctx, e.Subject)
	must(t, err, "Employee")
	if got.Title == "lost update" || got.Version != e.Version {
		t.Errorf("after stale update: got title %q version %d, want %q version %d", got.Title, got.Version, e.Title, e.Version)
	}

	missing := employee(c, "no-such-subject", "HR012023099")
	wantErr(t, s.UpdateEmployee(ctx, missing), storage.ErrNotFound, "UpdateEmployee of a missing subject")
}

func testEmployeeUpdateTakenID(t *testing.T, s storage.Durable, c *clock) {
	ctx := t.Context()
	seedOrg(t, s, c)
	a, b := employee(c, "sub-a", "HR012023001"), employee(c, "sub-b", "HR012023002")
	must(t, s.CreateEmployee(ctx, a, "", nil), "CreateEmployee a")
	must(t, s.CreateEmployee(ctx, b, "", nil), "CreateEmployee b")
	b.EmployeeID = "hr012023001"
	wantErr(t, s.UpdateEmployee(ctx, b), storage.ErrConflict, "UpdateEmployee to a taken employee ID")
	if b.Version != 1 {
		t.Errorf("failed update changed Version to %d", b.Version)
	}
}

func testRoles(t *testing.T, s storage.Durable, c *clock) {
	ctx := t.Context()
	seedOrg(t, s, c)
	must(t, s.CreateEmployee(ctx, employee(c, "sub-1", "HR012023001"), "", nil), "CreateEmployee")
	must(t, s.CreateEmployee(ctx, employee(c, "sub-2", "HR012023002"), "", nil), "CreateEmployee")
	grants := []storage.RoleGrant{
		{Subject: "sub-1", Role: "admin", CreatedAt: c.local(0)},
		{Subject: "sub-1", Role: "manager", DepartmentID: deptHR, CreatedAt: c.local(time.Second)},
		{Subject: "sub-1", Role: "manager", DepartmentID: deptEng, CreatedAt: c.local(2 * time.Second)},
		{Subject: "sub-2", Role: "auditor", CreatedAt: c.local(3 * time.Second)},
	}
	for _, g := range grants {
		must(t, s.GrantRole(ctx, &g), "GrantRole")
	}
	again := grants[0]
	must(t, s.GrantRole(ctx, &again), "GrantRole again (idempotent)")

	key := func(g storage.RoleGrant) string { return g.Role + "/" + g.DepartmentID }
	check := func(name, subject string, want []storage.RoleGrant) {
		t.Helper()
		got, err := s.RoleGrants(ctx, subject)
		must(t, err, "RoleGrants")
		sortBy(got, key)
		sortBy(want, key)
		if len(got) == 0 && len(want) == 0 {
			return
		}
		wantEqual(t, name, got, want)
	}
	check("after granting", "sub-1", slices.Clone(grants[:3]))
	check("other subject", "sub-2", slices.Clone(grants[3:]))
	check("unknown subject", "nobody", nil)

	must(t, s.RevokeRole(ctx, "sub-1", "manager"), "RevokeRole")
	check("after revoking manager (both scopes)", "sub-1", slices.Clone(grants[:1]))
	must(t, s.RevokeRole(ctx, "sub-1", "never-granted"), "RevokeRole never granted")
	check("other subject after revoke", "sub-2", slices.Clone(grants[3:]))
}

func fullClient(c *clock, id string) *storage.Client {
	return &storage.Client{
		ID:                     id,
		Name:                   "OA 办公",
		SecretHash:             []byte("0123456789abcdef0123456789abcdef"),
		RedirectURIs:           []string{"https://oa.acme.example/callback", "https://oa.acme.example/cb2"},
		PostLogoutRedirectURIs: []string{"https://oa.acme.example/"},
		GrantTypes:             []string{"authorization_code", "refresh_token"},
		Scopes:                 []string{"openid", "profile", "employee", "roles"},
		AccessTokenFormat:      storage.AccessTokenJWT,
		RequireMFA:             true,
		AllowedDepartments:     []string{deptHR},
		AllowedRoles:           []string{"admin", "manager"},
		BackchannelLogoutURI:   "https://oa.acme.example/bcl",
		AccessTokenTTL:         5 * time.Minute,
		IDTokenTTL:             time.Hour,
		RefreshTokenTTL:        720 * time.Hour,
		CreatedAt:              c.local(0),

		IDTokenSignedResponseAlg: "ES256",
		VisibleRoles:             []string{"employee", "oa:*", "hr"},
	}
}

func testClientRoundTrip(t *testing.T, s storage.Durable, c *clock) {
	ctx := t.Context()
	tests := []struct {
		name   string
		client *storage.Client
	}{
		{"every field set", fullClient(c, "oa")},
		{"public with nil lists", &storage.Client{ID: "spa", Name: "SPA", Public: true, RedirectURIs: []string{"http://127.0.0.1:5173/cb"},
			AccessTokenFormat: storage.AccessTokenOpaque, CreatedAt: c.local(time.Second)}},
		{"empty (not nil) lists", &storage.Client{ID: "empty", Name: "Empty", RedirectURIs: []string{}, PostLogoutRedirectURIs: []string{},
			GrantTypes: []string{}, Scopes: []string{}, AllowedDepartments: []string{}, AllowedRoles: []string{},
			VisibleRoles: []string{}, AccessTokenFormat: storage.AccessTokenOpaque, CreatedAt: c.local(2 * time.Second)}},
	}
	for _, tt := range tests {
		must(t, s.CreateClient(ctx, tt.client), "CreateClient "+tt.name)
		got, err := s.Client(ctx, tt.client.ID)
		must(t, err, "Client "+tt.name)
		wantEqual(t, tt.name, got, tt.client)
	}
}

func testClientDuplicateAndMissing(t *testing.T, s storage.Durable, c *clock) {
	ctx := t.Context()
	must(t, s.CreateClient(ctx, fullClient(c, "oa")), "CreateClient")
	wantErr(t, s.CreateClient(ctx, fullClient(c, "oa")), storage.ErrConflict, "CreateClient duplicate")
	_, err := s.Client(ctx, "erp")
	wantErr(t, err, storage.ErrNotFound, "Client missing")
}

func testClientList(t *testing.T, s storage.Durable, c *clock) {
	ctx := t.Context()
	var want []storage.Client
	for _, id := range []string{"wiki", "erp", "oa"} {
		cl := fullClient(c, id)
		must(t, s.CreateClient(ctx, cl), "CreateClient")
		want = append(want, *cl)
	}
	got, err := s.ListClients(ctx)
	must(t, err, "ListClients")
	sortBy(got, func(c storage.Client) string { return c.ID })
	sortBy(want, func(c storage.Client) string { return c.ID })
	wantEqual(t, "ListClients", got, want)
}

func signingKey(c *clock, kid string, state storage.KeyState) *storage.SigningKey {
	return &storage.SigningKey{
		ID: kid, Algorithm: "RS256", State: state,
		PrivateKey: []byte("sealed-pkcs8-" + kid), PublicKey: []byte("pkix-" + kid),
		CreatedAt: c.local(0), ActivatesAt: c.local(time.Hour), Version: 1,
	}
}

func testSigningKeyRoundTrip(t *testing.T, s storage.Durable, c *clock) {
	ctx := t.Context()
	active := signingKey(c, "kid-a", storage.KeyActive)
	retired := signingKey(c, "kid-b", storage.KeyRetired)
	retired.Algorithm = "ES256"
	retired.RetiresAt = c.local(48 * time.Hour)
	want := []storage.SigningKey{*active, *retired} // active has a zero RetiresAt
	for _, k := range []*storage.SigningKey{active, retired} {
		must(t, s.CreateSigningKey(ctx, k), "CreateSigningKey")
	}
	wantErr(t, s.CreateSigningKey(ctx, signingKey(c, "kid-a", storage.KeyNext)), storage.ErrConflict, "CreateSigningKey duplicate")
	got, err := s.ListSigningKeys(ctx)
	must(t, err, "ListSigningKeys")
	sortBy(got, func(k storage.SigningKey) string { return k.ID })
	wantEqual(t, "ListSigningKeys", got, want)
	if len(got) > 0 && !got[0].RetiresAt.IsZero() {
		t.Errorf("zero RetiresAt came back as %v", got[0].RetiresAt)
	}
}

func testSigningKeyCAS(t *testing.T, s storage.Durable, c *clock) {
	ctx := t.Context()
	k := signingKey(c, "kid-a", storage.KeyActive)
	must(t, s.CreateSigningKey(ctx, k), "CreateSigningKey")
	stale := *k
	k.State, k.RetiresAt = storage.KeyRetired, c.local(24*time.Hour)
	must(t, s.UpdateSigningKey(ctx, k), "UpdateSigningKey")
	if k.Version != 2 {
		t.Errorf("k.Version after update: got %d, want 2", k.Version)
	}
	got, err := s.ListSigningKeys(ctx)
	must(t, err, "ListSigningKeys")
	wantEqual(t, "after update", got, []storage.SigningKey{*k})

	stale.State = storage.KeyRevoked
	wantErr(t, s.UpdateSigningKey(ctx, &stale), storage.ErrConflict, "UpdateSigningKey stale")
	wantErr(t, s.UpdateSigningKey(ctx, signingKey(c, "kid-missing", storage.KeyNext)), storage.ErrNotFound, "UpdateSigningKey missing")
	got, err = s.ListSigningKeys(ctx)
	must(t, err, "ListSigningKeys")
	wantEqual(t, "after failed updates", got, []storage.SigningKey{*k})
}

func refreshToken(c *clock, id, family, subject string) *storage.RefreshToken {
	return &storage.RefreshToken{
		ID: id, FamilyID: family, ClientID: "oa", Subject: subject,
		Scopes: []string{"openid", "offline_access"}, Audience: []string{"oa"},
		AuthTime: c.local(-time.Minute), AMR: []string{"pwd", "otp"}, ACR: "urn:gongpai:mfa", SessionID: "sess-1",
		CreatedAt: c.local(0), ExpiresAt: c.local(24 * time.Hour),
	}
}

func testRefreshTokenRoundTrip(t *testing.T, s storage.Durable, c *clock) {
	ctx := t.Context()
	minimal := &storage.RefreshToken{ID: "rt-min", FamilyID: "fam-2", ClientID: "oa", Subject: "sub-1",
		Scopes: []string{}, CreatedAt: c.local(0), ExpiresAt: c.local(time.Hour)}
	for _, rt := range []*storage.RefreshToken{refreshToken(c, "rt-1", "fam-1", "sub-1"), minimal} {
		must(t, s.CreateRefreshToken(ctx, rt), "CreateRefreshToken")
		got, err := s.RefreshToken(ctx, rt.ID)
		must(t, err, "RefreshToken")
		wantEqual(t, "RefreshToken "+rt.ID, got, rt)
	}
	wantErr(t, s.CreateRefreshToken(ctx, refreshToken(c, "rt-1", "fam-9", "sub-9")), storage.ErrConflict, "CreateRefreshToken duplicate")
}

func testRefreshTokenMissingAndExpired(t *testing.T, s storage.Durable, c *clock) {
	ctx := t.Context()
	_, err := s.RefreshToken(ctx, "rt-missing")
	wantErr(t, err, storage.ErrNotFound, "RefreshToken missing")
	rt := refreshToken(c, "rt-1", "fam-1", "sub-1")
	rt.ExpiresAt = c.local(time.Hour)
	must(t, s.CreateRefreshToken(ctx, rt), "CreateRefreshToken")
	c.Advance(59 * time.Minute)
	_, err = s.RefreshToken(ctx, "rt-1")
	must(t, err, "RefreshToken before expiry")
	c.Advance(2 * time.Minute)
	_, err = s.RefreshToken(ctx, "rt-1")
	wantErr(t, err, storage.ErrNotFound, "RefreshToken after expiry")
	wantErr(t, s.RotateRefreshToken(ctx, "rt-1", refreshToken(c, "rt-2", "fam-1", "sub-1")), storage.ErrNotFound, "RotateRefreshToken expired")
}

func testRefreshTokenRotate(t *testing.T, s storage.Durable, c *clock) {
	ctx := t.Context()
	old := refreshToken(c, "rt-1", "fam-1", "sub-1")
	must(t, s.CreateRefreshToken(ctx, old), "CreateRefreshToken")
	c.Advance(time.Minute)
	next := refreshToken(c, "rt-2", "fam-1", "sub-1")
	must(t, s.RotateRefreshToken(ctx, "rt-1", next), "RotateRefreshToken")

	gotOld, err := s.RefreshToken(ctx, "rt-1")
	must(t, err, "RefreshToken old (spent tokens stay readable)")
	wantOld := *old
	wantOld.Spent = true
	wantEqual(t, "spent token", gotOld, &wantOld)
	gotNext, err := s.RefreshToken(ctx, "rt-2")
	must(t, err, "RefreshToken next")
	wantEqual(t, "next token", gotNext, next)

	// Presenting the spent token again is reuse: the rotation loses.
	wantErr(t, s.RotateRefreshToken(ctx, "rt-1", refreshToken(c, "rt-3", "fam-1", "sub-1")), storage.ErrConflict, "RotateRefreshToken spent")
	_, err = s.RefreshToken(ctx, "rt-3")
	wantErr(t, err, storage.ErrNotFound, "next of a failed rotation")
	must(t, s.RotateRefreshToken(ctx, "rt-2", refreshToken(c, "rt-3", "fam-1", "sub-1")), "RotateRefreshToken chain")
}

func testRefreshTokenRotateFailures(t *testing.T, s storage.Durable, c *clock) {
	ctx := t.Context()
	must(t, s.CreateRefreshToken(ctx, refreshToken(c, "rt-1", "fam-1", "sub-1")), "CreateRefreshToken")
	must(t, s.CreateRefreshToken(ctx, refreshToken(c, "rt-x", "fam-x", "sub-1")), "CreateRefreshToken")
	wantErr(t, s.RotateRefreshToken(ctx, "rt-missing", refreshToken(c, "rt-2", "fam-1", "sub-1")), storage.ErrNotFound, "RotateRefreshToken missing")
	// A next ID that already exists must fail the whole rotation, leaving
	// the old token unspent.
	wantErr(t, s.RotateRefreshToken(ctx, "rt-1", refreshToken(c, "rt-x", "fam-1", "sub-1")), storage.ErrConflict, "RotateRefreshToken duplicate next")
	got, err := s.RefreshToken(ctx, "rt-1")
	must(t, err, "RefreshToken")
	if got.Spent {
		t.Error("old token spent although its rotation failed")
	}
}

func testRefreshTokenRevokeFamily(t *testing.T, s storage.Durable, c *clock) {
	ctx := t.Context()
	must(t, s.CreateRefreshToken(ctx, refreshToken(c, "rt-1", "fam-1", "sub-1")), "CreateRefreshToken")
	must(t, s.RotateRefreshToken(ctx, "rt-1", refreshToken(c, "rt-2", "fam-1", "sub-1")), "RotateRefreshToken")
	must(t, s.CreateRefreshToken(ctx, refreshToken(c, "rt-9", "fam-9", "sub-1")), "CreateRefreshToken other family")
	must(t, s.RevokeRefreshFamily(ctx, "fam-1"), "RevokeRefreshFamily")
	must(t, s.RevokeRefreshFamily(ctx, "fam-unknown"), "RevokeRefreshFamily unknown")

	tests := []struct {
		id             string
		spent, revoked bool
	}{
		{"rt-1", true, true},
		{"rt-2", false, true},
		{"rt-9", false, false},
	}
	for _, tt := range tests {
		got, err := s.RefreshToken(ctx, tt.id)
		must(t, err, "RefreshToken "+tt.id+" (revoked tokens stay readable)")
		if got.Spent != tt.spent || got.Revoked != tt.revoked {
			t.Errorf("%s: got spent=%v revoked=%v, want spent=%v revoked=%v", tt.id, got.Spent, got.Revoked, tt.spent, tt.revoked)
		}
	}
	wantErr(t, s.RotateRefreshToken(ctx, "rt-2", refreshToken(c, "rt-3", "fam-1", "sub-1")), storage.ErrConflict, "RotateRefreshToken revoked")
}

func testRefreshTokenRevokeSubject(t *testing.T, s storage.Durable, c *clock) {
	ctx := t.Context()
	for _, rt := range []*storage.RefreshToken{
		refreshToken(c, "rt-a1", "fam-a1", "alice"),
		refreshToken(c, "rt-a2", "fam-a2", "alice"),
		refreshToken(c, "rt-b1", "fam-b1", "bob"),
	} {
		must(t, s.CreateRefreshToken(ctx, rt), "CreateRefreshToken")
	}
	must(t, s.RevokeRefreshTokensOfSubject(ctx, "alice"), "RevokeRefreshTokensOfSubject")
	for id, want := range map[string]bool{"rt-a1": true, "rt-a2": true, "rt-b1": false} {
		got, err := s.RefreshToken(ctx, id)
		must(t, err, "RefreshToken "+id)
		if got.Revoked != want {
			t.Errorf("%s: got revoked=%v, want %v", id, got.Revoked, want)
		}
	}
}

func testSettings(t *testing.T, s storage.Durable, _ *clock) {
	ctx := t.Context()
	_, err := s.Setting(ctx, "demo_seeded")
	wantErr(t, err, storage.ErrNotFound, "Setting unset")
	steps := []struct{ key, value string }{
		{"demo_seeded", "2025-03-14"},
		{"other", ""},
		{"demo_seeded", "again"},
	}
	want := map[string]string{}
	for _, st := range steps {
		must(t, s.PutSetting(ctx, st.key, st.value), "PutSetting")
		want[st.key] = st.value
		for k, v := range want {
			got, err := s.Setting(ctx, k)
			must(t, err, "Setting "+k)
			if got != v {
				t.Errorf("Setting(%q): got %q, want %q", k, got, v)
			}
		}
	}
}

func testDurableCancelled(t *testing.T, s storage.Durable, c *clock) {
	seedOrg(t, s, c)
	must(t, s.CreateRefreshToken(t.Context(), refreshToken(c, "rt-1", "fam-1", "sub-1")), "CreateRefreshToken")
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	tests := []struct {
		name string
		call func() error
	}{
		{"Entity", func() error { _, err := s.Entity(ctx, "ACME"); return err }},
		{"CreateEntity", func() error { return s.CreateEntity(ctx, entity(c, "GLOBEX")) }},
		{"ListDepartments", func() error { _, err := s.ListDepartments(ctx, "ACME"); return err }},
		{"CreateEmployee", func() error { return s.CreateEmployee(ctx, employee(c, "sub-1", ""), "k", seqID("X")) }},
		{"UpdateSigningKey", func() error { return s.UpdateSigningKey(ctx, signingKey(c, "kid", storage.KeyActive)) }},
		{"RotateRefreshToken", func() error { return s.RotateRefreshToken(ctx, "rt-1", refreshToken(c, "rt-2", "fam-1", "sub-1")) }},
		{"PutSetting", func() error { return s.PutSetting(ctx, "k", "v") }},
	}
	for _, tt := range tests {
		wantErr(t, tt.call(), context.Canceled, tt.name)
	}
	got, err := s.RefreshToken(t.Context(), "rt-1")
	must(t, err, "RefreshToken")
	if got.Spent {
		t.Error("a cancelled rotation spent the token")
	}
}

func testRaceCreateEmployeeSequence(t *testing.T, s storage.Durable, c *clock) {
	ctx := t.Context()
	seedOrg(t, s, c)
	// Two sequences interleaved: each must come out gap-free on its own.
	keys := []struct{ seqKey, prefix string }{{"ACME/HR012025", "HR012025"}, {"ACME/ENG2025", "ENG2025"}}
	ids := make([]string, workers)
	errs := race(workers, func(i int) error {
		k := keys[i%2]
		e := employee(c, fmt.Sprintf("sub-%02d", i), "")
		err := s.CreateEmployee(ctx, e, k.seqKey, seqID(k.prefix))
		ids[i] = e.EmployeeID
		return err
	})
	for i, err := range errs {
		must(t, err, fmt.Sprintf("goroutine %d", i))
	}
	for j, k := range keys {
		var got, want []string
		for i := j; i < workers; i += 2 {
			got = append(got, ids[i])
			want = append(want, fmt.Sprintf("%s%03d", k.prefix, len(want)+1))
		}
		slices.Sort(got)
		if !slices.Equal(got, want) {
			t.Errorf("sequence %s: got %v, want %v", k.seqKey, got, want)
		}
	}
}

func testRaceUpdateEmployee(t *testing.T, s storage.Durable, c *clock) {
	ctx := t.Context()
	seedOrg(t, s, c)
	base := employee(c, "sub-1", "HR012023001")
	must(t, s.CreateEmployee(ctx, base, "", nil), "CreateEmployee")
	errs := race(workers, func(i int) error {
		e := *base
		e.Title = fmt.Sprintf("title %d", i)
		return s.UpdateEmployee(ctx, &e)
	})
	w := wantOneWinner(t, errs, storage.ErrConflict)
	got, err := s.Employee(ctx, "sub-1")
	must(t, err, "Employee")
	if want := fmt.Sprintf("title %d", w); got.Title != want || got.Version != base.Version+1 {
		t.Errorf("after race: got title %q version %d, want %q version %d", got.Title, got.Version, want, base.Version+1)
	}
}

func testRaceUpdateSigningKey(t *testing.T, s storage.Durable, c *clock) {
	ctx := t.Context()
	base := signingKey(c, "kid-a", storage.KeyNext)
	must(t, s.CreateSigningKey(ctx, base), "CreateSigningKey")
	errs := race(workers, func(i int) error {
		k := *base
		k.State = storage.KeyActive
		k.ActivatesAt = c.local(time.Duration(i) * time.Second)
		return s.UpdateSigningKey(ctx, &k)
	})
	w := wantOneWinner(t, errs, storage.ErrConflict)
	got, err := s.ListSigningKeys(ctx)
	must(t, err, "ListSigningKeys")
	want := *base
	want.State, want.ActivatesAt, want.Version = storage.KeyActive, c.local(time.Duration(w)*time.Second), base.Version+1
	wantEqual(t, "after race", got, []storage.SigningKey{want})
}

func testRaceRotateRefreshToken(t *testing.T, s storage.Durable, c *clock) {
	ctx := t.Context()
	must(t, s.CreateRefreshToken(ctx, refreshToken(c, "rt-0", "fam-1", "sub-1")), "CreateRefreshToken")
	errs := race(workers, func(i int) error {
		return s.RotateRefreshToken(ctx, "rt-0", refreshToken(c, fmt.Sprintf("rt-next-%d", i), "fam-1", "sub-1"))
	})
	w := wantOneWinner(t, errs, storage.ErrConflict)
	for i := range workers {
		_, err := s.RefreshToken(ctx, fmt.Sprintf("rt-next-%d", i))
		if i == w {
			must(t, err, "winner's next token")
		} else {
			wantErr(t, err, storage.ErrNotFound, fmt.Sprintf("loser %d's next token", i))
		}
	}
}

func testRaceCreateEntity(t *testing.T, s storage.Durable, c *clock) {
	ctx := t.Context()
	errs := race(workers, func(i int) error {
		e := entity(c, "ACME")
		e.Name = fmt.Sprintf("name %d", i)
		return s.CreateEntity(ctx, e)
	})
	w := wantOneWinner(t, errs, storage.ErrConflict)
	got, err := s.Entity(ctx, "ACME")
	must(t, err, "Entity")
	if want := fmt.Sprintf("name %d", w); got.Name != want {
		t.Errorf("after race: got name %q, want the winner's %q", got.Name, want)
	}
}

// sortBy sorts s by key, so tests do not depend on a backend's list order.
func sortBy[T any](s []T, key func(T) string) {
	slices.SortStableFunc(s, func(a, b T) int { return strings.Compare(key(a), key(b)) })
}
