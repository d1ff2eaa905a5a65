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

func refreshForm(rt string) url.Values {
	return url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}
}

func TestRefreshRotationAndReuse(t *testing.T) {
	e := newEnv(t)
	first := e.tokens(allScopes)
	rt1 := str(first, "refresh_token")
	if len(rt1) < 43 {
		t.Fatalf("refresh token %q is shorter than 256 bits", rt1)
	}

	resp, second := e.post("/oauth/token", "web", refreshForm(rt1))
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("refresh: %d %v", resp.StatusCode, second)
	}
	if resp.Header.Get("Cache-Control") != "no-store" || resp.Header.Get("Pragma") != "no-cache" {
		t.Errorf("refresh response lacks no-store/no-cache")
	}
	rt2 := str(second, "refresh_token")
	if rt2 == "" || rt2 == rt1 {
		t.Fatalf("refresh did not rotate: %q → %q", rt1, rt2)
	}
	// The refreshed ID token keeps the original login's facts.
	claims := e.verifyIDToken(str(second, "id_token"), "web")
	if str(claims, "sid") != defaultSID || str(claims, "acr") != "urn:gongpai:acr:mfa" || str(claims, "employee_id") != "HR012023001" {
		t.Errorf("refreshed ID token lost sid/acr/employee_id: %v", claims)
	}
	if got := strs(claims["amr"]); !slices.Equal(got, []string{"pwd", "otp", "mfa"}) {
		t.Errorf("refreshed amr = %v", got)
	}
	if _, ok := claims["auth_time"]; !ok {
		t.Errorf("refreshed ID token lacks auth_time")
	}
	at2 := str(second, "access_token")
	if r, _ := e.userinfo(at2); r.StatusCode != http.StatusOK {
		t.Fatalf("userinfo with the refreshed access token: %d", r.StatusCode)
	}

	// Narrowing the scope on refresh is allowed; widening is not.
	resp, narrow := e.post("/oauth/token", "web", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt2}, "scope": {"openid email"}})
	if resp.StatusCode != http.StatusOK || str(narrow, "scope") != "openid email" {
		t.Fatalf("narrowed refresh: %d %v", resp.StatusCode, narrow)
	}
	rt3 := str(narrow, "refresh_token")

	// Presenting the spent rt1 again is reuse: the whole family dies.
	resp, body := e.post("/oauth/token", "web", refreshForm(rt1))
	if resp.StatusCode != http.StatusBadRequest || str(body, "error") != "invalid_grant" {
		t.Fatalf("reuse of a spent token: %d %v, want invalid_grant", resp.StatusCode, body)
	}
	resp, body = e.post("/oauth/token", "web", refreshForm(rt3))
	if resp.StatusCode != http.StatusBadRequest || str(body, "error") != "invalid_grant" {
		t.Errorf("latest token after reuse: %d %v, want invalid_grant (family revoked)", resp.StatusCode, body)
	}
	if r, _ := e.userinfo(str(narrow, "access_token")); r.StatusCode != http.StatusUnauthorized {
		t.Errorf("access token of a revoked family: userinfo %d, want 401", r.StatusCode)
	}
	if _, in := e.introspect("web", at2); in["active"] != false {
		t.Errorf("introspection of a revoked family's token: %v", in)
	}
}

func TestRefreshRefusals(t *testing.T) {
	e := newEnv(t)
	tok := e.tokens(allScopes)
	tests := []struct {
		name    string
		client  string
		form    url.Values
		wantErr string
	}{
		{"garbage", "web", refreshForm("nope"), "invalid_grant"},
		{"another client's token", "other", refreshForm(str(tok, "refresh_token")), "invalid_grant"},
		{"wider scope", "web", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {str(tok, "refresh_token")}, "scope": {"openid admin"}}, "invalid_scope"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := e.post("/oauth/token", tt.client, tt.form)
			if str(body, "error") != tt.wantErr {
				t.Errorf("%d %v, want %s", resp.StatusCode, body, tt.wantErr)
			}
		})
	}
	// A frozen employee's refresh token stops working at once.
	e.people.setStatus(aliceSub, storage.StatusFrozen)
	resp, body := e.post("/oauth/token", "web", refreshForm(str(tok, "refresh_token")))
	if str(body, "error") != "invalid_grant" {
		t.Errorf("refresh for a frozen employee: %d %v", resp.StatusCode, body)
	}
}

func TestClientCredentials(t *testing.T) {
	e := newEnv(t)
	form := url.Values{"grant_type": {"client_credentials"}, "scope": {"employee openid roles"}}
	resp, tok := e.post("/oauth/token", "svc", form)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("client_credentials: %d %v", resp.StatusCode, tok)
	}
	if resp.Header.Get("Cache-Control") != "no-store" {
		t.Errorf("client_credentials response lacks no-store")
	}
	if _, ok := tok["refresh_token"]; ok {
		t.Errorf("client_credentials issued a refresh token")
	}
	if _, ok := tok["id_token"]; ok {
		t.Errorf("client_credentials issued an ID token")
	}
	// openid, employee and roles describe an employee: a service token
	// carries none of them (servicescopes.go).
	if str(tok, "scope") != "" {
		t.Errorf("scope = %q, want none", str(tok, "scope"))
	}
	_, in := e.introspect("svc", str(tok, "access_token"))
	if in["active"] != true || str(in, "sub") != "svc" || str(in, "client_id") != "svc" || str(in, "scope") != "" {
		t.Errorf("introspection of a client token: %v", in)
	}
	if r, _ := e.userinfo(str(tok, "access_token")); r.StatusCode != http.StatusUnauthorized {
		t.Errorf("userinfo with a client token: %d, want 401", r.StatusCode)
	}

	tests := []struct {
		name    string
		client  string
		secret  string
		want    int
		wantErr string
	}{
		{"client without the grant", "web", "", 400, "unauthorized_client"},
		{"wrong secret", "svc", "wrong", 401, "invalid_client"},
		{"unknown client", "ghost", "x", 401, "invalid_client"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.secret != "" {
				old := e.secrets[tt.client]
				e.secrets[tt.client] = tt.secret
				defer func() { e.secrets[tt.client] = old }()
			}
			resp, body := e.post("/oauth/token", tt.client, url.Values{"grant_type": {"client_credentials"}})
			if resp.StatusCode != tt.want || str(body, "error") != tt.wantErr {
				t.Errorf("%d %v, want %d %s", resp.StatusCode, body, tt.want, tt.wantErr)
			}
		})
	}
}

func TestIntrospection(t *testing.T) {
	e := newEnv(t)
	tok := e.tokens(allScopes)
	at := str(tok, "access_token")

	resp, in := e.introspect("web", at)
	if resp.StatusCode != http.StatusOK || in["active"] != true {
		t.Fatalf("introspect own token: %d %v", resp.StatusCode, in)
	}
	if resp.Header.Get("Cache-Control") != "no-store" {
		t.Errorf("introspection lacks no-store")
	}
	for k, v := range map[string]string{"sub": aliceSub, "client_id": "web", "employee_id": "HR012023001", "iss": e.issuer, "username": "HR012023001"} {
		if str(in, k) != v {
			t.Errorf("introspection %s = %v, want %q", k, in[k], v)
		}
	}
	if !strings.Contains(str(in, "scope"), "employee") {
		t.Errorf("introspection scope = %q", str(in, "scope"))
	}

	tests := []struct {
		name   string
		caller string
		token  string
	}{
		{"garbage", "web", "garbage"},
		{"refresh token is not an access token", "web", str(tok, "refresh_token")},
		{"other client, not in audience", "other", at},
		{"id token", "web", str(tok, "id_token")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, in := e.introspect(tt.caller, tt.token)
			if resp.StatusCode != http.StatusOK || len(in) != 1 || in["active"] != false {
				t.Errorf("%d %v, want exactly {\"active\":false}", resp.StatusCode, in)
			}
		})
	}

	// The caller must authenticate: a public client cannot introspect.
	resp, body := e.introspect("spa", at)
	if resp.StatusCode != http.StatusUnauthorized && resp.StatusCode != http.StatusBadRequest {
		t.Errorf("unauthenticated introspection: %d %v", resp.StatusCode, body)
	}
	if body["active"] == true {
		t.Errorf("unauthenticated caller learnt the token is active")
	}

	// Freezing the employee makes their tokens inactive at once.
	e.people.setStatus(aliceSub, storage.StatusFrozen)
	if _, in := e.introspect("web", at); in["active"] != false {
		t.Errorf("token of a frozen employee still active: %v", in)
	}
	if r, _ := e.userinfo(at); r.StatusCode != http.StatusUnauthorized {
		t.Errorf("userinfo for a frozen employee: %d, want 401", r.StatusCode)
	}
}

func TestRevocation(t *testing.T) {
	e := newEnv(t)
	revoke := func(client, token, hint string) (*http.Response, map[string]any) {
		f := url.Values{"token": {token}}
		if hint != "" {
			f.Set("token_type_hint", hint)
		}
		return e.post("/revoke", client, f)
	}

	t.Run("access token", func(t *testing.T) {
		tok := e.tokens("openid")
		if resp, body := revoke("web", str(tok, "access_token"), "access_token"); resp.StatusCode != http.StatusOK {
			t.Fatalf("revoke: %d %v", resp.StatusCode, body)
		}
		if _, in := e.introspect("web", str(tok, "access_token")); in["active"] != false {
			t.Errorf("revoked access token still active")
		}
	})
	t.Run("refresh token kills the family", func(t *testing.T) {
		tok := e.tokens(allScopes)
		if resp, body := revoke("web", str(tok, "refresh_token"), ""); resp.StatusCode != http.StatusOK {
			t.Fatalf("revoke: %d %v", resp.StatusCode, body)
		}
		if resp, body := e.post("/oauth/token", "web", refreshForm(str(tok, "refresh_token"))); str(body, "error") != "invalid_grant" {
			t.Errorf("revoked refresh token still works: %d %v", resp.StatusCode, body)
		}
		if _, in := e.introspect("web", str(tok, "access_token")); in["active"] != false {
			t.Errorf("access token of a revoked family still active")
		}
	})
	t.Run("unknown token is 200", func(t *testing.T) {
		if resp, body := revoke("web", "never-issued", ""); resp.StatusCode != http.StatusOK {
			t.Errorf("revoke unknown: %d %v", resp.StatusCode, body)
		}
	})
	t.Run("another client's token is refused", func(t *testing.T) {
		tok := e.tokens(allScopes)
		if resp, _ := revoke("other", str(tok, "refresh_token"), ""); resp.StatusCode == http.StatusOK {
			t.Errorf("client other revoked web's refresh token")
		}
		if resp, _ := revoke("other", str(tok, "access_token"), "access_token"); resp.StatusCode == http.StatusOK {
			t.Errorf("client other revoked web's access token")
		}
		if _, in := e.introspect("web", str(tok, "access_token")); in["active"] != true {
			t.Errorf("web's token died from another client's revocation")
		}
	})
	t.Run("public client", func(t *testing.T) {
		code := e.code(authParams("spa", spaRedirect, allScopes, true), aliceSub)
		_, tok := e.post("/oauth/token", "spa", codeForm(code, spaRedirect, verifier))
		if resp, body := revoke("spa", str(tok, "refresh_token"), "refresh_token"); resp.StatusCode != http.StatusOK {
			t.Fatalf("public revoke: %d %v", resp.StatusCode, body)
		}
		if _, body := e.post("/oauth/token", "spa", refreshForm(str(tok, "refresh_token"))); str(body, "error") != "invalid_grant" {
			t.Errorf("public client's revoked refresh token still works: %v", body)
		}
	})
}

func TestUserinfoRejects(t *testing.T) {
	e := newEnv(t)
	tests := []struct {
		name string
		hdr  http.Header
		want int
	}{
		{"no token", nil, http.StatusUnauthorized},
		{"garbage", http.Header{"Authorization": {"Bearer garbage"}}, http.StatusUnauthorized},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := e.get("/userinfo", tt.hdr)
			if resp.StatusCode != tt.want || resp.Header.Get("Cache-Control") != "no-store" {
				t.Errorf("status %d, Cache-Control %q; want %d, no-store", resp.StatusCode, resp.Header.Get("Cache-Control"), tt.want)
			}
		})
	}
}

func TestHTTPHardening(t *testing.T) {
	e := newEnv(t)
	tests := []struct {
		name   string
		method string
		path   string
		want   int
	}{
		{"GET token endpoint", http.MethodGet, "/oauth/token", http.StatusMethodNotAllowed},
		{"PUT authorize", http.MethodPut, "/authorize", http.StatusMethodNotAllowed},
		{"DELETE keys", http.MethodDelete, "/keys", http.StatusMethodNotAllowed},
		{"POST discovery", http.MethodPost, "/.well-known/openid-configuration", http.StatusMethodNotAllowed},
		{"token parameters in the URL", http.MethodPost, "/oauth/token?grant_type=client_credentials", http.StatusBadRequest},
		{"healthz", http.MethodGet, "/healthz", http.StatusOK},
		{"ready", http.MethodGet, "/ready", http.StatusOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest(tt.method, e.issuer+tt.path, nil)
			resp, err := e.http.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tt.want {
				t.Errorf("status %d, want %d", resp.StatusCode, tt.want)
			}
		})
	}

	// CORS: any origin may read, never with credentials (G13).
	resp := e.get("/keys", http.Header{"Origin": {"https://evil.example"}})
	if got := resp.Header.Get("Access-Control-Allow-Origin"); got != "*" {
		t.Errorf("Access-Control-Allow-Origin = %q, want *", got)
	}
	if resp.Header.Get("Access-Control-Allow-Credentials") != "" {
		t.Errorf("CORS allows credentials")
	}
	req, _ := http.NewRequest(http.MethodOptions, e.issuer+"/oauth/token", nil)
	req.Header.Set("Origin", "https://spa.example.com")
	req.Header.Set("Access-Control-Request-Method", "POST")
	req.Header.Set("Access-Control-Request-Headers", "content-type")
	pre, err := e.http.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	pre.Body.Close()
	if pre.StatusCode >= 300 || pre.Header.Get("Access-Control-Allow-Origin") != "*" || pre.Header.Get("Access-Control-Allow-Credentials") != "" {
		t.Errorf("preflight: %d, allow-origin %q, allow-credentials %q", pre.StatusCode,
			pre.Header.Get("Access-Control-Allow-Origin"), pre.Header.Get("Access-Control-Allow-Credentials"))
	}
}

func TestEndSession(t *testing.T) {
	e := newEnv(t)
	idToken := str(e.tokens("openid"), "id_token")
	tests := []struct {
		name       string
		query      url.Values
		wantStatus int
		wantLR     *op.LogoutRequest
	}{
		{
			"hint and registered redirect",
			url.Values{"id_token_hint": {idToken}, "post_logout_redirect_uri": {webLogout}, "state": {"xyz"}},
			http.StatusFound,
			&op.LogoutRequest{RedirectURI: webLogout + "?state=xyz", Subject: aliceSub, ClientID: "web"},
		},
		{
			"client_id and registered redirect",
			url.Values{"client_id": {"web"}, "post_logout_redirect_uri": {webLogout}},
			http.StatusFound,
			&op.LogoutRequest{RedirectURI: webLogout, ClientID: "web"},
		},
		{"nothing", url.Values{}, http.StatusFound, &op.LogoutRequest{}},
		{
			"unregistered redirect",
			url.Values{"id_token_hint": {idToken}, "post_logout_redirect_uri": {"http://127.0.0.1:9001/bye"}},
			http.StatusBadRequest, nil,
		},
		{
			"prefix of a registered redirect",
			url.Values{"client_id": {"web"}, "post_logout_redirect_uri": {webLogout + "/x"}},
			http.StatusBadRequest, nil,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := e.get("/end_session?"+tt.query.Encode(), nil)
			if resp.StatusCode != tt.wantStatus {
				t.Fatalf("status %d (Location %q), want %d", resp.StatusCode, resp.Header.Get("Location"), tt.wantStatus)
			}
			if tt.wantLR == nil {
				return
			}
			loc, _ := url.Parse(resp.Header.Get("Location"))
			if loc.Path != "/logout" {
				t.Fatalf("redirect to %s, want /logout?lr=…", loc)
			}
			lr, err := e.p.OpenLogoutRequest(loc.Query().Get("lr"))
			if err != nil {
				t.Fatal(err)
			}
			if lr.RedirectURI != tt.wantLR.RedirectURI || lr.Subject != tt.wantLR.Subject || lr.ClientID != tt.wantLR.ClientID {
				t.Errorf("logout request = %+v, want %+v", lr, tt.wantLR)
			}
			if time.Until(lr.ExpiresAt) <= 0 {
				t.Errorf("logout request already expired: %v", lr.ExpiresAt)
			}
		})
	}
	for _, bad := range []string{"", "garbage", "v1.deadbeef.AAAA"} {
		if _, err := e.p.OpenLogoutRequest(bad); !errors.Is(err, op.ErrBadLogoutRequest) {
			t.Errorf("OpenLogoutRequest(%q) = %v, want ErrBadLogoutRequest", bad, err)
		}
	}
}

func TestConcurrentCodeRedemption(t *testing.T) {
	e := newEnv(t)
	code := e.code(authParams("web", webRedirect, "openid", true), aliceSub)
	const n = 8
	type result struct {
		status int
		at     string
	}
	results := make(chan result, n)
	for range n {
		go func() {
			resp, body := e.post("/oauth/token", "web", codeForm(code, webRedirect, verifier))
			results <- result{resp.StatusCode, str(body, "access_token")}
		}()
	}
	var issued []string
	for range n {
		if r := <-results; r.status == http.StatusOK {
			issued = append(issued, r.at)
		}
	}
	// The take is atomic: never two. And the other seven are replays, so
	// whatever the winner got was revoked (RFC 6749 §4.1.2; it may even
	// have been refused, when a replay overtook it: codereplay.go).
	if len(issued) > 1 {
		t.Errorf("%d of %d concurrent redemptions succeeded, want at most 1", len(issued), n)
	}
	for _, at := range issued {
		if r, _ := e.userinfo(at); r.StatusCode != http.StatusUnauthorized {
			t.Errorf("access token of a code redeemed %d times: userinfo %d, want 401", n, r.StatusCode)
		}
	}
}

func TestCompleteUnknownRequest(t *testing.T) {
	e := newEnv(t)
	_, err := e.p.Complete(context.Background(), "nope", storage.AuthResult{Subject: aliceSub, AuthTime: time.Now(), AMR: []string{"pwd"}})
	if !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("Complete(unknown) = %v, want ErrNotFound", err)
	}
}
