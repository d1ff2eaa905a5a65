package op_test

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	gooidc "github.com/coreos/go-oidc/v3/oidc"

	"github.com/gongpai/gongpai/keys"
	"github.com/gongpai/gongpai/op"
	"github.com/gongpai/gongpai/seal"
	"github.com/gongpai/gongpai/storage"
)

// keyClock is the key manager's fake clock; the provider keeps real time.
type keyClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *keyClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *keyClock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

// header decodes a compact JWS's protected header.
func header(t testing.TB, jws string) map[string]any {
	t.Helper()
	h, _, _ := strings.Cut(jws, ".")
	b, err := base64.RawURLEncoding.DecodeString(h)
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]any{}
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestJWKSCacheHeaders(t *testing.T) {
	c := &keyClock{t: time.Now()}
	e := newEnvWith(t, envOptions{keyNow: c.Now})
	resp := e.get("/keys", nil)
	body, _ := io.ReadAll(resp.Body)
	etag := resp.Header.Get("ETag")
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Cache-Control") != "public, max-age=600" || !strings.HasPrefix(etag, `"`) ||
		resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("GET /keys: %d, Cache-Control %q, ETag %q, Content-Type %q", resp.StatusCode, resp.Header.Get("Cache-Control"), etag, resp.Header.Get("Content-Type"))
	}
	if ks := decode(t, strings.NewReader(string(body))); len(ks["keys"].([]any)) != 1 {
		t.Fatalf("JWKS %s", body)
	}
	tests := []struct {
		name, ifNoneMatch string
		want              int
	}{
		{"same tag", etag, http.StatusNotModified},
		{"weak form", "W/" + etag, http.StatusNotModified},
		{"in a list", `"other", ` + etag, http.StatusNotModified},
		{"star", "*", http.StatusNotModified},
		{"other tag", `"other"`, http.StatusOK},
	}
	for _, tt := range tests {
		resp := e.get("/keys", http.Header{"If-None-Match": {tt.ifNoneMatch}})
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != tt.want || resp.Header.Get("ETag") != etag || resp.Header.Get("Cache-Control") == "" {
			t.Errorf("%s: %d, ETag %q, Cache-Control %q; want %d with the same headers", tt.name, resp.StatusCode, resp.Header.Get("ETag"), resp.Header.Get("Cache-Control"), tt.want)
		}
		if tt.want == http.StatusNotModified && len(b) != 0 {
			t.Errorf("%s: 304 with a body", tt.name)
		}
	}
	req, _ := http.NewRequest(http.MethodHead, e.issuer+"/keys", nil)
	if resp, err := e.http.Do(req); err != nil || resp.StatusCode != http.StatusOK || resp.ContentLength != int64(len(body)) {
		t.Errorf("HEAD /keys: %v %v", resp, err)
	}
	if r, _ := e.post("/keys", "", nil); r.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST /keys: %d, want 405", r.StatusCode)
	}

	// A new next key changes the set: a conditional GET gets it.
	if _, err := e.keys.Rotate(context.Background(), keys.RotateOptions{Actor: "test"}); err != nil {
		t.Fatal(err)
	}
	resp = e.get("/keys", http.Header{"If-None-Match": {etag}})
	if resp.StatusCode != http.StatusOK || resp.Header.Get("ETag") == etag {
		t.Fatalf("after a rotation: %d, ETag %q (was %q)", resp.StatusCode, resp.Header.Get("ETag"), etag)
	}
	if ks := decode(t, resp.Body); len(ks["keys"].([]any)) != 2 {
		t.Errorf("after a rotation the JWKS has %v; want the active and the next key", ks)
	}
}

// A client's id_token_signed_response_alg picks the key where one of that
// algorithm is active; other clients keep the default.
func TestClientSigningAlgorithm(t *testing.T) {
	e := newEnvWith(t, envOptions{policy: &keys.Policy{Algorithms: []string{keys.RS256, keys.ES256, keys.EdDSA}}})
	e.addClient(op.ClientSpec{ID: "es", RedirectURIs: []string{webRedirect}, IDTokenSignedResponseAlg: "ES256"})
	e.addClient(op.ClientSpec{ID: "ed", RedirectURIs: []string{webRedirect}, IDTokenSignedResponseAlg: "EdDSA",
		AccessTokenFormat: storage.AccessTokenJWT})
	if _, _, err := op.NewClient(op.ClientSpec{ID: "bad", RedirectURIs: []string{webRedirect}, IDTokenSignedResponseAlg: "HS256"}, time.Now()); err == nil ||
		!strings.Contains(err.Error(), "id_token_signed_response_alg") {
		t.Errorf("NewClient with HS256: %v", err)
	}
	provider, err := gooidc.NewProvider(context.Background(), e.issuer)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		client, wantAlg string
	}{
		{"web", "RS256"},
		{"es", "ES256"},
		{"ed", "EdDSA"},
	}
	for _, tt := range tests {
		t.Run(tt.client, func(t *testing.T) {
			code := e.code(authParams(tt.client, webRedirect, employeeScopes, true), aliceSub)
			resp, tok := e.post("/oauth/token", tt.client, codeForm(code, webRedirect, verifier))
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("exchange: %d %v", resp.StatusCode, tok)
			}
			idt := str(tok, "id_token")
			h := header(t, idt)
			wantKID, _, _ := e.keys.Signer(tt.wantAlg)
			if h["alg"] != tt.wantAlg || h["kid"] != wantKID {
				t.Errorf("ID token header %v; want alg %s, kid %s", h, tt.wantAlg, wantKID)
			}
			v := provider.Verifier(&gooidc.Config{ClientID: tt.client, SupportedSigningAlgs: []string{tt.wantAlg}})
			if _, err := v.Verify(context.Background(), idt); err != nil {
				t.Errorf("go-oidc: %v", err)
			}
			if tt.client == "ed" {
				// zitadel's own verifiers accept our EdDSA tokens (G6).
				at := str(tok, "access_token")
				if r, info := e.userinfo(at); r.StatusCode != http.StatusOK || header(t, at)["alg"] != "EdDSA" {
					t.Errorf("userinfo with an EdDSA JWT access token: %d %v", r.StatusCode, info)
				}
			}
		})
	}
	d := decode(t, e.get("/.well-known/openid-configuration", nil).Body)
	if got := strs(d["id_token_signing_alg_values_supported"]); len(got) != 3 {
		t.Errorf("id_token_signing_alg_values_supported = %v; want the three algorithms", got)
	}
}

// signIn is a whole authorization-code sign-in for a confidential client,
// safe to call from any goroutine (it returns errors instead of failing
// the test).
func (e *env) signIn(clientID, redirect string) (map[string]any, error) {
	q := authParams(clientID, redirect, employeeScopes, true)
	resp, err := e.http.Get(e.issuer + "/authorize?" + q.Encode())
	if err != nil {
		return nil, err
	}
	resp.Body.Close()
	loc, err := url.Parse(resp.Header.Get("Location"))
	if err != nil || resp.StatusCode != http.StatusFound {
		return nil, fmt.Errorf("authorize: %d %v", resp.StatusCode, err)
	}
	cb, err := e.p.Complete(context.Background(), loc.Query().Get("authRequestID"), storage.AuthResult{
		Subject: aliceSub, AuthTime: time.Now().Add(-time.Minute), AMR: []string{"pwd", "otp", "mfa"}, ACR: "urn:gongpai:acr:mfa", SessionID: defaultSID,
	})
	if err != nil {
		return nil, fmt.Errorf("complete: %w", err)
	}
	resp, err = e.http.Get(e.resolve(cb))
	if err != nil {
		return nil, err
	}
	resp.Body.Close()
	loc, err = url.Parse(resp.Header.Get("Location"))
	if err != nil || loc.Query().Get("code") == "" {
		return nil, fmt.Errorf("callback: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	form := codeForm(loc.Query().Get("code"), redirect, verifier)
	req, _ := http.NewRequest(http.MethodPost, e.issuer+"/oauth/token", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(clientID, e.secrets[clientID])
	resp, err = e.http.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	tok := map[string]any{}
	if err := json.NewDecoder(resp.Body).Decode(&tok); err != nil || resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("token: %d %v %v", resp.StatusCode, tok, err)
	}
	return tok, nil
}

// A relying party (go-oidc's RemoteKeySet, one long-lived cache as real
// apps hold) verifies ID tokens and JWT access tokens from several
// goroutines while the rotation job rotates the keys twice: not one
// verification fails. Then a revocation: tokens of the revoked key fail at
// a relying party that fetches the JWKS afresh, at userinfo and at
// introspection, while new sign-ins go on working.
func TestRotationUnderLoadAndRevocation(t *testing.T) {
	ctx := context.Background()
	c := &keyClock{t: time.Now()}
	e := newEnvWith(t, envOptions{keyNow: c.Now})
	const jwtRedirect = "https://jwt.example.com/cb"
	e.addClient(op.ClientSpec{ID: "webjwt", RedirectURIs: []string{jwtRedirect}, AccessTokenFormat: storage.AccessTokenJWT})
	e.addClient(op.ClientSpec{ID: "svcjwt", GrantTypes: []string{"client_credentials"}, Scopes: []string{"employee"}, AccessTokenFormat: storage.AccessTokenJWT})

	rpKeys := gooidc.NewRemoteKeySet(ctx, e.issuer+"/keys")
	rp := gooidc.NewVerifier(e.issuer, rpKeys, &gooidc.Config{ClientID: "webjwt"})

	var (
		verified, failed atomic.Int64
		kidsMu           sync.Mutex
		kidsSeen         = map[string]int{}
		failures         []string
		stop             = make(chan struct{})
		wg               sync.WaitGroup
	)
	fail := func(format string, args ...any) {
		failed.Add(1)
		kidsMu.Lock()
		failures = append(failures, fmt.Sprintf(format, args...))
		kidsMu.Unlock()
	}
	seen := func(jws string) {
		kid, _ := header(t, jws)["kid"].(string)
		kidsMu.Lock()
		kidsSeen[kid]++
		kidsMu.Unlock()
	}
	for range 3 { // employees signing in
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				tok, err := e.signIn("webjwt", jwtRedirect)
				if err != nil {
					fail("sign-in: %v", err)
					continue
				}
				if _, err := rp.Verify(ctx, str(tok, "id_token")); err != nil {
					fail("ID token: %v", err)
					continue
				}
				seen(str(tok, "id_token"))
				verified.Add(1)
			}
		})
	}
	for range 3 { // services with JWT access tokens
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				form := url.Values{"grant_type": {"client_credentials"}, "scope": {"employee"}}
				req, _ := http.NewRequest(http.MethodPost, e.issuer+"/oauth/token", strings.NewReader(form.Encode()))
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				req.SetBasicAuth("svcjwt", e.secrets["svcjwt"])
				resp, err := e.http.Do(req)
				if err != nil {
					fail("client_credentials: %v", err)
					continue
				}
				tok := map[string]any{}
				err = json.NewDecoder(resp.Body).Decode(&tok)
				resp.Body.Close()
				if err != nil || resp.StatusCode != http.StatusOK {
					fail("client_credentials: %d %v", resp.StatusCode, tok)
					continue
				}
				if _, err := rpKeys.VerifySignature(ctx, str(tok, "access_token")); err != nil {
					fail("JWT access token: %v", err)
					continue
				}
				seen(str(tok, "access_token"))
				verified.Add(1)
			}
		})
	}
	// waitFor lets the load run until n more verifications happened.
	waitFor := func(n int64) {
		t.Helper()
		target := verified.Load() + n
		deadline := time.Now().Add(time.Minute)
		for verified.Load() < target && failed.Load() == 0 && time.Now().Before(deadline) {
			time.Sleep(5 * time.Millisecond)
		}
	}

	policy := e.keys.Policy()
	waitFor(30)
	for round := 1; round <= 2; round++ {
		active, _, _ := e.keys.Active()
		var activeSince time.Time
		for _, v := range e.keys.Keys() {
			if v.KID == active {
				activeSince = v.ActivatesAt
			}
		}
		// The job publishes the next key when it is due …
		c.Set(activeSince.Add(policy.RotationPeriod - policy.PrePublication + time.Minute))
		if err := e.keys.Tick(ctx); err != nil {
			t.Fatal(err)
		}
		var next keys.KeyView
		for _, v := range e.keys.Keys() {
			if v.State == storage.KeyNext {
				next = v
			}
		}
		if next.KID == "" {
			t.Fatalf("round %d: no next key published", round)
		}
		waitFor(30)
		// … and it signs from its activation time on.
		c.Set(next.ActivatesAt.Add(time.Second))
		if err := e.keys.Tick(ctx); err != nil {
			t.Fatal(err)
		}
		if kid, _, _ := e.keys.Active(); kid != next.KID {
			t.Fatalf("round %d: signer %s, want %s", round, kid, next.KID)
		}
		waitFor(30)
	}
	close(stop)
	wg.Wait()
	if n := failed.Load(); n > 0 {
		t.Fatalf("%d failures during rotation (of %d verified): %v", n, verified.Load(), failures[:min(len(failures), 5)])
	}
	if len(kidsSeen) != 3 {
		t.Fatalf("tokens signed by %d keys (%v); want 3 (two rotations)", len(kidsSeen), kidsSeen)
	}
	t.Logf("%d tokens verified across keys %v", verified.Load(), kidsSeen)

	// Revocation of the signing key.
	before, err := e.signIn("webjwt", jwtRedirect)
	if err != nil {
		t.Fatal(err)
	}
	revoked, _, _ := e.keys.Active()
	if k, _ := header(t, str(before, "id_token"))["kid"].(string); k != revoked {
		t.Fatalf("token signed by %s, want %s", k, revoked)
	}
	if r, _ := e.userinfo(str(before, "access_token")); r.StatusCode != http.StatusOK {
		t.Fatalf("userinfo before revocation: %d", r.StatusCode)
	}
	res, err := e.keys.Revoke(ctx, revoked, "test", "drill")
	if err != nil {
		t.Fatal(err)
	}
	fresh := gooidc.NewVerifier(e.issuer, gooidc.NewRemoteKeySet(ctx, e.issuer+"/keys"), &gooidc.Config{ClientID: "webjwt"})
	if _, err := fresh.Verify(ctx, str(before, "id_token")); err == nil {
		t.Error("a relying party fetching the JWKS after the revocation accepts a token of the revoked key")
	}
	if r, _ := e.userinfo(str(before, "access_token")); r.StatusCode != http.StatusUnauthorized {
		t.Errorf("userinfo with a JWT access token of the revoked key: %d, want 401", r.StatusCode)
	}
	if _, in := e.introspect("webjwt", str(before, "access_token")); in["active"] != false {
		t.Errorf("introspection of a JWT access token of the revoked key: %v, want active:false", in)
	}
	after, err := e.signIn("webjwt", jwtRedirect)
	if err != nil {
		t.Fatalf("sign-in after revocation: %v", err)
	}
	if k := header(t, str(after, "id_token"))["kid"]; k != res.Replacement.KID {
		t.Errorf("new sign-in signed by %v; want the replacement %s", k, res.Replacement.KID)
	}
	for name, v := range map[string]*gooidc.IDTokenVerifier{"long-lived": rp, "fresh": fresh} {
		if _, err := v.Verify(ctx, str(after, "id_token")); err != nil {
			t.Errorf("%s relying party, token of the replacement key: %v", name, err)
		}
	}
	if r, _ := e.userinfo(str(after, "access_token")); r.StatusCode != http.StatusOK {
		t.Errorf("userinfo after revocation with a new token: %d", r.StatusCode)
	}
	// A logout hint signed by the revoked key is not trusted either.
	resp := e.get("/end_session?"+url.Values{"id_token_hint": {str(before, "id_token")}, "post_logout_redirect_uri": {webLogout}}.Encode(), nil)
	if resp.StatusCode == http.StatusFound {
		if loc, _ := url.Parse(resp.Header.Get("Location")); loc.Query().Get("lr") != "" {
			if lr, err := e.p.OpenLogoutRequest(loc.Query().Get("lr")); err == nil && lr.Subject != "" {
				t.Errorf("end_session took the subject %s from a hint signed by the revoked key", lr.Subject)
			}
		}
	}
}

// Changing the crypto key keeps outstanding opaque tokens working while
// the old key is listed in PreviousCryptoKeys.
func TestCryptoKeyRotation(t *testing.T) {
	var oldKey, newKey [32]byte
	rand.Read(oldKey[:])
	rand.Read(newKey[:])
	e := newEnvWith(t, envOptions{cryptoKey: &oldKey})
	at := str(e.tokens(employeeScopes), "access_token")

	tests := []struct {
		name     string
		previous [][32]byte
		want     int
	}{
		{"new key, old one listed", [][32]byte{oldKey}, http.StatusOK},
		{"new key alone", nil, http.StatusUnauthorized},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mk := make([]byte, seal.KeySize)
			rand.Read(mk)
			sealer, _ := seal.New(mk)
			var handler http.Handler
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { handler.ServeHTTP(w, r) }))
			defer srv.Close()
			p, err := op.New(op.Config{Issuer: srv.URL, Insecure: true, CryptoKey: newKey, PreviousCryptoKeys: tt.previous, Sealer: sealer},
				e.store, e.keys, e.people)
			if err != nil {
				t.Fatal(err)
			}
			handler = p.Handler()
			req, _ := http.NewRequest(http.MethodGet, srv.URL+"/userinfo", nil)
			req.Header.Set("Authorization", "Bearer "+at)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tt.want {
				t.Errorf("userinfo with a token made under the old key: %d, want %d", resp.StatusCode, tt.want)
			}
		})
	}
	if _, err := op.New(op.Config{Issuer: "http://127.0.0.1", Insecure: true, CryptoKey: newKey, PreviousCryptoKeys: [][32]byte{{}}, Sealer: nil}, e.store, e.keys, e.people); err == nil {
		t.Error("op.New accepted a nil sealer and an all-zero previous key")
	}
}
