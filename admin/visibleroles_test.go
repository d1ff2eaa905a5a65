package admin_test

import (
	"net/http"
	"slices"
	"testing"
)

// visible_roles is set on create and on change, validated as op.NewClient
// validates it (E-201 naming the field), and read back as registered.
func TestClientVisibleRoles(t *testing.T) {
	f := newFixture(t)
	roles := func(v any) []string {
		l, _ := v.([]any)
		out := []string{}
		for _, x := range l {
			s, _ := x.(string)
			out = append(out, s)
		}
		return out
	}
	st, body := f.do("adminGlobal", "POST", "/admin/api/v1/clients", map[string]any{
		"id": "erp", "redirect_uris": []string{"https://erp.acme.example/cb"}, "visible_roles": []string{"employee", "erp:*", "hr"},
	})
	if st != http.StatusCreated || !slices.Equal(roles(body["visible_roles"]), []string{"employee", "erp:*", "hr"}) {
		t.Fatalf("POST with visible_roles: %d %v", st, body)
	}
	// Not given: the default, shown as [].
	if _, body := f.do("adminGlobal", "GET", "/admin/api/v1/clients/demo", nil); !slices.Equal(roles(body["visible_roles"]), []string{}) {
		t.Errorf("default visible_roles: %v, want []", body["visible_roles"])
	}
	for _, bad := range [][]string{{"erp*"}, {"Admin"}, {":*"}, {"erp:**"}} {
		st, body := f.do("adminGlobal", "PATCH", "/admin/api/v1/clients/erp", map[string]any{"visible_roles": bad})
		if st != http.StatusBadRequest || body["code"] != "E-201" || body["field"] != "visible_roles" {
			t.Errorf("PATCH visible_roles %q: %d %v, want E-201 naming visible_roles", bad, st, body)
		}
	}
	if st, body := f.do("adminGlobal", "PATCH", "/admin/api/v1/clients/erp", map[string]any{"visible_roles": []string{"*"}}); st != http.StatusOK ||
		!slices.Equal(roles(body["visible_roles"]), []string{"*"}) {
		t.Errorf("PATCH visible_roles [*]: %d %v", st, body)
	}
	if _, body := f.do("adminGlobal", "GET", "/admin/api/v1/clients/erp", nil); !slices.Equal(roles(body["visible_roles"]), []string{"*"}) {
		t.Errorf("stored visible_roles: %v", body["visible_roles"])
	}
}
