package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// serviceAccount registers a client_credentials client holding the given
// directory roles and returns a fresh access token for it.
func (s *server) serviceAccount(t testing.TB, id string, roles ...string) string {
	t.Helper()
	args := []string{"client", "add", "--id", id, "--grant", "client_credentials", "--scope", "employee"}
	for _, r := range roles {
		args = append(args, "--service-role", r)
	}
	m := secretLine.FindStringSubmatch(s.cli(t, "", args...))
	if m == nil {
		t.Fatalf("client add %s printed no secret", id)
	}
	req, _ := http.NewRequest("POST", s.URL+"/oauth/token", strings.NewReader(url.Values{"grant_type": {"client_credentials"}, "scope": {"employee"}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(id, m[1])
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	if status := doJSON(t, req, &tok); status != http.StatusOK || tok.AccessToken == "" {
		t.Fatalf("client_credentials for %s: %d", id, status)
	}
	return tok.AccessToken
}

func doJSON(t testing.TB, req *http.Request, out any) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	resp, err := http.DefaultClient.Do(req.WithContext(ctx))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if out != nil && len(b) > 0 {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("%s %s: %d %q is not JSON", req.Method, req.URL, resp.StatusCode, b)
		}
	}
	return resp.StatusCode
}

// adminCall sends a JSON request to the admin API with a bearer token.
func (s *server) adminCall(t testing.TB, token, method, path string, body any, out any) int {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, s.URL+path, rd)
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	return doJSON(t, req, out)
}

// introspect asks gongpai, as the relying party, whether token is active.
func (rp *relyingParty) introspect(t testing.TB, token string) bool {
	t.Helper()
	var meta struct {
		Introspection string `json:"introspection_endpoint"`
	}
	if err := rp.provider.Claims(&meta); err != nil || meta.Introspection == "" {
		t.Fatalf("discovery has no introspection_endpoint (%v)", err)
	}
	req, _ := http.NewRequest("POST", meta.Introspection, strings.NewReader(url.Values{"token": {token}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(rp.conf.ClientID, rp.conf.ClientSecret)
	var out struct {
		Active bool `json:"active"`
	}
	if status := doJSON(t, req, &out); status != http.StatusOK {
		t.Fatalf("introspection: %d", status)
	}
	return out.Active
}

// TestFreezeCutsAccessEndToEnd: an employee signed in to two apps is
// frozen through the admin API by an HR system's service account; when
// the call returns, both refresh tokens fail, introspection says
// inactive, the SSO session is gone and the sign-in page says E-103.
func TestFreezeCutsAccessEndToEnd(t *testing.T) {
	s := startServer(t)
	co := s.seedCompany(t)
	oa := newRelyingParty(t, s, "oa")
	erp := newRelyingParty(t, s, "erp")
	hris := s.serviceAccount(t, "hris", "hr")
	b := newBrowser(t)

	// Signed in to OA (password + TOTP), then to ERP by SSO.
	b.run(t, chromedp.Navigate(oa.StartURL("")), submitPassword(co.seeded.ID, co.seeded.Password),
		submitCode(totpCode(t, co.seeded.TOTPSeed, time.Now())), visible(selRPDone))
	cb := oa.awaitCallback(t)
	tokOA, err := oa.exchange(cb.Code, cb.Flow.Verifier)
	if err != nil {
		t.Fatalf("OA code exchange: %v", err)
	}
	b.run(t, chromedp.Navigate(erp.StartURL("")), visible(selRPDone))
	cb = erp.awaitCallback(t)
	tokERP, err := erp.exchange(cb.Code, cb.Flow.Verifier)
	if err != nil {
		t.Fatalf("ERP code exchange: %v", err)
	}
	if !oa.introspect(t, tokOA.AccessToken) || !erp.introspect(t, tokERP.AccessToken) {
		t.Fatal("access tokens inactive before the freeze")
	}
	// An app cannot replay the employee's token against the admin API:
	// it was not issued with the gongpai:admin scope.
	var refused struct{ Code string }
	if st := s.adminCall(t, tokOA.AccessToken, "GET", "/admin/api/v1/me", nil, &refused); st != http.StatusForbidden || refused.Code != "E-102" {
		t.Errorf("OA's employee token on the admin API: %d %+v, want 403 E-102", st, refused)
	}

	// A freeze without a reason is refused and changes nothing.
	var e struct {
		Code, Field string
	}
	if st := s.adminCall(t, hris, "POST", "/admin/api/v1/employees/"+co.seeded.ID+"/freeze", map[string]string{}, &e); st != 400 || e.Code != "E-201" || e.Field != "reason" {
		t.Fatalf("freeze without reason: %d %+v, want 400 E-201 reason", st, e)
	}
	if !oa.introspect(t, tokOA.AccessToken) {
		t.Fatal("a refused freeze cut access")
	}

	var frozen struct {
		Status string `json:"status"`
	}
	if st := s.adminCall(t, hris, "POST", "/admin/api/v1/employees/"+co.seeded.ID+"/freeze", map[string]string{"reason": "HR case 42"}, &frozen); st != http.StatusOK || frozen.Status != "frozen" {
		t.Fatalf("freeze: %d %+v", st, frozen)
	}

	// The call has returned: everything is already dead.
	if _, err := oa.refresh(tokOA.RefreshToken); oauthError(err) != "invalid_grant" {
		t.Errorf("OA refresh after freeze: %q, want invalid_grant", oauthError(err))
	}
	if _, err := erp.refresh(tokERP.RefreshToken); oauthError(err) != "invalid_grant" {
		t.Errorf("ERP refresh after freeze: %q, want invalid_grant", oauthError(err))
	}
	if oa.introspect(t, tokOA.AccessToken) || erp.introspect(t, tokERP.AccessToken) {
		t.Errorf("introspection says a frozen employee's access token is active")
	}
	b.run(t, chromedp.Navigate(erp.StartURL("prompt=none")), visible(selRPDone))
	if cb := erp.awaitCallback(t); cb.Error != "login_required" {
		t.Errorf("prompt=none after freeze: %q, want login_required", cb.Error)
	}
	b.run(t, chromedp.Navigate(oa.StartURL("")), submitPassword(co.seeded.ID, co.seeded.Password))
	if msg := b.text(t, selAlert); !strings.Contains(msg, "E-103") {
		t.Errorf("sign-in of a frozen employee shows %q, want the frozen message with E-103", msg)
	}

	// Unfrozen, the old SSO session does not come back: it was deleted,
	// not merely refused.
	if st := s.adminCall(t, hris, "POST", "/admin/api/v1/employees/"+co.seeded.ID+"/unfreeze", map[string]string{"reason": "cleared"}, nil); st != http.StatusOK {
		t.Fatalf("unfreeze: %d", st)
	}
	b.run(t, chromedp.Navigate(erp.StartURL("prompt=none")), visible(selRPDone))
	if cb := erp.awaitCallback(t); cb.Error != "login_required" {
		t.Errorf("prompt=none after unfreeze: %q, want login_required (the session must be gone)", cb.Error)
	}
	if _, err := oa.refresh(tokOA.RefreshToken); oauthError(err) != "invalid_grant" {
		t.Errorf("refresh token revived by unfreeze: %q", oauthError(err))
	}
}
