package storagetest

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gongpai/gongpai/storage"
)

// adminStore is what the DirectoryAdmin subtests need: any durable
// backend, since DirectoryAdmin is part of storage.Durable.
type adminStore = storage.Durable

type adminTest struct {
	name string
	run  func(t *testing.T, s adminStore, c *clock)
}

var adminTests = []adminTest{
	{"ExternalID", testExternalID},
	{"ClientServiceRolesUpdateDelete", testClientUpdateDelete},
	{"DepartmentMove", testDepartmentMove},
	{"DepartmentDelete", testDepartmentDelete},
	{"SearchEmployees", testSearchEmployees},
	{"SearchEmployeesByEmail", testSearchEmployeesByEmail},
	{"WriteEmployeesAllOrNothing", testWriteEmployeesAtomic},
	{"WriteEmployeesCreateWithGrants", testWriteEmployeesCreate},
	{"ReissueIDRetiresOld", testReissueID},
	{"RevokeRoleGrant", testRevokeRoleGrant},
	{"WriteEmployeesRevokeScopedGrants", testRevokeScopedGrants},
	{"Audit", testAudit},
	{"RaceDepartmentMoves", testRaceDepartmentMoves},
}

// runAdmin runs the DirectoryAdmin subtests.
func runAdmin(t *testing.T, open func(t *testing.T, now func() time.Time) storage.Store) {
	t.Run("DirectoryAdmin", func(t *testing.T) {
		for _, tt := range adminTests {
			t.Run(tt.name, func(t *testing.T) {
				c := newClock()
				s := open(t, c.Now)
				withTimeout(t, func() { tt.run(t, s, c) })
			})
		}
	})
}

func testExternalID(t *testing.T, s adminStore, c *clock) {
	ctx := t.Context()
	seedOrg(t, s, c)
	e := employee(c, "sub-1", "HR012023001")
	e.ExternalID = "hris-0001"
	must(t, s.CreateEmployee(ctx, e, "", nil), "CreateEmployee")
	got, err := s.EmployeeByExternalID(ctx, "hris-0001")
	must(t, err, "EmployeeByExternalID")
	wantEqual(t, "EmployeeByExternalID", got, e)
	got, err = s.Employee(ctx, "sub-1")
	must(t, err, "Employee")
	wantEqual(t, "Employee", got, e)

	_, err = s.EmployeeByExternalID(ctx, "hris-0002")
	wantErr(t, err, storage.ErrNotFound, "EmployeeByExternalID missing")
	_, err = s.EmployeeByExternalID(ctx, "")
	wantErr(t, err, storage.ErrNotFound, "EmployeeByExternalID empty")

	dup := employee(c, "sub-2", "HR012023002")
	dup.ExternalID = "hris-0001"
	wantErr(t, s.CreateEmployee(ctx, dup, "", nil), storage.ErrConflict, "CreateEmployee duplicate external ID")
	// Several employees without an external ID are fine.
	must(t, s.CreateEmployee(ctx, employee(c, "sub-3", "HR012023003"), "", nil), "CreateEmployee no external ID")
	must(t, s.CreateEmployee(ctx, employee(c, "sub-4", "HR012023004"), "", nil), "CreateEmployee no external ID again")

	other, err := s.Employee(ctx, "sub-3")
	must(t, err, "Employee")
	other.ExternalID = "hris-0001"
	wantErr(t, s.UpdateEmployee(ctx, other), storage.ErrConflict, "UpdateEmployee to a taken external ID")
}

func testClientUpdateDelete(t *testing.T, s adminStore, c *clock) {
	ctx := t.Context()
	cl := fullClient(c, "hris")
	cl.ServiceRoles = []string{"hr", "scim"}
	must(t, s.CreateClient(ctx, cl), "CreateClient")
	got, err := s.Client(ctx, "hris")
	must(t, err, "Client")
	wantEqual(t, "Client with service roles", got, cl)

	cl.Name = "HR system"
	cl.ServiceRoles = []string{"auditor"}
	cl.AllowedRoles = []string{"hr"}
	cl.VisibleRoles = []string{"*"}
	must(t, s.UpdateClient(ctx, cl), "UpdateClient")
	got, err = s.Client(ctx, "hris")
	must(t, err, "Client")
	wantEqual(t, "Client after update", got, cl)

	missing := fullClient(c, "nope")
	wantErr(t, s.UpdateClient(ctx, missing), storage.ErrNotFound, "UpdateClient missing")
	must(t, s.DeleteClient(ctx, "hris"), "DeleteClient")
	_, err = s.Client(ctx, "hris")
	wantErr(t, err, storage.ErrNotFound, "Client after delete")
	must(t, s.DeleteClient(ctx, "hris"), "DeleteClient again (idempotent)")
}

const (
	deptFin = "0e6f5a1c-0000-4000-8000-000000000003"
	deptOps = "0e6f5a1c-0000-4000-8000-000000000004"
	deptGlx = "0e6f5a1c-0000-4000-8000-000000000005"
)

// seedTree is seedOrg plus FIN01 (root), OPS (child of ENG) and GLOBEX's
// root G01.
func seedTree(t *testing.T, s adminStore, c *clock) {
	t.Helper()
	ctx := t.Context()
	seedOrg(t, s, c)
	must(t, s.CreateDepartment(ctx, department(c, deptFin, "ACME", "FIN01", "")), "CreateDepartment FIN01")
	must(t, s.CreateDepartment(ctx, department(c, deptOps, "ACME", "OPS", deptEng)), "CreateDepartment OPS")
	must(t, s.CreateEntity(ctx, entity(c, "GLOBEX")), "CreateEntity GLOBEX")
	must(t, s.CreateDepartment(ctx, department(c, deptGlx, "GLOBEX", "G01", "")), "CreateDepartment G01")
}

func testDepartmentMove(t *testing.T, s adminStore, c *clock) {
	ctx := t.Context()
	seedTree(t, s, c)
	move := func(id, parent string) error {
		d, err := s.Department(ctx, id)
		must(t, err, "Department")
		d.ParentID = parent
		return s.UpdateDepartment(ctx, d)
	}
	// HR01 > ENG > OPS; FIN01.
	must(t, move(deptEng, deptFin), "move ENG (with OPS) under FIN01")
	got, err := s.Department(ctx, deptOps)
	must(t, err, "Department OPS")
	if got.ParentID != deptEng {
		t.Errorf("OPS parent after moving its parent: got %q, want ENG", got.ParentID)
	}
	tests := []struct {
		name       string
		id, parent string
		want       error
	}{
		{"under itself", deptFin, deptFin, storage.ErrConflict},
		{"under its child", deptFin, deptEng, storage.ErrConflict},
		{"under its grandchild", deptFin, deptOps, storage.ErrConflict},
		{"under another entity's department", deptHR, deptGlx, storage.ErrConflict},
		{"under a missing department", deptHR, "0e6f5a1c-0000-4000-8000-0000000000ff", storage.ErrConflict},
	}
	for _, tt := range tests {
		wantErr(t, move(tt.id, tt.parent), tt.want, tt.name)
	}
	must(t, move(deptEng, ""), "make ENG a root")
	d, err := s.Department(ctx, deptEng)
	must(t, err, "Department")
	if d.ParentID != "" {
		t.Errorf("ENG parent: got %q, want a root", d.ParentID)
	}
	d.Code, d.Name = "eng2", "Engineering"
	must(t, s.UpdateDepartment(ctx, d), "rename")
	got, err = s.DepartmentByCode(ctx, "ACME", "ENG2")
	must(t, err, "DepartmentByCode after rename")
	if got.Name != "Engineering" {
		t.Errorf("renamed department name: got %q", got.Name)
	}
	d.Code = "FIN01"
	wantErr(t, s.UpdateDepartment(ctx, d), storage.ErrConflict, "rename to a taken code")
	missing := department(c, "0e6f5a1c-0000-4000-8000-0000000000fe", "ACME", "X1", "")
	wantErr(t, s.UpdateDepartment(ctx, missing), storage.ErrNotFound, "update missing")
}

func testDepartmentDelete(t *testing.T, s adminStore, c *clock) {
	ctx := t.Context()
	seedTree(t, s, c)
	must(t, s.CreateEmployee(ctx, employee(c, "sub-1", "HR012023001"), "", nil), "CreateEmployee in HR01")
	wantErr(t, s.DeleteDepartment(ctx, deptEng), storage.ErrConflict, "delete with a child")
	wantErr(t, s.DeleteDepartment(ctx, deptHR), storage.ErrConflict, "delete with children and an employee")

	// An empty department that is the scope of role grants is refused
	// while they last (there is no foreign key: the grants would dangle,
	// unrevocable by code), with an error naming them.
	for _, role := range []string{"admin", "hr"} {
		must(t, s.GrantRole(ctx, &storage.RoleGrant{Subject: "sub-1", Role: role, DepartmentID: deptOps, CreatedAt: c.local(0)}), "GrantRole "+role)
	}
	err := s.DeleteDepartment(ctx, deptOps)
	wantErr(t, err, storage.ErrConflict, "delete the scope of role grants")
	if ie, ok := storage.AsInUse(err); !ok || !strings.Contains(ie.Error(), "OPS") || !strings.Contains(ie.Error(), "2 role grants") ||
		!strings.Contains(ie.Error(), "admin of HR012023001") || !strings.Contains(ie.Error(), "hr of HR012023001") {
		t.Errorf("delete the scope of role grants: %v, want an InUseError naming OPS and both grants", err)
	}
	if _, err := s.Department(ctx, deptOps); err != nil {
		t.Errorf("Department after the refused delete: %v", err)
	}
	must(t, s.RevokeRoleGrant(ctx, "sub-1", "admin", deptOps), "RevokeRoleGrant admin")
	must(t, s.RevokeRoleGrant(ctx, "sub-1", "hr", deptOps), "RevokeRoleGrant hr")

	must(t, s.DeleteDepartment(ctx, deptOps), "delete an empty leaf")
	_, err = s.Department(ctx, deptOps)
	wantErr(t, err, storage.ErrNotFound, "Department after delete")
	wantErr(t, s.DeleteDepartment(ctx, deptOps), storage.ErrNotFound, "delete missing")
}

func testSearchEmployees(t *testing.T, s adminStore, c *clock) {
	ctx := t.Context()
	seedTree(t, s, c)
	mk := func(sub, id, dept, name string, st storage.EmployeeStatus) {
		e := employee(c, sub, id)
		e.DepartmentID, e.Name, e.Status = dept, name, st
		e.ExternalID = "x-" + sub
		must(t, s.CreateEmployee(ctx, e, "", nil), "CreateEmployee "+id)
	}
	mk("s1", "HR012023001", deptHR, "Zhang Wei", storage.StatusActive)
	mk("s2", "HR012023002", deptHR, "Li Na", storage.StatusFrozen)
	mk("s3", "HR012024001", deptEng, "Wang 100%_Fang", storage.StatusActive)
	mk("s4", "FIN012023001", deptFin, "Zhao Lei", storage.StatusDeparted)
	mk("s5", "ENG2023001", deptEng, "zhang san", storage.StatusActive)

	ids := func(p *storage.EmployeePage) []string {
		var out []string
		for _, e := range p.Employees {
			out = append(out, e.EmployeeID)
		}
		return out
	}
	tests := []struct {
		name      string
		q         storage.EmployeeQuery
		want      []string
		wantTotal int
	}{
		{"everyone", storage.EmployeeQuery{}, []string{"ENG2023001", "FIN012023001", "HR012023001", "HR012023002", "HR012024001"}, 5},
		{"ID prefix, any case", storage.EmployeeQuery{IDPrefix: "hr012023"}, []string{"HR012023001", "HR012023002"}, 2},
		{"exact ID", storage.EmployeeQuery{EmployeeID: "hr012024001"}, []string{"HR012024001"}, 1},
		{"external ID", storage.EmployeeQuery{ExternalID: "x-s4"}, []string{"FIN012023001"}, 1},
		{"name substring, ASCII case folded", storage.EmployeeQuery{Name: "ZHANG"}, []string{"ENG2023001", "HR012023001"}, 2},
		{"name with LIKE wildcards is literal", storage.EmployeeQuery{Name: "100%_"}, []string{"HR012024001"}, 1},
		{"name % is literal too", storage.EmployeeQuery{Name: "%"}, []string{"HR012024001"}, 1},
		{"departments", storage.EmployeeQuery{DepartmentIDs: []string{deptEng, deptFin}}, []string{"ENG2023001", "FIN012023001", "HR012024001"}, 3},
		{"empty department list matches nothing", storage.EmployeeQuery{DepartmentIDs: []string{}}, nil, 0},
		{"status", storage.EmployeeQuery{Status: storage.StatusFrozen}, []string{"HR012023002"}, 1},
		{"entity", storage.EmployeeQuery{Entity: "globex"}, nil, 0},
		{"combined", storage.EmployeeQuery{DepartmentIDs: []string{deptHR, deptEng}, Status: storage.StatusActive, Name: "zhang"}, []string{"ENG2023001", "HR012023001"}, 2},
		{"limit", storage.EmployeeQuery{Limit: 2}, []string{"ENG2023001", "FIN012023001"}, 5},
		{"after (keyset)", storage.EmployeeQuery{After: "FIN012023001", Limit: 2}, []string{"HR012023001", "HR012023002"}, 5},
		{"offset", storage.EmployeeQuery{Offset: 3, Limit: 10}, []string{"HR012023002", "HR012024001"}, 5},
		{"offset without limit", storage.EmployeeQuery{Offset: 4}, []string{"HR012024001"}, 5},
	}
	for _, tt := range tests {
		got, err := s.SearchEmployees(ctx, tt.q)
		must(t, err, tt.name)
		if !slices.Equal(ids(got), tt.want) || got.Total != tt.wantTotal {
			t.Errorf("%s: got %v (total %d), want %v (total %d)", tt.name, ids(got), got.Total, tt.want, tt.wantTotal)
		}
	}
	p, err := s.SearchEmployees(ctx, storage.EmployeeQuery{EmployeeID: "HR012023001"})
	must(t, err, "SearchEmployees")
	want, err := s.Employee(ctx, "s1")
	must(t, err, "Employee")
	wantEqual(t, "searched employee", &p.Employees[0], want)
}

func testWriteEmployeesAtomic(t *testing.T, s adminStore, c *clock) {
	ctx := t.Context()
	seedOrg(t, s, c)
	must(t, s.CreateEmployee(ctx, employee(c, "sub-1", "HR012023001"), "", nil), "CreateEmployee")
	cur, err := s.Employee(ctx, "sub-1")
	must(t, err, "Employee")

	renamed := *cur
	renamed.Name = "Renamed"
	fresh := employee(c, "sub-2", "")
	stale := *cur
	stale.Version = 99
	ws := []storage.EmployeeWrite{
		{Employee: &renamed},
		{Employee: fresh, Create: true, SeqKey: "ACME/HR012023", MakeID: seqID("HR012023")},
		{Employee: &stale, Audit: &storage.AuditEvent{ID: "a1", At: c.local(0), Actor: "cli", Action: "employee.update"}},
	}
	wantErr(t, s.WriteEmployees(ctx, ws), storage.ErrConflict, "WriteEmployees with a stale last write")
	if renamed.Version != cur.Version || fresh.EmployeeID != "" {
		t.Errorf("failed batch changed its inputs: version %d (want %d), generated ID %q", renamed.Version, cur.Version, fresh.EmployeeID)
	}
	got, err := s.Employee(ctx, "sub-1")
	must(t, err, "Employee")
	wantEqual(t, "employee after failed batch", got, cur)
	_, err = s.Employee(ctx, "sub-2")
	wantErr(t, err, storage.ErrNotFound, "created employee of failed batch")
	ev, err := s.ListAudit(ctx, storage.AuditQuery{})
	must(t, err, "ListAudit")
	if len(ev) != 0 {
		t.Errorf("failed batch left %d audit events", len(ev))
	}

	// The same batch without the stale write goes through, and the
	// sequence number the failed batch used is handed out again.
	must(t, s.WriteEmployees(ctx, ws[:2]), "WriteEmployees")
	if fresh.EmployeeID != "HR012023002" {
		t.Errorf("generated ID: got %q, want HR012023002 (no gap after the failed batch)", fresh.EmployeeID)
	}
	if renamed.Version != cur.Version+1 {
		t.Errorf("updated version: got %d, want %d", renamed.Version, cur.Version+1)
	}
	got, err = s.Employee(ctx, "sub-1")
	must(t, err, "Employee")
	if got.Name != "Renamed" || got.Version != renamed.Version {
		t.Errorf("after batch: name %q version %d, want Renamed %d", got.Name, got.Version, renamed.Version)
	}
}

func testWriteEmployeesCreate(t *testing.T, s adminStore, c *clock) {
	ctx := t.Context()
	seedOrg(t, s, c)
	e := employee(c, "sub-1", "")
	e.ExternalID = "hris-1"
	w := storage.EmployeeWrite{
		Employee: e, Create: true, SeqKey: "ACME/HR012023", MakeID: seqID("HR012023"),
		Grants: []storage.RoleGrant{{Role: "employee", CreatedAt: c.local(0)}, {Role: "hr", DepartmentID: deptHR, CreatedAt: c.local(0)}},
		Audit:  &storage.AuditEvent{ID: "a1", At: c.local(0), Actor: "cli", Action: "employee.onboard", Reason: "new hire"},
	}
	must(t, s.WriteEmployees(ctx, []storage.EmployeeWrite{w}), "WriteEmployees")
	if e.EmployeeID != "HR012023001" {
		t.Errorf("generated ID: got %q", e.EmployeeID)
	}
	got, err := s.Employee(ctx, "sub-1")
	must(t, err, "Employee")
	wantEqual(t, "created employee", got, e)
	grants, err := s.RoleGrants(ctx, "sub-1")
	must(t, err, "RoleGrants")
	if len(grants) != 2 || grants[0].Role != "employee" || grants[1].Role != "hr" || grants[1].DepartmentID != deptHR || grants[1].Subject != "sub-1" {
		t.Errorf("grants: got %+v", grants)
	}
	ev, err := s.ListAudit(ctx, storage.AuditQuery{})
	must(t, err, "ListAudit")
	if len(ev) != 1 || ev[0].Target != "HR012023001" || ev[0].Reason != "new hire" {
		t.Errorf("audit: got %+v, want one event targeting the generated ID", ev)
	}
}

func testReissueID(t *testing.T, s adminStore, c *clock) {
	ctx := t.Context()
	seedTree(t, s, c)
	must(t, s.CreateEmployee(ctx, employee(c, "sub-1", "HR012023001"), "", nil), "CreateEmployee")
	e, err := s.Employee(ctx, "sub-1")
	must(t, err, "Employee")
	e.Entity, e.DepartmentID, e.EmployeeID = "GLOBEX", deptGlx, ""
	e.UpdatedAt = c.local(time.Hour)
	w := storage.EmployeeWrite{Employee: e, ReissueID: true, SeqKey: "GLOBEX/G01", MakeID: seqID("G01"), RetireReason: "transfer to GLOBEX"}
	must(t, s.WriteEmployees(ctx, []storage.EmployeeWrite{w}), "WriteEmployees reissue")
	if e.EmployeeID != "G01001" {
		t.Fatalf("new ID: got %q, want G01001", e.EmployeeID)
	}
	got, err := s.Employee(ctx, "sub-1")
	must(t, err, "Employee")
	wantEqual(t, "transferred employee", got, e)
	_, err = s.EmployeeByEmployeeID(ctx, "HR012023001")
	wantErr(t, err, storage.ErrNotFound, "old ID no longer finds anyone")

	hist, err := s.EmployeeIDHistory(ctx, "sub-1")
	must(t, err, "EmployeeIDHistory")
	wantEqual(t, "history", hist, []storage.EmployeeIDRecord{{EmployeeID: "HR012023001", Subject: "sub-1", Entity: "ACME", RetiredAt: c.local(time.Hour), Reason: "transfer to GLOBEX"}})

	// The retired ID is never issued again: not explicitly, not by update,
	// not by the sequence (which steps over it).
	wantErr(t, s.CreateEmployee(ctx, employee(c, "sub-2", "hr012023001"), "", nil), storage.ErrConflict, "CreateEmployee with a retired ID")
	other := employee(c, "sub-3", "HR012023002")
	must(t, s.CreateEmployee(ctx, other, "", nil), "CreateEmployee")
	other.EmployeeID = "HR012023001"
	wantErr(t, s.UpdateEmployee(ctx, other), storage.ErrConflict, "UpdateEmployee to a retired ID")
	gen := employee(c, "sub-4", "")
	must(t, s.CreateEmployee(ctx, gen, "ACME/HR012023", seqID("HR012023")), "CreateEmployee generated")
	if gen.EmployeeID != "HR012023003" {
		t.Errorf("generated after a retired and a taken ID: got %q, want HR012023003", gen.EmployeeID)
	}

	// Reissuing with an explicit ID that is taken fails whole.
	e2, err := s.Employee(ctx, "sub-1")
	must(t, err, "Employee")
	e2.EmployeeID = "HR012023002"
	wantErr(t, s.WriteEmployees(ctx, []storage.EmployeeWrite{{Employee: e2, ReissueID: true}}), storage.ErrConflict, "reissue to a taken ID")
	hist, err = s.EmployeeIDHistory(ctx, "sub-1")
	must(t, err, "EmployeeIDHistory")
	if len(hist) != 1 {
		t.Errorf("failed reissue left history %+v", hist)
	}
}

func testRevokeRoleGrant(t *testing.T, s adminStore, c *clock) {
	ctx := t.Context()
	seedOrg(t, s, c)
	must(t, s.CreateEmployee(ctx, employee(c, "sub-1", "HR012023001"), "", nil), "CreateEmployee")
	for _, d := range []string{"", deptHR, deptEng} {
		must(t, s.GrantRole(ctx, &storage.RoleGrant{Subject: "sub-1", Role: "hr", DepartmentID: d, CreatedAt: c.local(0)}), "GrantRole")
	}
	must(t, s.RevokeRoleGrant(ctx, "sub-1", "hr", deptHR), "RevokeRoleGrant")
	must(t, s.RevokeRoleGrant(ctx, "sub-1", "hr", deptHR), "RevokeRoleGrant again (idempotent)")
	got, err := s.RoleGrants(ctx, "sub-1")
	must(t, err, "RoleGrants")
	var scopes []string
	for _, g := range got {
		scopes = append(scopes, g.DepartmentID)
	}
	slices.Sort(scopes)
	if !slices.Equal(scopes, []string{"", deptEng}) {
		t.Errorf("scopes left: got %q, want whole directory and ENG", scopes)
	}
}

// A write with RevokeScopedGrants drops the employee's department-scoped
// grants only, audits each, and does nothing when the batch fails.
func testRevokeScopedGrants(t *testing.T, s adminStore, c *clock) {
	ctx := t.Context()
	seedTree(t, s, c)
	for _, sub := range []string{"sub-1", "sub-2"} {
		must(t, s.CreateEmployee(ctx, employee(c, sub, ""), "ACME/HR012023", seqID("HR012023")), "CreateEmployee")
	}
	grant := func(sub, role, dept string) {
		must(t, s.GrantRole(ctx, &storage.RoleGrant{Subject: sub, Role: role, DepartmentID: dept, CreatedAt: c.local(0)}), "GrantRole")
	}
	grant("sub-1", "employee", "")
	grant("sub-1", "auditor", "")
	grant("sub-1", "admin", deptHR)
	grant("sub-1", "hr", deptEng)
	grant("sub-2", "admin", deptHR)
	scopes := func(sub string) []string {
		gs, err := s.RoleGrants(ctx, sub)
		must(t, err, "RoleGrants")
		var out []string
		for _, g := range gs {
			out = append(out, g.Role+"@"+g.DepartmentID)
		}
		slices.Sort(out)
		return out
	}
	n := 0
	revokeAudit := func(g storage.RoleGrant) *storage.AuditEvent {
		n++
		return &storage.AuditEvent{ID: fmt.Sprintf("rv-%d", n), At: c.local(time.Hour), Actor: "cli", Action: "role.revoke",
			Reason: "transfer to GLOBEX", Detail: g.Role + "@" + g.DepartmentID}
	}
	transfer := func(version int64) (*storage.Employee, storage.EmployeeWrite) {
		e, err := s.Employee(ctx, "sub-1")
		must(t, err, "Employee")
		if version != 0 {
			e.Version = version
		}
		e.Entity, e.DepartmentID, e.EmployeeID = "GLOBEX", deptGlx, ""
		e.UpdatedAt = c.local(time.Hour)
		return e, storage.EmployeeWrite{Employee: e, ReissueID: true, SeqKey: "GLOBEX/G01", MakeID: seqID("G01"),
			RetireReason: "transfer to GLOBEX", RevokeScopedGrants: true, RevokeAudit: revokeAudit,
			Audit: &storage.AuditEvent{ID: fmt.Sprintf("tr-%d", version), At: c.local(time.Hour), Actor: "cli", Action: "employee.transfer"}}
	}
	before := scopes("sub-1")

	// A stale version fails the whole write: the grants stay.
	_, stale := transfer(99)
	wantErr(t, s.WriteEmployees(ctx, []storage.EmployeeWrite{stale}), storage.ErrConflict, "stale transfer")
	wantEqual(t, "grants after a failed write", scopes("sub-1"), before)

	e, w := transfer(0)
	must(t, s.WriteEmployees(ctx, []storage.EmployeeWrite{w}), "WriteEmployees")
	wantEqual(t, "grants left", scopes("sub-1"), []string{"auditor@", "employee@"})
	wantEqual(t, "other employee's grants", scopes("sub-2"), []string{"admin@" + deptHR})
	ev, err := s.ListAudit(ctx, storage.AuditQuery{Target: e.EmployeeID})
	must(t, err, "ListAudit")
	var got []string
	for _, x := range ev {
		got = append(got, x.Action+" "+x.Detail)
	}
	// Newest first; the revokes in (department, role) order before the write's own event.
	wantEqual(t, "audit", got, []string{"employee.transfer ", "role.revoke hr@" + deptEng, "role.revoke admin@" + deptHR})
}

func testAudit(t *testing.T, s adminStore, c *clock) {
	ctx := t.Context()
	var all []storage.AuditEvent
	for i := range 5 {
		ev := storage.AuditEvent{ID: fmt.Sprintf("ev-%d", i), At: c.local(time.Duration(i) * time.Second), Actor: "employee:HR012023001",
			Action: "employee.freeze", Target: []string{"A", "B"}[i%2], Reason: "理由 " + fmt.Sprint(i), Detail: `{"k":1}`}
		must(t, s.AppendAudit(ctx, &ev), "AppendAudit")
		all = append(all, ev)
	}
	wantErr(t, s.AppendAudit(ctx, &all[0]), storage.ErrConflict, "AppendAudit duplicate ID")
	slices.Reverse(all)
	got, err := s.ListAudit(ctx, storage.AuditQuery{})
	must(t, err, "ListAudit")
	wantEqual(t, "ListAudit newest first", got, all)
	got, err = s.ListAudit(ctx, storage.AuditQuery{Target: "A", Limit: 2})
	must(t, err, "ListAudit target")
	wantEqual(t, "ListAudit target A", got, []storage.AuditEvent{all[0], all[2]})
	got, err = s.ListAudit(ctx, storage.AuditQuery{Before: all[1].ID})
	must(t, err, "ListAudit before")
	wantEqual(t, "ListAudit before", got, all[2:])
}

// Two moves that would each be fine alone but together make a cycle (ENG
// under FIN01 and FIN01 under ENG): at most one may win.
func testRaceDepartmentMoves(t *testing.T, s adminStore, c *clock) {
	ctx := t.Context()
	seedTree(t, s, c)
	for range 10 {
		for _, id := range []string{deptEng, deptFin} {
			d, err := s.Department(ctx, id)
			must(t, err, "Department")
			d.ParentID = ""
			must(t, s.UpdateDepartment(ctx, d), "reset to root")
		}
		pairs := [][2]string{{deptEng, deptFin}, {deptFin, deptEng}}
		errs := race(2, func(i int) error {
			d, err := s.Department(context.WithoutCancel(ctx), pairs[i][0])
			if err != nil {
				return err
			}
			d.ParentID = pairs[i][1]
			return s.UpdateDepartment(ctx, d)
		})
		wantOneWinner(t, errs, storage.ErrConflict)
	}
}
