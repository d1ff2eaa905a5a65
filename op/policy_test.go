package op_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"testing"
	"time"

	"github.com/gongpai/gongpai/op"
	"github.com/gongpai/gongpai/storage"
)

const hrAppRedirect = "https://hrapp.example.com/cb"

// setIdentity changes the stub directory's view of an employee, as a
// transfer or a role change would.
func (p *people) setIdentity(sub string, change func(*storage.Identity)) {
	p.mu.Lock()
	defer p.mu.Unlock()
	change(p.m[sub])
}

// addClientWith registers spec with the fields ClientSpec does not carry
// (access policy, role visibility) set by adjust.
func (e *env) addClientWith(spec op.ClientSpec, adjust func(*storage.Client)) {
	e.t.Helper()
	c, secret, err := op.NewClient(spec, time.Now())
	if err != nil {
		e.t.Fatal(err)
	}
	adjust(c)
	if err := e.store.CreateClient(context.Background(), c); err != nil {
		e.t.Fatal(err)
	}
	e.secrets[c.ID] = secret
}

// hrAppTokens signs alice in to a client that only HR (department d-hr,
// under d-hq) may use, and returns its token response.
func hrAppTokens(t *testing.T) (*env, map[string]any) {
	e := newEnv(t)
	e.people.setIdentity(aliceSub, func(id *storage.Identity) { id.DepartmentIDs = []string{"d-hq", "d-hr"} })
	e.addClientWith(op.ClientSpec{ID: "hrapp", RedirectURIs: []string{hrAppRedirect}}, func(c *storage.Client) {
		c.AllowedDepartments = []string{"d-hr"}
	})
	code := e.code(authParams("hrapp", hrAppRedirect, allScopes, true), aliceSub)
	resp, tok := e.post("/oauth/token", "hrapp", codeForm(code, hrAppRedirect, verifier))
	if resp.StatusCode != http.StatusOK || str(tok, "refresh_token") == "" {
		t.Fatalf("code exchange: %d %v", resp.StatusCode, tok)
	}
	return e, tok
}

func TestTransferOutOfAllowedDepartmentEndsTheGrant(t *testing.T) {
	e, tok := hrAppTokens(t)
	at, rt := str(tok, "access_token"), str(tok, "refresh_token")

	// Still in HR: everything works, and a refresh rotates.
	if _, body := e.introspect("hrapp", at); body["active"] != true {
		t.Fatalf("introspection before the transfer: %v", body)
	}
	resp, body := e.post("/oauth/token", "hrapp", refreshForm(rt))
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("refresh before the transfer: %d %v", resp.StatusCode, body)
	}
	at, rt = str(body, "access_token"), str(body, "refresh_token")

	// Transferred to Finance: the app is gone at once.
	e.people.setIdentity(aliceSub, func(id *storage.Identity) { id.DepartmentIDs = []string{"d-hq", "d-fin"} })
	resp, body = e.post("/oauth/token", "hrapp", refreshForm(rt))
	if resp.StatusCode != http.StatusBadRequest || body["error"] != "invalid_grant" {
		t.Errorf("refresh after the transfer: %d %v, want 400 invalid_grant", resp.StatusCode, body)
	}
	if _, body := e.introspect("hrapp", at); body["active"] != false {
		t.Errorf("introspection after the transfer: %v, want active false", body)
	}
	if resp, _ := e.userinfo(at); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("userinfo after the transfer: %d, want 401", resp.StatusCode)
	}

	// Back in HR (a mistaken transfer undone): the grant was refused, not
	// revoked, so it works again.
	e.people.setIdentity(aliceSub, func(id *storage.Identity) { id.DepartmentIDs = []string{"d-hq", "d-hr", "d-hr-payroll"} })
	if resp, body := e.post("/oauth/token", "hrapp", refreshForm(rt)); resp.StatusCode != http.StatusOK {
		t.Errorf("refresh after moving back: %d %v", resp.StatusCode, body)
	}
}

func TestLosingAnAllowedRoleEndsTheGrant(t *testing.T) {
	e := newEnv(t)
	e.addClientWith(op.ClientSpec{ID: "hrapp", RedirectURIs: []string{hrAppRedirect}}, func(c *storage.Client) {
		c.AllowedRoles = []string{"hr"}
	})
	code := e.code(authParams("hrapp", hrAppRedirect, allScopes, true), aliceSub)
	_, tok := e.post("/oauth/token", "hrapp", codeForm(code, hrAppRedirect, verifier))
	e.people.setIdentity(aliceSub, func(id *storage.Identity) { id.Roles = []string{"employee"} })
	if resp, body := e.post("/oauth/token", "hrapp", refreshForm(str(tok, "refresh_token"))); body["error"] != "invalid_grant" {
		t.Errorf("refresh without the role: %d %v, want invalid_grant", resp.StatusCode, body)
	}
	if _, body := e.introspect("hrapp", str(tok, "access_token")); body["active"] != false {
		t.Errorf("introspection without the role: %v, want active false", body)
	}
}

// A refresh token from a sign-in without a second factor does not
// refresh for a client that requires one (it was registered later, or
// the requirement was added since).
func TestRefreshRechecksRequireMFA(t *testing.T) {
	e := newEnv(t)
	e.addClient(op.ClientSpec{ID: "mfa", RedirectURIs: []string{"https://mfa.example.com/cb"}, RequireMFA: true})
	mint := func(amr []string) string {
		raw := "rt-" + amr[len(amr)-1] + "-0123456789abcdef0123456789abcdef"
		sum := sha256.Sum256([]byte(raw))
		now := time.Now().UTC()
		if err := e.store.CreateRefreshToken(context.Background(), &storage.RefreshToken{
			ID: hex.EncodeToString(sum[:]), FamilyID: "fam-" + amr[len(amr)-1], ClientID: "mfa", Subject: aliceSub,
			Scopes: []string{"openid", "offline_access"}, Audience: []string{"mfa"}, AuthTime: now.Add(-time.Minute),
			AMR: amr, SessionID: defaultSID, CreatedAt: now, ExpiresAt: now.Add(time.Hour),
		}); err != nil {
			t.Fatal(err)
		}
		return raw
	}
	if resp, body := e.post("/oauth/token", "mfa", refreshForm(mint([]string{"pwd"}))); body["error"] != "invalid_grant" {
		t.Errorf("refresh of a password-only grant: %d %v, want invalid_grant", resp.StatusCode, body)
	}
	if resp, body := e.post("/oauth/token", "mfa", refreshForm(mint([]string{"pwd", "otp", "mfa"}))); resp.StatusCode != http.StatusOK {
		t.Errorf("refresh of an MFA grant: %d %v", resp.StatusCode, body)
	}
}
