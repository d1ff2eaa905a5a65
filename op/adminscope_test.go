package op_test

import (
	"context"
	"slices"
	"testing"

	"github.com/gongpai/gongpai/op"
)

// gongpai:admin reaches an employee's access token only through a client
// registered with it; an ordinary client asking for it gets a token
// without it (zitadel drops scopes a client may not request).
func TestAdminScopeOnlyForAllowedClients(t *testing.T) {
	e := newEnv(t)
	const consoleRedirect = "https://console.example.com/cb"
	e.addClient(op.ClientSpec{ID: "console", RedirectURIs: []string{consoleRedirect},
		Scopes: []string{op.ScopeOpenID, op.ScopeProfile, op.ScopeAdmin}})

	scopesOf := func(client, redirect string) []string {
		t.Helper()
		code := e.code(authParams(client, redirect, "openid profile "+op.ScopeAdmin, true), aliceSub)
		resp, tok := e.post("/oauth/token", client, codeForm(code, redirect, verifier))
		if resp.StatusCode != 200 {
			t.Fatalf("%s: exchange %d %v", client, resp.StatusCode, tok)
		}
		at, err := e.p.VerifyAccessToken(context.Background(), str(tok, "access_token"))
		if err != nil {
			t.Fatalf("%s: VerifyAccessToken: %v", client, err)
		}
		return at.Scopes
	}
	if s := scopesOf("web", webRedirect); slices.Contains(s, op.ScopeAdmin) {
		t.Errorf("a client registered with the default scopes got %s: %v", op.ScopeAdmin, s)
	}
	if s := scopesOf("console", consoleRedirect); !slices.Contains(s, op.ScopeAdmin) {
		t.Errorf("a client allowed %s did not get it: %v", op.ScopeAdmin, s)
	}
}
