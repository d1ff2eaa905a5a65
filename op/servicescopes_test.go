package op_test

import (
	"net/http"
	"net/url"
	"testing"

	"github.com/gongpai/gongpai/op"
)

// A client_credentials token never carries a user scope, even when the
// client is allowed every scope and asks for all of them: only service
// scopes (gongpai:admin) pass.
func TestClientCredentialsCarryNoUserScopes(t *testing.T) {
	e := newEnv(t)
	e.addClient(op.ClientSpec{ID: "svcall", GrantTypes: []string{"client_credentials"}, Scopes: op.SupportedScopes()})
	all := "openid profile email employee roles offline_access " + op.ScopeAdmin
	resp, tok := e.post("/oauth/token", "svcall", url.Values{"grant_type": {"client_credentials"}, "scope": {all}})
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("client_credentials: %d %v", resp.StatusCode, tok)
	}
	if got := str(tok, "scope"); got != op.ScopeAdmin {
		t.Errorf("scope = %q, want only %s", got, op.ScopeAdmin)
	}
	if _, in := e.introspect("svcall", str(tok, "access_token")); in["active"] != true || str(in, "scope") != op.ScopeAdmin {
		t.Errorf("introspection: %v", in)
	}
	if _, ok := tok["refresh_token"]; ok {
		t.Error("a refresh token for a service account")
	}
	// Asking for user scopes only gives a token without scopes.
	resp, tok = e.post("/oauth/token", "svcall", url.Values{"grant_type": {"client_credentials"}, "scope": {"openid profile email employee roles"}})
	if resp.StatusCode != http.StatusOK || str(tok, "scope") != "" {
		t.Errorf("user scopes only: %d scope %q, want 200 without scopes", resp.StatusCode, str(tok, "scope"))
	}
}
