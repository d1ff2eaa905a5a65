package admin_test

import (
	"net/http"
	"strings"
	"testing"
)

// The confirmed takeover: an hr officer reset an administrator's password
// and TOTP, read the generated password from the answer, signed in as
// them and granted itself admin. Each step is now refused with 403 E-102,
// and no password leaves the API.
func TestHRCannotTakeOverAnAdministrator(t *testing.T) {
	f := newFixture(t)
	itAdmin := f.addPerson("itAdmin", "FIN01", [2]string{"admin", ""})
	A := "/admin/api/v1/employees/" + itAdmin
	for _, hr := range []string{"hrGlobal", "hrScoped", "svcHR"} {
		for _, c := range []struct {
			method, path string
			body         any
		}{
			{"POST", A + "/reset-password", map[string]string{"reason": "forgot"}},
			{"POST", A + "/reset-password", map[string]string{"reason": "forgot", "password": "a brand new passphrase"}},
			{"POST", A + "/reset-totp", map[string]string{"reason": "lost phone"}},
			{"POST", A + "/freeze", map[string]string{"reason": "x"}},
			{"POST", A + "/leave", map[string]string{"reason": "x"}},
			{"PATCH", A, map[string]any{"email": "attacker@evil.example", "version": 1}},
			{"POST", A + "/transfer", map[string]string{"department": "HR02"}},
			{"POST", A + "/roles", map[string]string{"role": "erp:approver"}},
			{"DELETE", A + "/roles/admin?reason=x", nil},
		} {
			st, body := f.do(hr, c.method, c.path, c.body)
			if st != http.StatusForbidden || body["code"] != "E-102" {
				t.Errorf("%s %s %s: %d %v, want 403 E-102", hr, c.method, c.path, st, body)
			}
			if body["password"] != nil {
				t.Errorf("%s %s %s: the answer carries a password", hr, c.method, c.path)
			}
		}
	}
	// … and cannot make itself (or anyone) an administrator, or another
	// hr officer: privileged roles are granted by admins only.
	for _, role := range []string{"admin", "hr", "auditor", "scim"} {
		for _, to := range []string{"hrGlobal", "target"} {
			st, body := f.do("hrGlobal", "POST", "/admin/api/v1/employees/"+f.subs[to]+"/roles", map[string]string{"role": role})
			if st != http.StatusForbidden || body["code"] != "E-102" {
				t.Errorf("hrGlobal granting %s to %s: %d %v, want 403 E-102", role, to, st, body)
			}
		}
	}
	// hr acting on itself is acting on an hr officer: refused too.
	if st, _ := f.do("hrGlobal", "POST", "/admin/api/v1/employees/"+f.subs["hrGlobal"]+"/roles", map[string]string{"role": "erp:approver"}); st != http.StatusForbidden {
		t.Errorf("hr granting itself an app role: %d, want 403", st)
	}
	// The administrator is untouched.
	if st, body := f.do("adminGlobal", "GET", A, nil); st != http.StatusOK || body["status"] != "active" || body["email"] != nil || body["version"] != float64(1) {
		t.Errorf("administrator after the attempts: %d %v", st, body)
	}
	if st, body := f.do("adminGlobal", "GET", A+"/roles", nil); st != http.StatusOK || !strings.Contains(toJSON(t, body), `"admin"`) {
		t.Errorf("administrator's roles: %d %v", st, body)
	}

	// hr still does its job on ordinary employees, app roles included.
	T := "/admin/api/v1/employees/" + f.subs["target"]
	if st, body := f.do("hrGlobal", "POST", T+"/reset-password", map[string]string{"reason": "forgot"}); st != http.StatusOK || body["password"] == nil {
		t.Errorf("hr resetting an ordinary employee: %d %v, want 200 with the generated password", st, body)
	}
	if st, body := f.do("hrScoped", "POST", T+"/roles", map[string]string{"role": "erp:approver", "department": "HR02"}); st != http.StatusOK {
		t.Errorf("hr granting an app role in scope: %d %v", st, body)
	}
	// A whole-directory admin may reset the administrator and gets the
	// generated password; an admin of a subtree may not.
	if st, body := f.do("adminScoped", "POST", A+"/reset-password", map[string]string{"reason": "forgot"}); st != http.StatusForbidden || body["password"] != nil {
		t.Errorf("scoped admin resetting a global admin: %d %v, want 403 without a password", st, body)
	}
	if st, body := f.do("adminGlobal", "POST", A+"/reset-password", map[string]string{"reason": "forgot"}); st != http.StatusOK || body["password"] == nil {
		t.Errorf("global admin resetting an admin: %d %v, want 200 with the password", st, body)
	}
}

// A scoped administrator acts on holders of privileged grants inside
// its subtree, never on a grant wider than its own.
func TestScopedAdminAndWiderGrants(t *testing.T) {
	f := newFixture(t)
	subAdmin := f.addPerson("subAdmin", "HR02", [2]string{"admin", "HR02"}) // inside adminScoped's HR01
	peer := f.addPerson("peer", "HR02", [2]string{"admin", "HR01"})         // the same scope as adminScoped
	wide := f.addPerson("wide", "HR02", [2]string{"hr", ""})                // hr over the whole directory, sitting in HR02
	for _, c := range []struct {
		sub  string
		want int
	}{{subAdmin, http.StatusOK}, {peer, http.StatusOK}, {wide, http.StatusForbidden}} {
		st, body := f.do("adminScoped", "POST", "/admin/api/v1/employees/"+c.sub+"/freeze", map[string]string{"reason": "audit"})
		if st != c.want {
			t.Errorf("adminScoped freezing %s: %d %v, want %d", c.sub, st, body, c.want)
		}
	}
	// Granting: admin over HR02 may be handed out inside HR01, not above.
	if st, body := f.do("adminScoped", "POST", "/admin/api/v1/employees/"+f.subs["target"]+"/roles", map[string]string{"role": "admin", "department": "HR02"}); st != http.StatusOK {
		t.Errorf("scoped admin granting admin over HR02: %d %v", st, body)
	}
	for _, dept := range []string{"", "FIN01"} {
		if st, _ := f.do("adminScoped", "POST", "/admin/api/v1/employees/"+f.subs["target"]+"/roles", map[string]string{"role": "admin", "department": dept}); st != http.StatusForbidden && st != http.StatusBadRequest {
			t.Errorf("scoped admin granting admin over %q: %d, want refused", dept, st)
		}
	}
}

// An import may not change a privileged employee the importer does not
// dominate: the row fails with E-102 and nothing is written. A row that
// leaves them as they are is fine (HR files list everyone).
func TestImportRefusesPrivilegedRows(t *testing.T) {
	f := newFixture(t)
	f.addPerson("itAdmin", "HR02", [2]string{"admin", ""})
	same := "external_id,entity,department,name\next-itAdmin,ACME,HR02,itAdmin\n"
	if st, body := f.do("hrGlobal", "POST", "/admin/api/v1/imports", same); st != http.StatusOK {
		t.Errorf("unchanged admin row: %d %v, want 200", st, body)
	}
	for _, csv := range []string{
		"external_id,entity,department,name,status\next-itAdmin,ACME,HR02,itAdmin,frozen\n",
		"external_id,entity,department,name,email\next-itAdmin,ACME,HR02,itAdmin,attacker@evil.example\n",
		"external_id,entity,department,name\next-itAdmin,ACME,FIN01,itAdmin\n",
	} {
		st, body := f.do("hrGlobal", "POST", "/admin/api/v1/imports", csv)
		if st != http.StatusUnprocessableEntity || !strings.Contains(toJSON(t, body), `"E-102"`) {
			t.Errorf("hr importing %q: %d %v, want 422 with E-102", csv, st, body)
		}
		if st, _ := f.do("adminGlobal", "POST", "/admin/api/v1/imports?dry_run=true", csv); st != http.StatusOK {
			t.Errorf("admin dry-running %q: %d, want 200", csv, st)
		}
	}
	if st, body := f.do("adminGlobal", "GET", "/admin/api/v1/employees/"+f.subs["itAdmin"], nil); st != http.StatusOK || body["status"] != "active" || body["email"] != nil {
		t.Errorf("admin after refused imports: %d %v", st, body)
	}
}

// A provisioning service account (scim or hr) manages ordinary
// employees only: an employee holding a privileged role is read-only to
// it; one with the admin service role may change them.
func TestSCIMCannotTouchPrivilegedAccounts(t *testing.T) {
	f := newFixture(t)
	itAdmin := f.addPerson("itAdmin", "HR02", [2]string{"admin", ""})
	U := "/scim/v2/Users/" + itAdmin
	deactivate := map[string]any{"schemas": []string{"urn:ietf:params:scim:api:messages:2.0:PatchOp"},
		"Operations": []map[string]any{{"op": "replace", "path": "active", "value": false}}}
	put := map[string]any{"schemas": []string{"urn:ietf:params:scim:schemas:core:2.0:User"}, "userName": "x", "displayName": "Renamed",
		"emails": []map[string]any{{"value": "attacker@evil.example", "primary": true}}}
	for _, who := range []string{"svcSCIM", "svcHR", "hrGlobal"} {
		if st, _ := f.do(who, "GET", U, nil); st != http.StatusOK {
			t.Errorf("%s reading an admin over SCIM: %d, want 200", who, st)
		}
		for _, c := range []struct {
			method string
			body   any
		}{{"PATCH", deactivate}, {"PUT", put}, {"DELETE", nil}} {
			st, body := f.do(who, c.method, U, c.body)
			detail, _ := body["detail"].(string)
			if st != http.StatusForbidden || !strings.HasPrefix(detail, "E-102") {
				t.Errorf("%s %s on an admin: %d %v, want 403 E-102", who, c.method, st, body)
			}
		}
	}
	if st, body := f.do("adminGlobal", "GET", "/admin/api/v1/employees/"+itAdmin, nil); body["status"] != "active" || body["name"] != "itAdmin" {
		t.Errorf("admin after refused SCIM writes: %d %v", st, body)
	}
	// Ordinary employees are still provisioned as before …
	if st, body := f.do("svcSCIM", "PATCH", "/scim/v2/Users/"+f.subs["target"], deactivate); st != http.StatusOK || body["active"] != false {
		t.Errorf("svcSCIM deactivating an ordinary employee: %d %v", st, body)
	}
	// … and an admin service account may deactivate the administrator.
	if st, body := f.do("svcAdmin", "PATCH", U, deactivate); st != http.StatusOK || body["active"] != false {
		t.Errorf("svcAdmin deactivating an admin: %d %v", st, body)
	}
}
