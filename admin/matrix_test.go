package admin_test

import (
	"net/http"
	"slices"
	"strings"
	"testing"
)

var principals = []string{"anonymous", "badToken", "employee", "hrScoped", "hrGlobal", "adminScoped", "adminGlobal", "auditor", "svcSCIM", "svcHR"}

// Role sets used by the table.
var (
	authenticated = []string{"employee", "hrScoped", "hrGlobal", "adminScoped", "adminGlobal", "auditor", "svcSCIM", "svcHR"}
	orgReaders    = []string{"hrScoped", "hrGlobal", "adminScoped", "adminGlobal", "auditor", "svcSCIM", "svcHR"}
	peopleReaders = []string{"hrScoped", "hrGlobal", "adminScoped", "adminGlobal", "auditor", "svcHR"}
	peopleWriters = []string{"hrScoped", "hrGlobal", "adminScoped", "adminGlobal", "svcHR"}
	globalWriters = []string{"hrGlobal", "adminGlobal", "svcHR"}
	admins        = []string{"adminScoped", "adminGlobal"}
	globalAdmin   = []string{"adminGlobal"}
	clientReaders = []string{"adminGlobal", "auditor"}
	scimUsers     = []string{"hrGlobal", "adminGlobal", "svcSCIM", "svcHR"}
)

func plus(a []string, more ...string) []string { return append(slices.Clone(a), more...) }

// TestPermissionMatrix calls every admin endpoint as every kind of caller
// and checks the answer is allowed or 403 E-102 (401 E-101 without a
// valid token). The target employee is in HR02, inside HR01, where the
// scoped hr and admin hold their roles; "employee" (no admin role) is in
// FIN01. Each principal gets a fresh directory, and the calls run in an
// order where the destructive ones come last.
func TestPermissionMatrix(t *testing.T) {
	type call struct {
		method, path string
		body         any
		allowed      []string
	}
	calls := func(f *fixture) []call {
		T := "/admin/api/v1/employees/" + f.subs["target"]
		self := "/admin/api/v1/employees/" + f.subs["employee"]
		csv := "external_id,entity,department,name\next-new,ACME,HR02,New Hire\n"
		return []call{
			{"GET", "/admin/api/v1/me", nil, authenticated},
			{"GET", "/admin/api/v1/entities", nil, orgReaders},
			{"POST", "/admin/api/v1/entities", map[string]string{"code": "BETA", "name": "Beta", "id_rule": "{seq:4}"}, globalAdmin},
			{"GET", "/admin/api/v1/entities/ACME", nil, orgReaders},
			{"GET", "/admin/api/v1/entities/ACME/departments", nil, orgReaders},
			{"POST", "/admin/api/v1/departments", map[string]string{"entity": "ACME", "code": "NEW1", "name": "New", "parent": "HR01"}, admins},
			{"POST", "/admin/api/v1/departments", map[string]string{"entity": "ACME", "code": "ROOT2", "name": "Root"}, globalAdmin},
			{"GET", "/admin/api/v1/departments/" + f.depts["HR02"], nil, orgReaders},
			{"PATCH", "/admin/api/v1/departments/" + f.depts["HR02"], map[string]string{"name": "People Ops"}, admins},
			{"PATCH", "/admin/api/v1/departments/" + f.depts["FIN01"], map[string]string{"name": "Money"}, globalAdmin},
			{"DELETE", "/admin/api/v1/departments/" + f.depts["TMP1"] + "?reason=reorg", nil, admins},
			{"GET", "/admin/api/v1/employees", nil, peopleReaders},
			{"GET", "/admin/api/v1/employees?entity=ACME&department=HR01&status=active", nil, peopleReaders},
			{"POST", "/admin/api/v1/employees", map[string]string{"entity": "ACME", "department": "HR02", "name": "Onboarded"}, peopleWriters},
			{"POST", "/admin/api/v1/employees", map[string]string{"entity": "ACME", "department": "FIN01", "name": "Onboarded"}, globalWriters},
			{"GET", T, nil, peopleReaders},
			{"GET", self, nil, plus(clientReaders, "employee", "hrGlobal", "svcHR")},
			{"GET", self + "/history", nil, plus(clientReaders, "employee", "hrGlobal", "svcHR")},
			{"GET", self + "/roles", nil, plus(clientReaders, "employee", "hrGlobal", "svcHR")},
			{"PATCH", self, map[string]any{"title": "Clerk", "version": 1}, globalWriters},
			{"PATCH", T, map[string]any{"title": "Analyst", "version": 1}, peopleWriters},
			{"GET", T + "/history", nil, peopleReaders},
			{"GET", T + "/roles", nil, peopleReaders},
			{"POST", T + "/roles", map[string]string{"role": "hr", "department": "HR02"}, admins},
			{"POST", T + "/roles", map[string]string{"role": "auditor"}, globalAdmin},
			{"DELETE", T + "/roles/hr?department=HR02&reason=moved", nil, admins},
			{"POST", T + "/transfer", map[string]string{"department": "HR01"}, peopleWriters},
			{"POST", T + "/freeze", map[string]string{"reason": "investigation"}, peopleWriters},
			{"POST", T + "/unfreeze", map[string]string{"reason": "cleared"}, peopleWriters},
			{"POST", T + "/reset-password", map[string]string{"reason": "forgot"}, peopleWriters},
			{"POST", T + "/reset-totp", map[string]string{"reason": "lost phone"}, peopleWriters},
			{"GET", "/admin/api/v1/clients", nil, clientReaders},
			{"GET", "/admin/api/v1/clients/demo", nil, clientReaders},
			{"POST", "/admin/api/v1/clients", map[string]any{"id": "wiki", "redirect_uris": []string{"https://wiki.example/cb"}}, globalAdmin},
			{"PATCH", "/admin/api/v1/clients/demo", map[string]any{"allowed_roles": []string{"hr"}}, globalAdmin},
			{"DELETE", "/admin/api/v1/clients/demo?reason=retired", nil, globalAdmin},
			{"POST", "/admin/api/v1/imports?dry_run=true", csv, peopleWriters},
			{"POST", "/admin/api/v1/imports", csv, peopleWriters},
			{"GET", "/admin/api/v1/audit", nil, clientReaders},
			{"GET", "/scim/v2/Users", nil, scimUsers},
			{"GET", "/scim/v2/Groups", nil, scimUsers},
			{"POST", T + "/transfer", map[string]string{"department": "FIN01"}, globalWriters},
			{"POST", T + "/leave", map[string]string{"reason": "resigned"}, peopleWriters},
			{"POST", self + "/freeze", map[string]string{"reason": "x"}, globalWriters},
		}
	}
	covered := map[string]bool{}
	for _, who := range principals {
		t.Run(who, func(t *testing.T) {
			f := newFixture(t)
			for _, c := range calls(f) {
				covered[c.method+" "+routeOf(f, c.path)] = true
				status, body := f.do(who, c.method, c.path, c.body)
				name := c.method + " " + strings.NewReplacer(f.subs["target"], "{target}", f.subs["employee"], "{self}").Replace(c.path)
				code, _ := body["code"].(string)
				if strings.HasPrefix(c.path, "/scim/") {
					detail, _ := body["detail"].(string)
					code, _, _ = strings.Cut(detail, " ")
				}
				switch {
				case who == "anonymous" || who == "badToken":
					if status != http.StatusUnauthorized || code != "E-101" {
						t.Errorf("%s: got %d %s, want 401 E-101", name, status, code)
					}
				case slices.Contains(c.allowed, who):
					if status == http.StatusForbidden || status == http.StatusUnauthorized || status >= 500 {
						t.Errorf("%s: got %d %v, want it allowed", name, status, body)
					}
				default:
					if status != http.StatusForbidden || code != "E-102" {
						t.Errorf("%s: got %d %v, want 403 E-102", name, status, body)
					}
				}
			}
		})
	}
	// Every documented route is in the table.
	f := newFixture(t)
	_, doc := f.do("anonymous", "GET", "/admin/api/v1/openapi.json", nil)
	for path, item := range doc["paths"].(map[string]any) {
		for method := range item.(map[string]any) {
			if key := strings.ToUpper(method) + " /admin/api/v1" + path; !covered[key] {
				t.Errorf("%s is not in the permission matrix", key)
			}
		}
	}
}

// routeOf maps a concrete path back to its documented pattern.
func routeOf(f *fixture, path string) string {
	path, _, _ = strings.Cut(path, "?")
	r := strings.NewReplacer(f.subs["target"], "{id}", f.subs["employee"], "{id}")
	path = r.Replace(path)
	for _, id := range f.depts {
		path = strings.Replace(path, "/departments/"+id, "/departments/{id}", 1)
	}
	path = strings.Replace(path, "/entities/ACME", "/entities/{code}", 1)
	path = strings.Replace(path, "/clients/demo", "/clients/{id}", 1)
	path = strings.Replace(path, "/roles/hr", "/roles/{role}", 1)
	return path
}
