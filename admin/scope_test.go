package admin_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/gongpai/gongpai/op"
)

// An employee's token is accepted only when it was issued with the admin
// scope: a token an ordinary app received — even an administrator's — is
// refused with 403 E-102 and an insufficient_scope challenge, so the app
// cannot replay it against the admin API or SCIM. Service accounts need
// no scope: their service roles decide.
func TestEmployeeTokenNeedsAdminScope(t *testing.T) {
	f := newFixture(t)
	calls := []struct{ method, path string }{
		{"GET", "/admin/api/v1/me"},
		{"GET", "/admin/api/v1/employees"},
		{"POST", "/admin/api/v1/employees/" + f.subs["target"] + "/freeze"},
		{"GET", "/admin/api/v1/clients"},
		{"GET", "/scim/v2/Users"},
	}
	for _, who := range []string{"adminGlobal@oa", "hrGlobal@oa", "auditor@oa", "employee@oa"} {
		for _, c := range calls {
			req, err := http.NewRequest(c.method, f.srv.URL+c.path, strings.NewReader(`{"reason":"replayed"}`))
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Authorization", "Bearer "+f.tokens[who])
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusForbidden {
				t.Errorf("%s %s as %s: %d, want 403", c.method, c.path, who, resp.StatusCode)
			}
			if ch := resp.Header.Get("WWW-Authenticate"); !strings.Contains(ch, `error="insufficient_scope"`) || !strings.Contains(ch, op.ScopeAdmin) {
				t.Errorf("%s %s as %s: WWW-Authenticate %q, want insufficient_scope naming %s", c.method, c.path, who, ch, op.ScopeAdmin)
			}
		}
	}
	if st, body := f.do("adminGlobal@oa", "GET", "/admin/api/v1/me", nil); st != http.StatusForbidden || body["code"] != "E-102" {
		t.Errorf("app token: %d %v, want 403 E-102", st, body)
	}
	// The target was not frozen by any of the replays.
	if st, body := f.do("adminGlobal", "GET", "/admin/api/v1/employees/"+f.subs["target"], nil); st != http.StatusOK || body["status"] != "active" {
		t.Errorf("target after refused freezes: %d %v", st, body)
	}

	// With the scope, the roles decide as before.
	if st, _ := f.do("adminGlobal", "GET", "/admin/api/v1/clients", nil); st != http.StatusOK {
		t.Errorf("admin with the scope: %d, want 200", st)
	}
	if st, body := f.do("employee", "GET", "/admin/api/v1/clients", nil); st != http.StatusForbidden || body["code"] != "E-102" {
		t.Errorf("employee with the scope but no role: %d %v, want 403 E-102", st, body)
	}
	// A service account's token carries no admin scope and needs none.
	if st, _ := f.do("svcHR", "GET", "/admin/api/v1/employees", nil); st != http.StatusOK {
		t.Errorf("service account: %d, want 200", st)
	}
	// No token or a bad one is still 401 E-101.
	if st, body := f.do("badToken", "GET", "/admin/api/v1/me", nil); st != http.StatusUnauthorized || body["code"] != "E-101" {
		t.Errorf("bad token: %d %v, want 401 E-101", st, body)
	}
}
