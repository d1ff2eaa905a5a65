package op_test

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	gooidc "github.com/coreos/go-oidc/v3/oidc"

	"github.com/gongpai/gongpai/keys"
	"github.com/gongpai/gongpai/op"
	"github.com/gongpai/gongpai/storage"
)

const jwtRedirect = "https://jwt.example.com/cb"

// TestRFC9068AccessToken: a JWT client's access token is typed at+jwt,
// carries RFC 9068 §2.2's claims and the employee's authentication
// context, verifies against the JWKS, is bound to the ID token by at_hash,
// and works at userinfo and introspection until revoked.
func TestRFC9068AccessToken(t *testing.T) {
	e := newEnv(t)
	e.addClient(op.ClientSpec{ID: "jwt", RedirectURIs: []string{jwtRedirect}, AccessTokenFormat: storage.AccessTokenJWT})
	before := time.Now().Add(-time.Second)
	code := e.code(authParams("jwt", jwtRedirect, allScopes, true), aliceSub)
	resp, tok := e.post("/oauth/token", "jwt", codeForm(code, jwtRedirect, verifier))
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("exchange: %d %v", resp.StatusCode, tok)
	}
	at := str(tok, "access_token")
	v := e.verifyJWT(at)
	if v.Typ != "at+jwt" || v.Alg != "RS256" {
		t.Errorf("header typ %q alg %q, want at+jwt RS256", v.Typ, v.Alg)
	}
	c := v.Claims
	checkAccessClaims(t, c, e.issuer, "jwt", aliceSub, before, op.DefaultAccessTokenTTL)
	if got := str(c, "scope"); got != allScopes {
		t.Errorf("scope %q, want %q", got, allScopes)
	}
	if _, ok := c["auth_time"].(float64); !ok {
		t.Errorf("auth_time missing: %v", c)
	}
	if str(c, "acr") != "urn:gongpai:acr:mfa" || !slices.Equal(strs(c["amr"]), []string{"pwd", "otp", "mfa"}) {
		t.Errorf("acr %v amr %v, want the sign-in's", c["acr"], c["amr"])
	}
	for _, k := range []string{"nonce", "employee_id", "email", "roles"} {
		if _, ok := c[k]; ok {
			t.Errorf("access token carries %q: %v", k, c)
		}
	}

	// at_hash in the ID token covers this access token.
	ctx := context.Background()
	provider, err := gooidc.NewProvider(ctx, e.issuer)
	if err != nil {
		t.Fatal(err)
	}
	idt, err := provider.Verifier(&gooidc.Config{ClientID: "jwt"}).Verify(ctx, str(tok, "id_token"))
	if err != nil {
		t.Fatalf("ID token: %v", err)
	}
	if err := idt.VerifyAccessToken(at); err != nil {
		t.Errorf("at_hash does not match the JWT access token: %v", err)
	}

	if r, info := e.userinfo(at); r.StatusCode != http.StatusOK || str(info, "sub") != aliceSub {
		t.Errorf("userinfo: %d %v", r.StatusCode, info)
	}
	if _, in := e.introspect("jwt", at); in["active"] != true || str(in, "scope") != allScopes || str(in, "client_id") != "jwt" {
		t.Errorf("introspection: %v", in)
	}

	// A refresh mints another RFC 9068 token, still with the sign-in's
	// authentication context.
	resp, ref := e.post("/oauth/token", "jwt", refreshForm(str(tok, "refresh_token")))
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("refresh: %d %v", resp.StatusCode, ref)
	}
	rv := e.verifyJWT(str(ref, "access_token"))
	if rv.Typ != "at+jwt" || rv.Claims["auth_time"] != c["auth_time"] || str(rv.Claims, "acr") != "urn:gongpai:acr:mfa" || str(rv.Claims, "jti") == str(c, "jti") {
		t.Errorf("refreshed access token: typ %q claims %v", rv.Typ, rv.Claims)
	}

	// Revoked: the signature still verifies, the record is gone.
	if r, body := e.post("/revoke", "jwt", url.Values{"token": {at}, "token_type_hint": {"access_token"}}); r.StatusCode != http.StatusOK {
		t.Fatalf("revoke: %d %v", r.StatusCode, body)
	}
	if r, _ := e.userinfo(at); r.StatusCode != http.StatusUnauthorized {
		t.Errorf("revoked: userinfo %d, want 401", r.StatusCode)
	}
	if _, in := e.introspect("jwt", at); in["active"] != false {
		t.Errorf("revoked: introspection %v, want active:false", in)
	}
	if r, _ := e.userinfo(str(ref, "access_token")); r.StatusCode != http.StatusOK {
		t.Errorf("the refreshed token died with the revoked one: userinfo %d", r.StatusCode)
	}
}

func checkAccessClaims(t *testing.T, c map[string]any, issuer, clientID, sub string, before time.Time, ttl time.Duration) {
	t.Helper()
	if str(c, "iss") != issuer || str(c, "aud") != clientID || str(c, "sub") != sub || str(c, "client_id") != clientID {
		t.Errorf("iss/aud/sub/client_id = %v/%v/%v/%v, want %s/%s/%s/%s", c["iss"], c["aud"], c["sub"], c["client_id"], issuer, clientID, sub, clientID)
	}
	if str(c, "jti") == "" {
		t.Error("no jti")
	}
	iat, _ := c["iat"].(float64)
	exp, _ := c["exp"].(float64)
	if it := time.Unix(int64(iat), 0); it.Before(before.Truncate(time.Second)) || it.After(time.Now().Add(time.Second)) {
		t.Errorf("iat %v, want about now", it)
	}
	if d := time.Duration(exp-iat) * time.Second; d < ttl-2*time.Second || d > ttl+2*time.Second {
		t.Errorf("exp - iat = %v, want %v", d, ttl)
	}
}

// TestRFC9068ClientCredentials: a service's JWT access token names the
// service as sub, client_id and aud, and carries no authentication
// context.
func TestRFC9068ClientCredentials(t *testing.T) {
	e := newEnv(t)
	e.addClient(op.ClientSpec{ID: "svcjwt", GrantTypes: []string{"client_credentials"}, Scopes: []string{"employee"}, AccessTokenFormat: storage.AccessTokenJWT})
	before := time.Now().Add(-time.Second)
	resp, tok := e.post("/oauth/token", "svcjwt", url.Values{"grant_type": {"client_credentials"}, "scope": {"employee openid"}})
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("client_credentials: %d %v", resp.StatusCode, tok)
	}
	v := e.verifyJWT(str(tok, "access_token"))
	if v.Typ != "at+jwt" {
		t.Errorf("typ %q, want at+jwt", v.Typ)
	}
	checkAccessClaims(t, v.Claims, e.issuer, "svcjwt", "svcjwt", before, op.DefaultAccessTokenTTL)
	if str(v.Claims, "scope") != "" {
		t.Errorf("scope %v, want none (a service token carries no user scope)", v.Claims["scope"])
	}
	for _, k := range []string{"auth_time", "acr", "amr"} {
		if _, ok := v.Claims[k]; ok {
			t.Errorf("a client's token carries %s", k)
		}
	}
	if _, in := e.introspect("svcjwt", str(tok, "access_token")); in["active"] != true {
		t.Errorf("introspection: %v", in)
	}
	if str(tok, "token_type") != "Bearer" || tok["expires_in"] == nil {
		t.Errorf("token response %v", tok)
	}
}

// TestRFC9068ClientAlgorithm: the access token is signed like the ID
// token, with the client's id_token_signed_response_alg.
func TestRFC9068ClientAlgorithm(t *testing.T) {
	e := newEnvWith(t, envOptions{policy: &keys.Policy{Algorithms: []string{keys.RS256, keys.ES256}}})
	e.addClient(op.ClientSpec{ID: "jwtes", RedirectURIs: []string{jwtRedirect}, AccessTokenFormat: storage.AccessTokenJWT, IDTokenSignedResponseAlg: keys.ES256})
	code := e.code(authParams("jwtes", jwtRedirect, employeeScopes, true), aliceSub)
	resp, tok := e.post("/oauth/token", "jwtes", codeForm(code, jwtRedirect, verifier))
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("exchange: %d %v", resp.StatusCode, tok)
	}
	if v := e.verifyJWT(str(tok, "access_token")); v.Alg != "ES256" || v.Typ != "at+jwt" {
		t.Errorf("access token alg %q typ %q, want ES256 at+jwt", v.Alg, v.Typ)
	}
	if v := e.verifyJWT(str(tok, "id_token")); v.Alg != "ES256" {
		t.Errorf("ID token alg %q, want ES256", v.Alg)
	}
	if r, _ := e.userinfo(str(tok, "access_token")); r.StatusCode != http.StatusOK {
		t.Errorf("userinfo with an ES256 access token: %d", r.StatusCode)
	}
}

// TestOpaqueAccessTokenUnchanged: clients without --jwt-access-tokens
// still get opaque tokens.
func TestOpaqueAccessTokenUnchanged(t *testing.T) {
	e := newEnv(t)
	tok := e.tokens(allScopes)
	at := str(tok, "access_token")
	if strings.Count(at, ".") == 2 {
		t.Fatalf("opaque client got a JWS access token %q", at)
	}
	if r, info := e.userinfo(at); r.StatusCode != http.StatusOK || str(info, "sub") != aliceSub {
		t.Errorf("userinfo: %d %v", r.StatusCode, info)
	}
	e.verifyIDToken(str(tok, "id_token"), "web")
}

// TestJWTTypeConfusion: an ID token is no access token and an access
// token no id_token_hint (RFC 8725 §3.11).
func TestJWTTypeConfusion(t *testing.T) {
	e := newEnv(t)
	e.addClient(op.ClientSpec{ID: "jwt", RedirectURIs: []string{jwtRedirect}, PostLogoutRedirectURIs: []string{"https://jwt.example.com/bye"}, AccessTokenFormat: storage.AccessTokenJWT})
	code := e.code(authParams("jwt", jwtRedirect, employeeScopes, true), aliceSub)
	_, tok := e.post("/oauth/token", "jwt", codeForm(code, jwtRedirect, verifier))
	if r, _ := e.userinfo(str(tok, "id_token")); r.StatusCode != http.StatusUnauthorized {
		t.Errorf("userinfo with an ID token: %d, want 401", r.StatusCode)
	}
	if _, in := e.introspect("jwt", str(tok, "id_token")); in["active"] != false {
		t.Errorf("introspection of an ID token: %v, want active:false", in)
	}
	q := url.Values{"id_token_hint": {str(tok, "access_token")}, "post_logout_redirect_uri": {"https://jwt.example.com/bye"}}
	if r := e.get("/end_session?"+q.Encode(), nil); r.StatusCode != http.StatusBadRequest {
		t.Errorf("end_session with an access token as id_token_hint: %d, want 400", r.StatusCode)
	}
	q.Set("id_token_hint", str(tok, "id_token"))
	if r := e.get("/end_session?"+q.Encode(), nil); r.StatusCode != http.StatusFound {
		t.Errorf("end_session with the ID token: %d, want 302", r.StatusCode)
	}
}
