package admin_test

import (
	"net/http"
	"net/url"
	"testing"

	"github.com/gongpai/gongpai/storage"
)

const enterprise = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"

// TestSCIMProvisioningRound is what an HR system or an Okta/Entra-style
// provisioner does: discover, create, find by userName, deactivate, move.
func TestSCIMProvisioningRound(t *testing.T) {
	f := newFixture(t)
	ctx := t.Context()
	const who = "svcSCIM"

	for _, p := range []string{"/scim/v2/ServiceProviderConfig", "/scim/v2/Schemas", "/scim/v2/ResourceTypes", "/scim/v2/ResourceTypes/User", "/scim/v2/Schemas/" + enterprise} {
		if st, body := f.do("anonymous", "GET", p, nil); st != http.StatusOK || body == nil {
			t.Errorf("GET %s: %d", p, st)
		}
	}
	_, spc := f.do("anonymous", "GET", "/scim/v2/ServiceProviderConfig", nil)
	if spc["patch"].(map[string]any)["supported"] != true || spc["filter"].(map[string]any)["supported"] != true {
		t.Errorf("ServiceProviderConfig: %v", spc)
	}

	// Create.
	st, u := f.do(who, "POST", "/scim/v2/Users", map[string]any{
		"schemas":    []string{"urn:ietf:params:scim:schemas:core:2.0:User", enterprise},
		"externalId": "okta-00u1", "userName": "", "name": map[string]string{"formatted": "Chen Jing"},
		"emails": []map[string]any{{"value": "chen.jing@acme.example", "type": "work", "primary": true}},
		"active": true, enterprise: map[string]string{"organization": "ACME", "department": "HR02"},
	})
	if st != http.StatusCreated {
		t.Fatalf("create: %d %v", st, u)
	}
	id, _ := u["id"].(string)
	userName, _ := u["userName"].(string)
	if id == "" || userName == "" || u["active"] != true || u[enterprise].(map[string]any)["department"] != "HR02" {
		t.Fatalf("created user: %v", u)
	}
	if st, _ := f.do(who, "POST", "/scim/v2/Users", map[string]any{"externalId": "okta-00u1", "displayName": "Dup", enterprise: map[string]string{"department": "HR02"}}); st != http.StatusConflict {
		t.Errorf("duplicate externalId: %d, want 409", st)
	}

	// Filter by userName (any case), and a few other filters.
	filters := []struct {
		filter string
		want   int
	}{
		{`userName eq "` + userName + `"`, 1},
		{`userName eq "` + lower(userName) + `"`, 1},
		{`externalId eq "okta-00u1" and active eq true`, 1},
		{`emails[type eq "work" and value co "chen"]`, 1},
		{`urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department eq "HR02"`, 2},
		{`userName eq "NOPE"`, 0},
		{`not (active eq true)`, 0},
	}
	for _, tt := range filters {
		st, list := f.do(who, "GET", "/scim/v2/Users?filter="+url.QueryEscape(tt.filter), nil)
		if st != http.StatusOK || int(list["totalResults"].(float64)) != tt.want {
			t.Errorf("filter %s: %d %v, want %d results", tt.filter, st, list["totalResults"], tt.want)
		}
	}
	if st, body := f.do(who, "GET", "/scim/v2/Users?filter="+url.QueryEscape(`userName eq`), nil); st != http.StatusBadRequest || body["scimType"] != "invalidFilter" {
		t.Errorf("bad filter: %d %v", st, body)
	}
	// Pagination.
	st, page := f.do(who, "GET", "/scim/v2/Users?startIndex=2&count=3", nil)
	if st != http.StatusOK || page["itemsPerPage"].(float64) != 3 || page["startIndex"].(float64) != 2 || page["totalResults"].(float64) != 8 {
		t.Errorf("page: %d %v %v %v", st, page["itemsPerPage"], page["startIndex"], page["totalResults"])
	}

	// PATCH active=false: frozen.
	f.signIn(t, id)
	patch := func(ops ...map[string]any) (int, map[string]any) {
		return f.do(who, "PATCH", "/scim/v2/Users/"+id, map[string]any{"schemas": []string{"urn:ietf:params:scim:api:messages:2.0:PatchOp"}, "Operations": ops})
	}
	if st, u := patch(map[string]any{"op": "replace", "path": "active", "value": false}); st != http.StatusOK || u["active"] != false {
		t.Fatalf("PATCH active=false: %d %v", st, u)
	}
	e, err := f.st.Employee(ctx, id)
	if err != nil || e.Status != storage.StatusFrozen {
		t.Fatalf("after PATCH active=false: %+v %v, want frozen", e, err)
	}
	if ss, _ := f.st.SessionsOfSubject(ctx, id); len(ss) != 0 {
		t.Errorf("frozen by SCIM but %d sessions left", len(ss))
	}
	// Entra sends "False" as a string and no path.
	if st, _ := patch(map[string]any{"op": "Replace", "value": map[string]any{"active": "False"}}); st != http.StatusOK {
		t.Errorf("Entra-style PATCH: %d", st)
	}

	// PATCH department: a transfer.
	if st, u := patch(map[string]any{"op": "replace", "path": enterprise + ":department", "value": "FIN01"}); st != http.StatusOK || u[enterprise].(map[string]any)["department"] != "FIN01" {
		t.Fatalf("PATCH department: %d %v", st, u)
	}
	e, _ = f.st.Employee(ctx, id)
	if e.DepartmentID != f.depts["FIN01"] || e.Status != storage.StatusFrozen {
		t.Errorf("after PATCH department: dept %s status %s", e.DepartmentID, e.Status)
	}
	ev, _ := f.st.ListAudit(ctx, storage.AuditQuery{Target: e.EmployeeID})
	if len(ev) == 0 || ev[0].Action != "employee.transfer" || ev[0].Actor != "client:svcscim" {
		t.Errorf("audit of the SCIM transfer: %+v", ev)
	}
	// Reactivate and rename in one PATCH.
	if st, u := patch(map[string]any{"op": "replace", "path": "active", "value": true}, map[string]any{"op": "replace", "path": "name.formatted", "value": "Chen Jing (Finance)"}); st != http.StatusOK || u["active"] != true || u["displayName"] != "Chen Jing (Finance)" {
		t.Errorf("PATCH active=true + name: %d %v", st, u)
	}
	if st, body := patch(map[string]any{"op": "replace", "path": "userName", "value": "X"}); st != http.StatusBadRequest {
		t.Errorf("PATCH userName: %d %v, want 400", st, body)
	}
	// Stale If-Match.
	st, _ = f.do(who, "PATCH", "/scim/v2/Users/"+id, map[string]any{"schemas": []string{"urn:ietf:params:scim:api:messages:2.0:PatchOp"},
		"Operations": []map[string]any{{"op": "replace", "path": "title", "value": "x"}}}, "If-Match", `W/"1"`)
	if st != http.StatusPreconditionFailed {
		t.Errorf("stale If-Match: %d, want 412", st)
	}
	// Groups are departments.
	st, groups := f.do(who, "GET", "/scim/v2/Groups?filter="+url.QueryEscape(`displayName eq "FIN01 dept"`), nil)
	if st != http.StatusOK || groups["totalResults"].(float64) != 1 {
		t.Fatalf("groups: %d %v", st, groups)
	}
	if st, g := f.do(who, "GET", "/scim/v2/Groups/"+f.depts["FIN01"], nil); st != http.StatusOK || len(g["members"].([]any)) != 4 {
		t.Errorf("group FIN01: %d %v", st, g["members"])
	}
	// DELETE: departed, and gone for SCIM.
	if st, _ := f.do(who, "DELETE", "/scim/v2/Users/"+id, nil); st != http.StatusNoContent {
		t.Errorf("DELETE: %d", st)
	}
	if st, _ := f.do(who, "GET", "/scim/v2/Users/"+id, nil); st != http.StatusNotFound {
		t.Errorf("GET after DELETE: %d, want 404", st)
	}
	if e, _ := f.st.Employee(ctx, id); e.Status != storage.StatusDeparted {
		t.Errorf("after DELETE: %s, want departed", e.Status)
	}
}

func lower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c >= 'A' && c <= 'Z' {
			b[i] = c + 32
		}
	}
	return string(b)
}

// signIn gives subject a live SSO session.
func (f *fixture) signIn(t *testing.T, subject string) {
	t.Helper()
	now := timeNow()
	if err := f.st.CreateSession(t.Context(), &storage.Session{ID: "sess-" + subject, Subject: subject, AuthTime: now, CreatedAt: now, ExpiresAt: now.Add(3600e9)}); err != nil {
		t.Fatal(err)
	}
}
