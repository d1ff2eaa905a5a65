package admin_test

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gongpai/gongpai/admin"
	"github.com/gongpai/gongpai/directory"
	"github.com/gongpai/gongpai/keys"
	"github.com/gongpai/gongpai/op"
	"github.com/gongpai/gongpai/seal"
	"github.com/gongpai/gongpai/storage"
)

// The review's scenario, with the real provider: an employee signs in to
// an admin console allowed gongpai:admin and uses the admin API; an
// administrator then takes the scope from the console. From that answer
// on the employee's access token no longer opens the admin API, the
// refresh token is revoked, and a new sign-in through the console gets a
// token without the scope.
func TestRemovingAdminScopeEndsAdminAccess(t *testing.T) {
	f := newFixture(t)
	ctx := t.Context()
	sealer, err := seal.New(bytes.Repeat([]byte{3}, seal.KeySize))
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
	km := keys.NewManager(f.st, sealer, keys.Options{Logger: log})
	if err := km.Load(ctx); err != nil {
		t.Fatal(err)
	}
	var handler http.Handler
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { handler.ServeHTTP(w, r) }))
	defer srv.Close()
	var ck [32]byte
	rand.Read(ck[:])
	dir := directory.New(f.st, sealer, directory.Options{Argon2: cheap})
	p, err := op.New(op.Config{Issuer: srv.URL, Insecure: true, CryptoKey: ck, LoginPath: "/login", LogoutPath: "/logout",
		Sealer: sealer, Logger: log}, f.st, km, dir)
	if err != nil {
		t.Fatal(err)
	}
	api, err := admin.New(admin.Options{Manager: f.m, Store: f.st, Tokens: p, Issuer: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle(admin.APIPrefix+"/", api)
	mux.Handle("/", p.Handler())
	handler = mux

	// The console, registered like the fixture's but with a secret we know.
	const redirect = "https://console2.example/cb"
	console, secret, err := op.NewClient(op.ClientSpec{ID: "console2", RedirectURIs: []string{redirect},
		Scopes: []string{op.ScopeOpenID, op.ScopeOfflineAccess, op.ScopeAdmin}}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := f.st.CreateClient(ctx, console); err != nil {
		t.Fatal(err)
	}

	jar, _ := cookiejar.New(nil)
	browser := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	token := func(form url.Values) (int, map[string]any) {
		t.Helper()
		req, _ := http.NewRequest("POST", srv.URL+"/oauth/token", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth("console2", secret)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		out := map[string]any{}
		_ = json.NewDecoder(resp.Body).Decode(&out)
		return resp.StatusCode, out
	}
	signIn := func() map[string]any {
		t.Helper()
		q := url.Values{"client_id": {"console2"}, "redirect_uri": {redirect}, "response_type": {"code"},
			"scope": {"openid offline_access " + op.ScopeAdmin}, "state": {"s"}}
		resp, err := browser.Get(srv.URL + "/authorize?" + q.Encode())
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		loc, _ := url.Parse(resp.Header.Get("Location"))
		id := loc.Query().Get("authRequestID")
		if id == "" {
			t.Fatalf("authorize: %d %s", resp.StatusCode, resp.Header.Get("Location"))
		}
		cb, err := p.Complete(ctx, id, storage.AuthResult{Subject: f.subs["adminGlobal"], AuthTime: time.Now(), AMR: []string{"pwd", "otp", "mfa"}, SessionID: "s1"})
		if err != nil {
			t.Fatal(err)
		}
		resp, err = browser.Get(cb)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		loc, _ = url.Parse(resp.Header.Get("Location"))
		st, tok := token(url.Values{"grant_type": {"authorization_code"}, "code": {loc.Query().Get("code")}, "redirect_uri": {redirect}})
		if st != http.StatusOK {
			t.Fatalf("code exchange: %d %v", st, tok)
		}
		return tok
	}
	call := func(bearer, method, path string, body any) int {
		t.Helper()
		var rd io.Reader
		if body != nil {
			b, _ := json.Marshal(body)
			rd = bytes.NewReader(b)
		}
		req, _ := http.NewRequest(method, srv.URL+admin.APIPrefix+path, rd)
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+bearer)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}

	tok := signIn()
	at, rt := tok["access_token"].(string), tok["refresh_token"].(string)
	if rt == "" {
		t.Fatalf("no refresh token: %v", tok)
	}
	if st := call(at, "GET", "/employees", nil); st != http.StatusOK {
		t.Fatalf("admin API with the console's token: %d, want 200", st)
	}

	// The scope is taken from the console by a service account, through
	// another admin handler on the same store: another replica, whose
	// change this provider's client cache has not heard of. What follows
	// must hold all the same.
	if st, body := f.do("svcAdmin", "PATCH", "/admin/api/v1/clients/console2", map[string]any{"scopes": []string{"openid", "offline_access"}}); st != http.StatusOK {
		t.Fatalf("PATCH console2: %d %v", st, body)
	}
	// Its record went with its family (401); were it still there, the
	// console no longer allowing the scope would refuse it (403).
	if st := call(at, "GET", "/employees", nil); st != http.StatusUnauthorized && st != http.StatusForbidden {
		t.Errorf("admin API with the token issued before the change: %d, want 401 or 403", st)
	}
	st, body := token(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}})
	if st == http.StatusOK {
		if st := call(body["access_token"].(string), "GET", "/employees", nil); st != http.StatusForbidden {
			t.Errorf("admin API with a refreshed token: %d, want 403", st)
		}
		t.Errorf("refresh after the scope was removed: 200 %v, want the family revoked", body)
	} else if body["error"] != "invalid_grant" {
		t.Errorf("refresh after the scope was removed: %d %v, want invalid_grant", st, body)
	}
	// A new sign-in through the console no longer gets the scope.
	tok = signIn()
	if st := call(tok["access_token"].(string), "GET", "/employees", nil); st != http.StatusForbidden {
		t.Errorf("admin API with a token of a new sign-in: %d, want 403", st)
	}
}

// A PATCH that takes nothing away (a new name) leaves the client's
// refresh tokens alone; one that removes a scope revokes them and deletes
// their access tokens.
func TestClientChangeRevokesOnlyWhenNarrowing(t *testing.T) {
	f := newFixture(t)
	ctx := t.Context()
	now := time.Now()
	if err := f.st.CreateRefreshToken(ctx, &storage.RefreshToken{ID: "rt-c", FamilyID: "fam-c", ClientID: "console", Subject: f.subs["target"],
		Scopes: []string{"openid", "offline_access"}, CreatedAt: now, ExpiresAt: now.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if err := f.st.CreateAccessToken(ctx, &storage.AccessToken{ID: "at-c", ClientID: "console", Subject: f.subs["target"],
		RefreshFamily: "fam-c", CreatedAt: now, ExpiresAt: now.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if st, body := f.do("svcAdmin", "PATCH", "/admin/api/v1/clients/console", map[string]any{"name": "Console"}); st != http.StatusOK {
		t.Fatalf("rename: %d %v", st, body)
	}
	if rt, err := f.st.RefreshToken(ctx, "rt-c"); err != nil || rt.Revoked {
		t.Fatalf("after a rename: %+v %v, want untouched", rt, err)
	}
	if st, body := f.do("svcAdmin", "PATCH", "/admin/api/v1/clients/console", map[string]any{"scopes": []string{"openid", "offline_access", op.ScopeAdmin}}); st != http.StatusOK {
		t.Fatalf("drop profile: %d %v", st, body)
	}
	if rt, err := f.st.RefreshToken(ctx, "rt-c"); err != nil || !rt.Revoked {
		t.Errorf("after a scope was removed: %+v %v, want revoked", rt, err)
	}
	if _, err := f.st.AccessToken(ctx, "at-c"); err == nil {
		t.Error("the family's access token survived the narrowing")
	}
	// The admin token of the console still works: gongpai:admin stayed.
	if st, _ := f.do("adminGlobal", "GET", "/admin/api/v1/employees", nil); st != http.StatusOK {
		t.Errorf("admin token after an unrelated narrowing: %d, want 200", st)
	}
	if st, body := f.do("svcAdmin", "PATCH", "/admin/api/v1/clients/console", map[string]any{"scopes": []string{"openid"}}); st != http.StatusOK {
		t.Fatalf("drop admin: %d %v", st, body)
	}
	if st, body := f.do("adminGlobal", "GET", "/admin/api/v1/employees", nil); st != http.StatusForbidden || body["code"] != "E-102" {
		t.Errorf("admin token after gongpai:admin was removed from its client: %d %v, want 403 E-102", st, body)
	}
}
