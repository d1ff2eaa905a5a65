package directory_test

import (
	"encoding/json"
	"slices"
	"testing"

	"github.com/gongpai/gongpai/directory"
	"github.com/gongpai/gongpai/storage"
)

// grantsOf lists subject's grants as "role@DEPTCODE" ("role@" for the
// whole directory), sorted.
func (f *mgrFixture) grantsOf(t *testing.T, subject string) []string {
	t.Helper()
	gs, err := f.st.RoleGrants(t.Context(), subject)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, g := range gs {
		code := ""
		if g.DepartmentID != "" {
			code = g.DepartmentID
			if d, err := f.st.Department(t.Context(), g.DepartmentID); err == nil {
				code = d.Code
			}
		}
		out = append(out, g.Role+"@"+code)
	}
	slices.Sort(out)
	return out
}

// grantScoped gives subject admin over ACME/HR01, hr over ACME/HR02 and
// auditor over the whole directory.
func (f *mgrFixture) grantScoped(t *testing.T, subject string) {
	t.Helper()
	ctx := t.Context()
	for _, g := range [][2]string{{"admin", "HR01"}, {"hr", "HR02"}, {"auditor", ""}} {
		dept := ""
		if g[1] != "" {
			d, err := f.st.DepartmentByCode(ctx, "ACME", g[1])
			if err != nil {
				t.Fatal(err)
			}
			dept = d.ID
		}
		if err := f.m.GrantRole(ctx, "test", subject, g[0], dept); err != nil {
			t.Fatal(err)
		}
	}
}

// revokesOf returns the role.revoke events targeting employeeID as
// "role@DEPTCODE reason", sorted.
func (f *mgrFixture) revokesOf(t *testing.T, employeeID string) []string {
	t.Helper()
	ev, err := f.st.ListAudit(t.Context(), storage.AuditQuery{Target: employeeID})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ev {
		if e.Action != "role.revoke" {
			continue
		}
		var d map[string]string
		if err := json.Unmarshal([]byte(e.Detail), &d); err != nil {
			t.Fatal(err)
		}
		code := d["department_id"]
		if dd, err := f.st.Department(t.Context(), code); err == nil {
			code = dd.Code
		}
		out = append(out, d["role"]+"@"+code+" "+e.Reason)
	}
	slices.Sort(out)
	return out
}

func TestTransferAcrossEntitiesRevokesScopedGrants(t *testing.T) {
	f := newMgrFixture(t)
	ctx := t.Context()
	e := f.onboard(t)
	f.grantScoped(t, e.Subject)
	all := []string{"admin@HR01", "auditor@", "employee@", "hr@HR02"}
	if got := f.grantsOf(t, e.Subject); !slices.Equal(got, all) {
		t.Fatalf("grants before: got %v, want %v", got, all)
	}

	// Within the entity the scoped grants stay.
	if _, err := f.m.Transfer(ctx, "hr", e.Subject, 0, "", "FIN01", ""); err != nil {
		t.Fatal(err)
	}
	if got := f.grantsOf(t, e.Subject); !slices.Equal(got, all) {
		t.Errorf("grants after an in-entity transfer: got %v, want %v", got, all)
	}

	// To GLOBEX they go, each audited; whole-directory grants stay.
	moved, err := f.m.Transfer(ctx, "hr", e.Subject, 0, "GLOBEX", "OPS", "")
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"auditor@", "employee@"}; !slices.Equal(f.grantsOf(t, e.Subject), want) {
		t.Errorf("grants after a cross-entity transfer: got %v, want %v", f.grantsOf(t, e.Subject), want)
	}
	want := []string{"admin@HR01 transfer to GLOBEX", "hr@HR02 transfer to GLOBEX"}
	if got := f.revokesOf(t, e.EmployeeID); !slices.Equal(got, want) {
		t.Errorf("revoke audit under the old ID %s: got %v, want %v", e.EmployeeID, got, want)
	}
	if got := f.revokesOf(t, moved.EmployeeID); len(got) != 0 {
		t.Errorf("revoke audit under the new ID: got %v", got)
	}
}

func TestImportTransferAcrossEntitiesRevokesScopedGrants(t *testing.T) {
	f := newMgrFixture(t)
	ctx := t.Context()
	if r := f.importCSV(t, importHeader+"hr-1,,ACME,HR01,Li Na,,,2023-05-02,\n", directory.ImportOptions{}); !r.Applied || len(r.Errors) > 0 {
		t.Fatalf("import: %+v", r)
	}
	e, err := f.st.EmployeeByExternalID(ctx, "hr-1")
	if err != nil {
		t.Fatal(err)
	}
	f.grantScoped(t, e.Subject)
	// Same entity, new department: grants stay.
	f.importCSV(t, importHeader+"hr-1,,ACME,FIN01,Li Na,,,2023-05-02,\n", directory.ImportOptions{})
	if got := f.grantsOf(t, e.Subject); len(got) != 4 {
		t.Errorf("grants after an in-entity import transfer: got %v", got)
	}
	if r := f.importCSV(t, importHeader+"hr-1,,GLOBEX,OPS,Li Na,,,2023-05-02,\n", directory.ImportOptions{}); !r.Applied || len(r.Errors) > 0 {
		t.Fatalf("cross-entity import: %+v", r)
	}
	if got, want := f.grantsOf(t, e.Subject), []string{"auditor@", "employee@"}; !slices.Equal(got, want) {
		t.Errorf("grants after a cross-entity import: got %v, want %v", got, want)
	}
	want := []string{"admin@HR01 transfer to GLOBEX", "hr@HR02 transfer to GLOBEX"}
	if got := f.revokesOf(t, e.EmployeeID); !slices.Equal(got, want) {
		t.Errorf("revoke audit: got %v, want %v", got, want)
	}
}
