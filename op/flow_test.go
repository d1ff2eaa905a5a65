package op_test

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gongpai/gongpai/op"
	"github.com/gongpai/gongpai/storage"
)

func TestDiscoveryAndKeys(t *testing.T) {
	e := newEnv(t)
	resp := e.get("/.well-known/openid-configuration", nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("discovery status %d", resp.StatusCode)
	}
	if cc := resp.Header.Get("Cache-Control"); !strings.Contains(cc, "max-age=") {
		t.Errorf("discovery Cache-Control = %q, want a max-age", cc)
	}
	d := decode(t, resp.Body)
	if str(d, "issuer") != e.issuer {
		t.Errorf("issuer = %q, want %q", str(d, "issuer"), e.issuer)
	}
	tests := []struct {
		field string
		want  []string // exact
	}{
		{"response_types_supported", []string{"code"}},
		{"grant_types_supported", []string{"authorization_code", "refresh_token", "client_credentials"}},
		{"code_challenge_methods_supported", []string{"S256"}},
		{"scopes_supported", []string{"openid", "profile", "email", "employee", "roles", "offline_access", "gongpai:admin"}},
		{"id_token_signing_alg_values_supported", []string{"RS256"}},
	}
	for _, tt := range tests {
		if got := strs(d[tt.field]); !slices.Equal(got, tt.want) {
			t.Errorf("%s = %v, want %v", tt.field, got, tt.want)
		}
	}
	claims := strs(d["claims_supported"])
	for _, c := range []string{"sub", "sid", "amr", "employee_id", "entity", "department", "department_path", "roles", "preferred_username"} {
		if !slices.Contains(claims, c) {
			t.Errorf("claims_supported lacks %s: %v", c, claims)
		}
	}
	for _, absent := range []string{"device_authorization_endpoint", "request_object_signing_alg_values_supported"} {
		if _, ok := d[absent]; ok {
			t.Errorf("discovery advertises %s", absent)
		}
	}

	resp = e.get("/keys", nil)
	if resp.StatusCode != http.StatusOK || !strings.Contains(resp.Header.Get("Cache-Control"), "max-age=") {
		t.Fatalf("keys: status %d, Cache-Control %q", resp.StatusCode, resp.Header.Get("Cache-Control"))
	}
	ks := decode(t, resp.Body)
	list, _ := ks["keys"].([]any)
	if len(list) != 1 {
		t.Fatalf("keys = %v, want one", ks)
	}
	k := list[0].(map[string]any)
	if str(k, "alg") != "RS256" || str(k, "use") != "sig" || str(k, "kid") == "" || k["d"] != nil {
		t.Errorf("published key = %v", k)
	}
}

func TestCodeFlow(t *testing.T) {
	e := newEnv(t)
	code := e.code(authParams("web", webRedirect, allScopes, true), aliceSub)
	resp, tok := e.post("/oauth/token", "web", codeForm(code, webRedirect, verifier))
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("code exchange: %d %v", resp.StatusCode, tok)
	}
	if resp.Header.Get("Cache-Control") != "no-store" || resp.Header.Get("Pragma") != "no-cache" {
		t.Errorf("token response Cache-Control %q, Pragma %q; want no-store, no-cache", resp.Header.Get("Cache-Control"), resp.Header.Get("Pragma"))
	}
	for _, f := range []string{"access_token", "id_token", "refresh_token"} {
		if str(tok, f) == "" {
			t.Errorf("token response lacks %s: %v", f, tok)
		}
	}
	if strings.Count(str(tok, "access_token"), ".") != 4 {
		t.Errorf("access token is not the opaque JWE form: %q", str(tok, "access_token"))
	}

	claims := e.verifyIDToken(str(tok, "id_token"), "web")
	if str(claims, "sub") != aliceSub || str(claims, "nonce") != defaultNonce {
		t.Errorf("sub/nonce = %v/%v", claims["sub"], claims["nonce"])
	}
	wantStr := map[string]string{
		"employee_id": "HR012023001", "entity": "ACME", "department": "HR01", "department_name": "Human Resources",
		"title": "HR partner", "sid": defaultSID, "acr": "urn:gongpai:acr:mfa",
	}
	for k, v := range wantStr {
		if str(claims, k) != v {
			t.Errorf("ID token %s = %v, want %q", k, claims[k], v)
		}
	}
	// hr is a directory role: the web client does not see it by default
	// (roles_test.go).
	if got := strs(claims["roles"]); !slices.Equal(got, []string{"employee"}) {
		t.Errorf("roles = %v", got)
	}
	if got := strs(claims["amr"]); !slices.Equal(got, []string{"pwd", "otp", "mfa"}) {
		t.Errorf("amr = %v", got)
	}
	if got := strs(claims["department_path"]); !slices.Equal(got, []string{"HQ", "HR01"}) {
		t.Errorf("department_path = %v", got)
	}
	if at, _ := claims["auth_time"].(float64); at == 0 || time.Since(time.Unix(int64(at), 0)) > 5*time.Minute {
		t.Errorf("auth_time = %v", claims["auth_time"])
	}
	// Profile and email claims are in the ID token too, although an access
	// token was issued (OIDC Core §5.4 allows it; RPs expect it).
	if claims["email"] != "alice@acme.example" {
		t.Errorf("ID token lacks email: %v", claims)
	}

	// Userinfo: sub always, profile and email now.
	uresp, info := e.userinfo(str(tok, "access_token"))
	if uresp.StatusCode != http.StatusOK {
		t.Fatalf("userinfo: %d %v", uresp.StatusCode, info)
	}
	if uresp.Header.Get("Cache-Control") != "no-store" {
		t.Errorf("userinfo Cache-Control = %q", uresp.Header.Get("Cache-Control"))
	}
	for k, v := range map[string]string{"sub": aliceSub, "name": "Alice Wang", "preferred_username": "HR012023001", "email": "alice@acme.example", "employee_id": "HR012023001"} {
		if str(info, k) != v {
			t.Errorf("userinfo %s = %v, want %q", k, info[k], v)
		}
	}
	if info["email_verified"] != true {
		t.Errorf("email_verified = %v", info["email_verified"])
	}

	// The code is single-use.
	resp, body := e.post("/oauth/token", "web", codeForm(code, webRedirect, verifier))
	if resp.StatusCode != http.StatusBadRequest || str(body, "error") != "invalid_grant" {
		t.Errorf("second redemption: %d %v, want 400 invalid_grant", resp.StatusCode, body)
	}
	if resp.Header.Get("Cache-Control") != "no-store" {
		t.Errorf("error from the token endpoint lacks no-store")
	}
}

func TestScopesGateClaims(t *testing.T) {
	e := newEnv(t)
	tests := []struct {
		name    string
		client  string
		scope   string
		present []string
		absent  []string
	}{
		{"openid only", "web", "openid", []string{"sub", "sid", "amr"}, []string{"employee_id", "roles", "department"}},
		{"employee without roles", "web", "openid employee", []string{"employee_id", "department"}, []string{"roles"}},
		{"roles", "web", employeeScopes, []string{"employee_id", "roles"}, nil},
		// limited may only ask for openid and profile: employee is dropped.
		{"client not allowed employee", "limited", "openid profile employee roles", []string{"sub"}, []string{"employee_id", "roles"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			redirect := webRedirect
			if tt.client == "limited" {
				redirect = "https://limited.example.com/cb"
			}
			code := e.code(authParams(tt.client, redirect, tt.scope, true), aliceSub)
			resp, tok := e.post("/oauth/token", tt.client, codeForm(code, redirect, verifier))
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("exchange: %d %v", resp.StatusCode, tok)
			}
			claims := e.verifyIDToken(str(tok, "id_token"), tt.client)
			for _, c := range tt.present {
				if _, ok := claims[c]; !ok {
					t.Errorf("ID token lacks %s: %v", c, claims)
				}
			}
			for _, c := range tt.absent {
				if _, ok := claims[c]; ok {
					t.Errorf("ID token has %s: %v", c, claims)
				}
			}
			if _, ok := tok["refresh_token"]; ok {
				t.Errorf("refresh token issued without offline_access")
			}
		})
	}
}

func TestPKCE(t *testing.T) {
	e := newEnv(t)
	tests := []struct {
		name     string
		client   string
		redirect string
		pkce     bool
		verifier string
		want     int
		wantErr  string
	}{
		{"confidential right verifier", "web", webRedirect, true, verifier, 200, ""},
		{"confidential wrong verifier", "web", webRedirect, true, strings.Repeat("a", 43), 400, "invalid_grant"},
		{"confidential challenge without verifier (G1)", "web", webRedirect, true, "", 400, "invalid_grant"},
		{"confidential verifier without challenge", "web", webRedirect, false, verifier, 400, "invalid_grant"},
		{"confidential without PKCE", "web", webRedirect, false, "", 200, ""},
		{"public right verifier", "spa", spaRedirect, true, verifier, 200, ""},
		{"public wrong verifier", "spa", spaRedirect, true, verifier[:43] + "x", 400, "invalid_grant"},
		{"public no verifier", "spa", spaRedirect, true, "", 400, "invalid_grant"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code := e.code(authParams(tt.client, tt.redirect, "openid", tt.pkce), aliceSub)
			resp, body := e.post("/oauth/token", tt.client, codeForm(code, tt.redirect, tt.verifier))
			if resp.StatusCode != tt.want || str(body, "error") != tt.wantErr {
				t.Fatalf("exchange: %d %v; want %d %q", resp.StatusCode, body, tt.want, tt.wantErr)
			}
			if tt.want != 200 {
				// The failed attempt burnt the code: the right verifier
				// cannot redeem it afterwards.
				resp, body = e.post("/oauth/token", tt.client, codeForm(code, tt.redirect, verifier))
				if resp.StatusCode == http.StatusOK {
					t.Errorf("code redeemed after a failed PKCE check: %v", body)
				}
			}
		})
	}
}

func TestAuthorizeRefusals(t *testing.T) {
	e := newEnv(t)
	tests := []struct {
		name    string
		mutate  func(url.Values)
		wantErr string // error in the redirect to the client
	}{
		{"plain PKCE (G18)", func(q url.Values) { q.Set("code_challenge", verifier); q.Set("code_challenge_method", "plain") }, "invalid_request"},
		{"challenge without method", func(q url.Values) { q.Del("code_challenge_method") }, "invalid_request"},
		{"public client without PKCE", func(q url.Values) { q.Del("code_challenge"); q.Del("code_challenge_method") }, "invalid_request"},
		{"implicit", func(q url.Values) { q.Set("response_type", "id_token") }, "unsupported_response_type"},
		{"no openid", func(q url.Values) { q.Set("scope", "profile") }, "invalid_scope"},
		{"form_post", func(q url.Values) { q.Set("response_mode", "form_post") }, "invalid_request"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q := authParams("spa", spaRedirect, "openid", true)
			tt.mutate(q)
			resp := e.authorize(q)
			loc, _ := url.Parse(resp.Header.Get("Location"))
			if resp.StatusCode != http.StatusFound || !strings.HasPrefix(loc.String(), spaRedirect) {
				t.Fatalf("status %d to %q; want a 302 to the client", resp.StatusCode, loc)
			}
			params := loc.Query()
			if loc.Fragment != "" { // implicit errors travel in the fragment
				params, _ = url.ParseQuery(loc.Fragment)
			}
			if got := params.Get("error"); got != tt.wantErr || params.Get("state") != defaultState {
				t.Errorf("redirect %s: error %q, want %q with state", loc, got, tt.wantErr)
			}
		})
	}

	// A redirect URI that is not registered exactly is never redirected to.
	for _, uri := range []string{"https://spa.example.com/cb/x", "https://evil.example.com/cb", "http://127.0.0.1:9001/cb"} {
		q := authParams("web", uri, "openid", true)
		resp := e.authorize(q)
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("redirect_uri %s: status %d (Location %q), want 400", uri, resp.StatusCode, resp.Header.Get("Location"))
		}
	}
	// Unknown client: 400 here, not a 500.
	resp := e.authorize(authParams("nobody", webRedirect, "openid", true))
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("unknown client: status %d, want 400", resp.StatusCode)
	}
}

func TestAuthRequestStored(t *testing.T) {
	e := newEnv(t)
	q := authParams("web", webRedirect, "openid profile bogus", true)
	q.Set("prompt", "login")
	q.Set("ui_locales", "zh-CN en")
	q.Set("login_hint", "HR012023001")
	q.Set("acr_values", "urn:gongpai:acr:mfa")
	id := e.loginRequestID(e.authorize(q))
	if len(id) < 43 || strings.Contains(id, ":") {
		t.Errorf("auth request ID %q is not 256-bit opaque", id)
	}
	r, err := e.p.AuthRequest(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(r.Scopes, []string{"openid", "profile"}) {
		t.Errorf("scopes = %v (unknown scopes must be dropped)", r.Scopes)
	}
	if !slices.Equal(r.Prompt, []string{"login"}) || r.MaxAge == nil || *r.MaxAge != 0 {
		t.Errorf("prompt %v, max_age %v; want [login] and 0", r.Prompt, r.MaxAge)
	}
	if !slices.Equal(r.UILocales, []string{"zh-CN", "en"}) || r.LoginHint != "HR012023001" || !slices.Equal(r.ACRValues, []string{"urn:gongpai:acr:mfa"}) {
		t.Errorf("ui_locales %v, login_hint %q, acr_values %v", r.UILocales, r.LoginHint, r.ACRValues)
	}
	if r.CodeChallengeMethod != "S256" || r.Nonce != defaultNonce || r.State != defaultState || r.ClientID != "web" {
		t.Errorf("stored request = %+v", r)
	}
	if ttl := r.ExpiresAt.Sub(r.CreatedAt); ttl <= 0 || ttl > time.Hour {
		t.Errorf("auth request TTL = %v", ttl)
	}

	c, err := e.p.Client(context.Background(), "web")
	if err != nil || c.ID != "web" {
		t.Fatalf("Client(web) = %v, %v", c, err)
	}
}

func TestErrorRedirect(t *testing.T) {
	e := newEnv(t)
	q := authParams("web", webRedirect, "openid", true)
	q.Set("state", "s p&a=c")
	id := e.loginRequestID(e.authorize(q))
	hop, err := e.p.ErrorRedirect(context.Background(), id, "login_required", "no session & prompt=none")
	if err != nil {
		t.Fatal(err)
	}
	// The browser goes through the provider's hop, which redirects on.
	resp := e.get(hop, nil)
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("error hop: %d", resp.StatusCode)
	}
	to := resp.Header.Get("Location")
	u, _ := url.Parse(to)
	if u.Scheme+"://"+u.Host+u.Path != webRedirect {
		t.Errorf("redirect %s not to %s", to, webRedirect)
	}
	if u.Query().Get("error") != "login_required" || u.Query().Get("error_description") != "no session & prompt=none" || u.Query().Get("state") != "s p&a=c" {
		t.Errorf("redirect %s does not carry error, description and state", to)
	}
	if _, err := e.p.AuthRequest(context.Background(), id); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("auth request after ErrorRedirect: %v, want ErrNotFound", err)
	}
	if _, err := e.p.ErrorRedirect(context.Background(), id, "bogus_error", ""); err == nil {
		t.Error("ErrorRedirect accepted an unknown error code")
	}
}

func TestCallbackBeforeCompletion(t *testing.T) {
	e := newEnv(t)
	id := e.loginRequestID(e.authorize(authParams("web", webRedirect, "openid", true)))
	resp := e.get("/authorize/callback?id="+url.QueryEscape(id), nil)
	loc, _ := url.Parse(resp.Header.Get("Location"))
	if resp.StatusCode != http.StatusFound || loc.Query().Get("error") != "interaction_required" {
		t.Errorf("callback of an unfinished request: %d %s, want interaction_required", resp.StatusCode, loc)
	}
	// An unknown request gets login-ui's expired page, never zitadel's
	// plain-text error with storage internals.
	resp = e.get("/authorize/callback?id=unknown", nil)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/login/expired" {
		t.Errorf("callback of an unknown request: %d to %q, want 303 to /login/expired", resp.StatusCode, resp.Header.Get("Location"))
	}
}

func TestMFARequiredClient(t *testing.T) {
	e := newEnv(t)
	e.addClient(op.ClientSpec{ID: "mfa", RedirectURIs: []string{"https://mfa.example.com/cb"}, RequireMFA: true})
	id := e.loginRequestID(e.authorize(authParams("mfa", "https://mfa.example.com/cb", "openid", true)))
	_, err := e.p.Complete(context.Background(), id, storage.AuthResult{Subject: aliceSub, AuthTime: time.Now(), AMR: []string{"pwd"}})
	if err == nil {
		t.Fatal("Complete without mfa succeeded for a client that requires it")
	}
}
