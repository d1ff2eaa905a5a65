package op_test

import (
	"errors"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/gongpai/gongpai/op"
	"github.com/gongpai/gongpai/storage"
)

// The roles claim carries only what the client may see (ARCHITECTURE §4):
// by default employee and the client's own roles, or what it was
// registered with; the same in the ID token, a refreshed ID token,
// userinfo and introspection.
func TestRolesFilteredPerClient(t *testing.T) {
	e := newEnv(t)
	e.people.setIdentity(aliceSub, func(id *storage.Identity) {
		id.Roles = []string{"admin", "crm:admin", "employee", "erp:approver", "erp:viewer", "erpx:clerk", "hr"}
	})
	const erpRedirect, portalRedirect = "https://erp.example.com/cb", "https://portal.example.com/cb"
	e.addClient(op.ClientSpec{ID: "erp", RedirectURIs: []string{erpRedirect}})
	e.addClient(op.ClientSpec{ID: "portal", RedirectURIs: []string{portalRedirect}, VisibleRoles: []string{"hr", "crm:*"}})
	e.addClient(op.ClientSpec{ID: "console", RedirectURIs: []string{"https://console.example.com/cb"}, VisibleRoles: []string{"*"}})

	for _, tt := range []struct {
		client, redirect string
		want             []string
	}{
		{"erp", erpRedirect, []string{"employee", "erp:approver", "erp:viewer"}},
		{"portal", portalRedirect, []string{"crm:admin", "hr"}},
		{"console", "https://console.example.com/cb", []string{"admin", "crm:admin", "employee", "erp:approver", "erp:viewer", "erpx:clerk", "hr"}},
		{"web", webRedirect, []string{"employee"}},
	} {
		t.Run(tt.client, func(t *testing.T) {
			code := e.code(authParams(tt.client, tt.redirect, allScopes, true), aliceSub)
			resp, tok := e.post("/oauth/token", tt.client, codeForm(code, tt.redirect, verifier))
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("code exchange: %d %v", resp.StatusCode, tok)
			}
			check := func(where string, v any) {
				t.Helper()
				if got := strs(v); !slices.Equal(got, tt.want) {
					t.Errorf("%s roles = %q, want %q", where, got, tt.want)
				}
			}
			check("ID token", e.verifyIDToken(str(tok, "id_token"), tt.client)["roles"])
			_, ui := e.userinfo(str(tok, "access_token"))
			check("userinfo", ui["roles"])
			_, in := e.introspect(tt.client, str(tok, "access_token"))
			check("introspection", in["roles"])
			resp, ref := e.post("/oauth/token", tt.client, refreshForm(str(tok, "refresh_token")))
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("refresh: %d %v", resp.StatusCode, ref)
			}
			check("refreshed ID token", e.verifyIDToken(str(ref, "id_token"), tt.client)["roles"])
		})
	}
}

func TestVisibleRolesValidated(t *testing.T) {
	for _, bad := range []string{"erp*", "Erp:*", "*:x", "erp:*:*", ":*", "a b"} {
		_, _, err := op.NewClient(op.ClientSpec{ID: "x", RedirectURIs: []string{"https://x.example/cb"}, VisibleRoles: []string{bad}}, time.Now())
		var fe *op.FieldError
		if !errors.As(err, &fe) || fe.Field != "visible_roles" {
			t.Errorf("VisibleRoles %q: %v, want a visible_roles field error", bad, err)
		}
	}
	c, _, err := op.NewClient(op.ClientSpec{ID: "x", RedirectURIs: []string{"https://x.example/cb"},
		VisibleRoles: []string{" erp:* ", "hr", "erp:*", "", "*"}}, time.Now())
	if err != nil || !slices.Equal(c.VisibleRoles, []string{"erp:*", "hr", "*"}) {
		t.Errorf("VisibleRoles normalised to %q (%v)", c.VisibleRoles, err)
	}
}
