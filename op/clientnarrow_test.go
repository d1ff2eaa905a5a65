package op_test

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gongpai/gongpai/op"
	"github.com/gongpai/gongpai/storage"
)

const consoleRedirect = "https://console.example.com/cb"

// consoleTokens signs alice in to an admin console allowed gongpai:admin
// and offline_access, and returns the token response.
func (e *env) consoleTokens() map[string]any {
	e.t.Helper()
	code := e.code(authParams("console", consoleRedirect, "openid profile offline_access "+op.ScopeAdmin, true), aliceSub)
	resp, tok := e.post("/oauth/token", "console", codeForm(code, consoleRedirect, verifier))
	if resp.StatusCode != http.StatusOK || str(tok, "refresh_token") == "" {
		e.t.Fatalf("console exchange: %d %v", resp.StatusCode, tok)
	}
	return tok
}

func (e *env) addConsole() {
	e.addClient(op.ClientSpec{ID: "console", RedirectURIs: []string{consoleRedirect},
		Scopes: []string{op.ScopeOpenID, op.ScopeProfile, op.ScopeOfflineAccess, op.ScopeAdmin}})
}

// changeClient rewrites a stored client, as the admin API does, and tells
// the provider's cache.
func (e *env) changeClient(id string, change func(c *storage.Client)) {
	e.t.Helper()
	ctx := context.Background()
	c, err := e.store.Client(ctx, id)
	if err != nil {
		e.t.Fatal(err)
	}
	change(c)
	if err := e.store.UpdateClient(ctx, c); err != nil {
		e.t.Fatal(err)
	}
	e.p.ForgetClient(id)
}

func (e *env) verifiedScopes(at string) []string {
	e.t.Helper()
	t, err := e.p.VerifyAccessToken(context.Background(), at)
	if err != nil {
		e.t.Fatalf("VerifyAccessToken: %v", err)
	}
	return t.Scopes
}

// A scope taken from a client is taken from the tokens it holds, even
// when nothing revoked them: the refresh grant carries only the scopes
// the client is allowed now (and keeps the narrowed scope when the
// client is allowed it again), and an access token issued before the
// change verifies without it.
func TestRefreshCarriesOnlyScopesTheClientStillHas(t *testing.T) {
	e := newEnv(t)
	e.addConsole()
	tok := e.consoleTokens()
	if s := e.verifiedScopes(str(tok, "access_token")); !slices.Contains(s, op.ScopeAdmin) {
		t.Fatalf("console token lacks %s: %v", op.ScopeAdmin, s)
	}

	e.changeClient("console", func(c *storage.Client) {
		c.Scopes = slices.DeleteFunc(c.Scopes, func(s string) bool { return s == op.ScopeAdmin })
	})
	if s := e.verifiedScopes(str(tok, "access_token")); slices.Contains(s, op.ScopeAdmin) {
		t.Errorf("an access token issued before the change still verifies with %s: %v", op.ScopeAdmin, s)
	}
	if _, body := e.introspect("console", str(tok, "access_token")); strings.Contains(str(body, "scope"), op.ScopeAdmin) {
		t.Errorf("introspection still shows %s: %v", op.ScopeAdmin, body)
	}
	resp, ref := e.post("/oauth/token", "console", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {str(tok, "refresh_token")}})
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("refresh: %d %v", resp.StatusCode, ref)
	}
	if strings.Contains(str(ref, "scope"), op.ScopeAdmin) {
		t.Errorf("refresh response scope %q still has %s", str(ref, "scope"), op.ScopeAdmin)
	}
	if s := e.verifiedScopes(str(ref, "access_token")); slices.Contains(s, op.ScopeAdmin) || !slices.Contains(s, op.ScopeProfile) {
		t.Errorf("refreshed access token scopes %v: want profile without %s", s, op.ScopeAdmin)
	}
	// Asking for it explicitly does not help.
	resp, body := e.post("/oauth/token", "console", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {str(ref, "refresh_token")},
		"scope": {"openid " + op.ScopeAdmin}})
	if resp.StatusCode == http.StatusOK {
		t.Errorf("refresh asking for the removed scope: 200 %v", body)
		ref = body
	}

	// Allowing it again does not bring it back to the family.
	e.changeClient("console", func(c *storage.Client) { c.Scopes = append(c.Scopes, op.ScopeAdmin) })
	resp, ref2 := e.post("/oauth/token", "console", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {str(ref, "refresh_token")}})
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("second refresh: %d %v", resp.StatusCode, ref2)
	}
	if s := e.verifiedScopes(str(ref2, "access_token")); slices.Contains(s, op.ScopeAdmin) {
		t.Errorf("the scope came back to the family once the client was allowed it again: %v", s)
	}
}

// A client that loses the refresh_token grant type, or offline_access,
// can no longer refresh: the refresh grant is refused.
func TestRefreshRefusedWhenTheClientLostRefresh(t *testing.T) {
	for _, tt := range []struct {
		name   string
		change func(c *storage.Client)
	}{
		{"grant type", func(c *storage.Client) { c.GrantTypes = []string{op.GrantAuthorizationCode} }},
		{"offline_access", func(c *storage.Client) {
			c.Scopes = slices.DeleteFunc(c.Scopes, func(s string) bool { return s == op.ScopeOfflineAccess })
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			e.addConsole()
			tok := e.consoleTokens()
			e.changeClient("console", tt.change)
			resp, body := e.post("/oauth/token", "console", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {str(tok, "refresh_token")}})
			if resp.StatusCode == http.StatusOK {
				t.Fatalf("refresh after the client lost %s: 200 %v", tt.name, body)
			}
			if e := str(body, "error"); e != "invalid_grant" && e != "unauthorized_client" {
				t.Errorf("refresh after the client lost %s: %d %v, want invalid_grant or unauthorized_client", tt.name, resp.StatusCode, body)
			}
		})
	}
}

// Deleting a client and registering the same ID again revives none of the
// old registration's tokens, refresh or access, whether or not anything
// revoked them.
func TestRecreatedClientRevivesNothing(t *testing.T) {
	e := newEnv(t)
	e.addConsole()
	tok := e.consoleTokens()
	ctx := context.Background()
	if err := e.store.DeleteClient(ctx, "console"); err != nil {
		t.Fatal(err)
	}
	e.p.ForgetClient("console")
	time.Sleep(2 * time.Millisecond) // the new registration is strictly later
	e.addConsole()
	if _, err := e.p.VerifyAccessToken(ctx, str(tok, "access_token")); err == nil {
		t.Error("an access token of the deleted client verifies against the new registration")
	}
	if resp, body := e.userinfo(str(tok, "access_token")); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("userinfo with a token of the deleted client: %d %v, want 401", resp.StatusCode, body)
	}
	resp, body := e.post("/oauth/token", "console", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {str(tok, "refresh_token")}})
	if resp.StatusCode == http.StatusOK {
		t.Errorf("a refresh token of the deleted client works for the new registration: %v", body)
	}
	// The new registration's own tokens work.
	if s := e.verifiedScopes(str(e.consoleTokens(), "access_token")); !slices.Contains(s, op.ScopeAdmin) {
		t.Errorf("new registration's token: %v", s)
	}
}
