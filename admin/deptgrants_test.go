package admin_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gongpai/gongpai/storage"
)

// A department that is the scope of role grants cannot be deleted (the
// grants would dangle), and the refusal names them; once they are
// revoked it can.
func TestDeleteDepartmentRefusedWhileGrantsReferToIt(t *testing.T) {
	f := newFixture(t)
	tmp := f.depts["TMP1"]
	if st, body := f.do("adminGlobal", "POST", "/admin/api/v1/employees/"+f.subs["target"]+"/roles", map[string]any{"role": "hr", "department": "TMP1"}); st != http.StatusOK {
		t.Fatalf("grant hr over TMP1: %d %v", st, body)
	}
	st, body := f.do("adminGlobal", "DELETE", "/admin/api/v1/departments/"+tmp+"?reason=reorg", nil)
	msg, _ := body["message"].(string)
	if st != http.StatusConflict || body["code"] != "E-205" || !strings.Contains(msg, "TMP1") || !strings.Contains(msg, "hr of ") {
		t.Fatalf("delete TMP1 with a grant scoped to it: %d %v, want 409 E-205 naming the grant", st, body)
	}
	if st, body := f.do("adminGlobal", "DELETE", "/admin/api/v1/employees/"+f.subs["target"]+"/roles/hr?department=TMP1&reason=reorg", nil); st != http.StatusNoContent {
		t.Fatalf("revoke: %d %v", st, body)
	}
	if st, body := f.do("adminGlobal", "DELETE", "/admin/api/v1/departments/"+tmp+"?reason=reorg", nil); st != http.StatusNoContent {
		t.Errorf("delete TMP1 once the grant is gone: %d %v", st, body)
	}
}

// A grant whose department cannot be named by code in the employee's
// entity — one of another entity (a cross-entity transfer), or one that
// no longer exists (deleted before deletions were refused) — is revoked by
// the department ID it records; over a department that is gone only an
// administrator of the whole directory may.
func TestRevokeGrantByDepartmentID(t *testing.T) {
	f := newFixture(t)
	ctx := t.Context()
	target := f.subs["target"]
	if _, err := f.m.CreateEntity(ctx, "test", "BETA", "Beta Ltd", "B{seq:4}"); err != nil {
		t.Fatal(err)
	}
	ops, err := f.m.CreateDepartment(ctx, "test", "BETA", "OPS", "Operations", "")
	if err != nil {
		t.Fatal(err)
	}
	const gone = "0e6f5a1c-0000-4000-8000-00000000dead"
	for _, d := range []string{ops.ID, gone} {
		if err := f.st.GrantRole(ctx, &storage.RoleGrant{Subject: target, Role: "employee", DepartmentID: d, CreatedAt: time.Now()}); err != nil {
			t.Fatal(err)
		}
	}
	base := "/admin/api/v1/employees/" + target + "/roles/employee?reason=cleanup&"
	if st, body := f.do("adminGlobal", "DELETE", base+"department=OPS", nil); st != http.StatusBadRequest {
		t.Errorf("by the code of another entity's department: %d %v, want 400", st, body)
	}
	if st, body := f.do("adminGlobal", "DELETE", base+"department_id="+gone[:len(gone)-1]+"f", nil); st != http.StatusBadRequest || body["field"] != "department_id" {
		t.Errorf("an ID no grant has: %d %v, want 400 E-201 department_id", st, body)
	}
	if st, body := f.do("adminScoped", "DELETE", base+"department_id="+gone, nil); st != http.StatusForbidden {
		t.Errorf("a scoped admin revoking a grant over a deleted department: %d %v, want 403", st, body)
	}
	if st, body := f.do("adminGlobal", "DELETE", base+"department="+ops.ID, nil); st != http.StatusNoContent {
		t.Errorf("by ID (department=) of another entity's department: %d %v", st, body)
	}
	if st, body := f.do("adminGlobal", "DELETE", base+"department_id="+gone, nil); st != http.StatusNoContent {
		t.Errorf("by department_id of a deleted department: %d %v", st, body)
	}
	gs, err := f.st.RoleGrants(ctx, target)
	if err != nil {
		t.Fatal(err)
	}
	for _, g := range gs {
		if g.DepartmentID == ops.ID || g.DepartmentID == gone {
			t.Errorf("grant left: %+v", g)
		}
	}
}
