package admin_test

import (
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
)

var principals = []string{"anonymous", "badToken", "employee", "hrScoped", "hrGlobal", "adminScoped", "adminGlobal", "auditor",
	"svcSCIM", "svcHR", "svcAdmin", "svcAuditor"}

// Role sets used by the table.
var (
	authenticated = []string{"employee", "hrScoped", "hrGlobal", "adminScoped", "adminGlobal", "auditor", "svcSCIM", "svcHR", "svcAdmin", "svcAuditor"}
	orgReaders    = []string{"hrScoped", "hrGlobal", "adminScoped", "adminGlobal", "auditor", "svcSCIM", "svcHR", "svcAdmin", "svcAuditor"}
	peopleReaders = []string{"hrScoped", "hrGlobal", "adminScoped", "adminGlobal", "auditor", "svcHR", "svcAdmin", "svcAuditor"}
	peopleWriters = []string{"hrScoped", "hrGlobal", "adminScoped", "adminGlobal", "svcHR", "svcAdmin"}
	globalWriters = []string{"hrGlobal", "adminGlobal", "svcHR", "svcAdmin"}
	admins        = []string{"adminScoped", "adminGlobal", "svcAdmin"}
	globalAdmin   = []string{"adminGlobal", "svcAdmin"}
	clientReaders = []string{"adminGlobal", "auditor", "svcAdmin", "svcAuditor"}
	scimUsers     = []string{"hrGlobal", "adminGlobal", "svcSCIM", "svcHR", "svcAdmin"}
)

func plus(a []string, more ...string) []string { return append(slices.Clone(a), more...) }

// targetKinds are the employees the matrix acts on, all in HR02 (inside
// HR01, where the scoped hr and admin hold their roles). An ordinary one
// is open to every people-writer in scope; one holding a privileged role
// only to an admin whose scope covers that grant (lattice.go).
var targetKinds = []struct {
	name   string
	grants [][2]string // role, department code ("" = whole directory)
	// dominators may write to the target; nil = anyone the endpoint allows.
	dominators []string
}{
	{"ordinary", nil, nil},
	{"hrOfHR02", [][2]string{{"hr", "HR02"}}, admins},
	{"adminOfHR02", [][2]string{{"admin", "HR02"}}, admins},
	{"adminOfHR01", [][2]string{{"admin", "HR01"}}, admins},
	{"globalAuditor", [][2]string{{"auditor", ""}}, globalAdmin},
	{"globalAdmin", [][2]string{{"admin", ""}}, globalAdmin},
	{"scimOperator", [][2]string{{"scim", ""}}, globalAdmin},
}

// TestPermissionMatrix calls every admin endpoint as every kind of caller
// (every role, as an employee and as a service account) against every
// kind of target (ordinary, or holding a privileged role over a scope),
// and checks the answer is allowed or 403 E-102 (401 E-101 without a
// valid token). "employee" (no admin role) is in FIN01. Each principal
// and target kind gets a fresh directory, and the calls run in an order
// where the destructive ones come last.
func TestPermissionMatrix(t *testing.T) {
	type call struct {
		method, path string
		body         any
		allowed      []string
	}
	calls := func(f *fixture, target string, dominators []string) []call {
		// onT narrows a write to the target to those who dominate it.
		onT := func(allowed []string) []string {
			if dominators == nil {
				return allowed
			}
			return slices.DeleteFunc(slices.Clone(allowed), func(who string) bool { return !slices.Contains(dominators, who) })
		}
		T := "/admin/api/v1/employees/" + f.subs[target]
		self := "/admin/api/v1/employees/" + f.subs["employee"]
		scimT := "/scim/v2/Users/" + f.subs[target]
		csv := "external_id,entity,department,name\next-new,ACME,HR02,New Hire\n"
		scimPatch := map[string]any{"schemas": []string{"urn:ietf:params:scim:api:messages:2.0:PatchOp"},
			"Operations": []map[string]any{{"op": "replace", "path": "title", "value": "Provisioned"}}}
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
			{"PATCH", T, map[string]any{"title": "Analyst", "version": 1}, onT(peopleWriters)},
			{"GET", T + "/history", nil, peopleReaders},
			{"GET", T + "/roles", nil, peopleReaders},
			// Ordinary roles: hr or admin over the grant's scope; privileged
			// ones: admin over it (nobody grants what they do not hold).
			{"POST", T + "/roles", map[string]string{"role": "erp:approver", "department": "HR02"}, onT(peopleWriters)},
			{"POST", T + "/roles", map[string]string{"role": "erp:approver"}, onT(globalWriters)},
			{"POST", T + "/roles", map[string]string{"role": "hr", "department": "HR02"}, onT(admins)},
			{"POST", T + "/roles", map[string]string{"role": "admin", "department": "HR02"}, onT(admins)},
			{"POST", T + "/roles", map[string]string{"role": "auditor"}, onT(globalAdmin)},
			{"POST", T + "/roles", map[string]string{"role": "admin"}, onT(globalAdmin)},
			{"DELETE", T + "/roles/erp:approver?department=HR02&reason=moved", nil, onT(peopleWriters)},
			{"DELETE", T + "/roles/hr?department=HR02&reason=moved", nil, onT(admins)},
			{"POST", T + "/transfer", map[string]string{"department": "HR01"}, onT(peopleWriters)},
			{"POST", T + "/freeze", map[string]string{"reason": "investigation"}, onT(peopleWriters)},
			{"POST", T + "/unfreeze", map[string]string{"reason": "cleared"}, onT(peopleWriters)},
			{"POST", T + "/reset-password", map[string]string{"reason": "forgot"}, onT(peopleWriters)},
			{"POST", T + "/reset-totp", map[string]string{"reason": "lost phone"}, onT(peopleWriters)},
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
			{"GET", scimT, nil, scimUsers},
			{"PATCH", scimT, scimPatch, onT(scimUsers)},
			{"POST", T + "/transfer", map[string]string{"department": "FIN01"}, onT(globalWriters)},
			{"POST", T + "/leave", map[string]string{"reason": "resigned"}, onT(peopleWriters)},
			{"POST", self + "/freeze", map[string]string{"reason": "x"}, globalWriters},
		}
	}
	var mu sync.Mutex
	covered := map[string]bool{}
	t.Run("calls", func(t *testing.T) {
		for _, kind := range targetKinds {
			for _, who := range principals {
				t.Run(kind.name+"/"+who, func(t *testing.T) {
					t.Parallel()
					f := newFixture(t)
					target := "target"
					if kind.grants != nil {
						target = kind.name
						f.addPerson(target, "HR02", kind.grants...)
					}
					for _, c := range calls(f, target, kind.dominators) {
						mu.Lock()
						covered[c.method+" "+routeOf(f, c.path)] = true
						mu.Unlock()
						status, body := f.do(who, c.method, c.path, c.body)
						name := c.method + " " + strings.NewReplacer(f.subs[target], "{target}", f.subs["employee"], "{self}").Replace(c.path)
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
						if strings.HasSuffix(c.path, "/reset-password") && status != http.StatusOK && body["password"] != nil {
							t.Errorf("%s: refused, yet the answer carries a password", name)
						}
					}
				})
			}
		}
	})
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
	for _, sub := range f.subs {
		path = strings.Replace(path, "/employees/"+sub, "/employees/{id}", 1)
	}
	for _, id := range f.depts {
		path = strings.Replace(path, "/departments/"+id, "/departments/{id}", 1)
	}
	path = strings.Replace(path, "/entities/ACME", "/entities/{code}", 1)
	path = strings.Replace(path, "/clients/demo", "/clients/{id}", 1)
	path = strings.Replace(path, "/roles/hr", "/roles/{role}", 1)
	path = strings.Replace(path, "/roles/erp:approver", "/roles/{role}", 1)
	return path
}
