package op_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/gongpai/gongpai/op"
	"github.com/gongpai/gongpai/storage"
	"github.com/gongpai/gongpai/storage/sqlite"
)

// authorizeError expects /authorize to redirect to the client with an
// OAuth error and the state, and returns the error code.
func (e *env) authorizeError(q url.Values) (code, desc string) {
	e.t.Helper()
	resp := e.authorize(q)
	loc, err := url.Parse(resp.Header.Get("Location"))
	if resp.StatusCode != http.StatusFound || err != nil || loc.Path == "/login" {
		e.t.Fatalf("authorize: %d to %q, want an error redirect to the client", resp.StatusCode, resp.Header.Get("Location"))
	}
	if got := loc.Scheme + "://" + loc.Host + loc.Path; got != q.Get("redirect_uri") || loc.Query().Get("state") != q.Get("state") {
		e.t.Fatalf("error redirect %s: want %s with the state", loc, q.Get("redirect_uri"))
	}
	if len(resp.Cookies()) != 0 {
		e.t.Errorf("refused /authorize set cookies %q", resp.Header.Values("Set-Cookie"))
	}
	return loc.Query().Get("error"), loc.Query().Get("error_description")
}

func TestAuthorizeParameterRefusals(t *testing.T) {
	e := newEnv(t)
	tests := []struct {
		name string
		mod  func(url.Values)
		want string
	}{
		{"request_uri", func(q url.Values) { q.Set("request_uri", "urn:ietf:params:oauth:request_uri:abc") }, "request_uri_not_supported"},
		{"malformed max_age", func(q url.Values) { q.Set("max_age", "soon") }, "invalid_request"},
		{"negative max_age", func(q url.Values) { q.Set("max_age", "-1") }, "invalid_request"},
		{"response_type token", func(q url.Values) { q.Set("response_type", "token") }, "unsupported_response_type"},
		{"response_type id_token", func(q url.Values) { q.Set("response_type", "id_token") }, "unsupported_response_type"},
		{"response_type code id_token", func(q url.Values) { q.Set("response_type", "code id_token") }, "unsupported_response_type"},
		{"state too long", func(q url.Values) { q.Set("state", strings.Repeat("s", 2049)) }, "invalid_request"},
		{"nonce too long", func(q url.Values) { q.Set("nonce", strings.Repeat("n", 2049)) }, "invalid_request"},
		{"login_hint too long", func(q url.Values) { q.Set("login_hint", strings.Repeat("h", 257)) }, "invalid_request"},
		{"too many acr_values", func(q url.Values) { q.Set("acr_values", strings.Repeat("a ", 9)) }, "invalid_request"},
		{"acr value too long", func(q url.Values) { q.Set("acr_values", strings.Repeat("a", 129)) }, "invalid_request"},
		{"too many ui_locales", func(q url.Values) { q.Set("ui_locales", strings.Repeat("en ", 9)) }, "invalid_request"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e.t = t
			q := authParams("web", webRedirect, "openid", true)
			tt.mod(q)
			if got, desc := e.authorizeError(q); got != tt.want {
				t.Errorf("error %q (%s), want %q", got, desc, tt.want)
			}
		})
	}
}

func TestAuthorizeAccepts(t *testing.T) {
	e := newEnv(t)
	for name, mod := range map[string]func(url.Values){
		"state at the limit": func(q url.Values) { q.Set("state", strings.Repeat("s", 2048)) },
		"huge max_age":       func(q url.Values) { q.Set("max_age", "99999999999999999999999") },
		"empty max_age":      func(q url.Values) { q.Set("max_age", "") },
		"max_age 0":          func(q url.Values) { q.Set("max_age", "0") },
	} {
		t.Run(name, func(t *testing.T) {
			e.t = t
			q := authParams("web", webRedirect, "openid", true)
			mod(q)
			e.loginRequestID(e.authorize(q))
		})
	}
}

func TestAuthorizeBodyLimit(t *testing.T) {
	e, cc := newCountingEnv(t, envOptions{})
	form := authParams("web", webRedirect, "openid", true)
	form.Set("padding", strings.Repeat("p", 100<<10))
	req, _ := http.NewRequest(http.MethodPost, e.issuer+"/authorize", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := e.http.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("100 KiB /authorize body: %d, want 400", resp.StatusCode)
	}
	if n := cc.n.Load(); n != 0 {
		t.Errorf("%d auth requests stored", n)
	}
}

// creationCounter counts the auth requests the provider stores.
type creationCounter struct {
	*sqlite.Store
	n atomic.Int32
}

func (c *creationCounter) CreateAuthRequest(ctx context.Context, r *storage.AuthRequest) error {
	c.n.Add(1)
	return c.Store.CreateAuthRequest(ctx, r)
}

func newCountingEnv(t *testing.T, o envOptions) (*env, *creationCounter) {
	var cc *creationCounter
	o.wrap = func(s *sqlite.Store) op.Store { cc = &creationCounter{Store: s}; return cc }
	return newEnvWith(t, o), cc
}

// TestAuthorizeRateLimit: over the per-IP budget the client gets
// temporarily_unavailable and nothing is stored.
func TestAuthorizeRateLimit(t *testing.T) {
	e, cc := newCountingEnv(t, envOptions{authorizeRateLimit: 3})
	for range 3 {
		e.loginRequestID(e.authorize(authParams("web", webRedirect, "openid", true)))
	}
	if got, _ := e.authorizeError(authParams("web", webRedirect, "openid", true)); got != "temporarily_unavailable" {
		t.Errorf("4th auth request: error %q, want temporarily_unavailable", got)
	}
	if n := cc.n.Load(); n != 3 {
		t.Errorf("%d auth requests stored, want 3", n)
	}
}

func TestUserinfoChallenges(t *testing.T) {
	e := newEnv(t)
	at := str(e.tokens("openid profile"), "access_token")
	tests := []struct {
		name      string
		req       func() *http.Request
		status    int
		challenge string // prefix
	}{
		{"no token", func() *http.Request { r, _ := http.NewRequest(http.MethodGet, e.issuer+"/userinfo", nil); return r },
			http.StatusUnauthorized, `Bearer realm="gongpai"`},
		{"other scheme", func() *http.Request {
			r, _ := http.NewRequest(http.MethodGet, e.issuer+"/userinfo", nil)
			r.SetBasicAuth("web", "x")
			return r
		}, http.StatusUnauthorized, `Bearer realm="gongpai"`},
		{"garbage token", func() *http.Request {
			r, _ := http.NewRequest(http.MethodGet, e.issuer+"/userinfo", nil)
			r.Header.Set("Authorization", "Bearer garbage")
			return r
		}, http.StatusUnauthorized, `Bearer realm="gongpai", error="invalid_token", error_description="`},
		{"token in the query", func() *http.Request {
			r, _ := http.NewRequest(http.MethodGet, e.issuer+"/userinfo?access_token="+url.QueryEscape(at), nil)
			return r
		}, http.StatusBadRequest, ""},
		{"token in the query beside a header", func() *http.Request {
			r, _ := http.NewRequest(http.MethodGet, e.issuer+"/userinfo?access_token="+url.QueryEscape(at), nil)
			r.Header.Set("Authorization", "Bearer "+at)
			return r
		}, http.StatusBadRequest, ""},
		{"token in a POST body", func() *http.Request {
			r, _ := http.NewRequest(http.MethodPost, e.issuer+"/userinfo", strings.NewReader(url.Values{"access_token": {at}}.Encode()))
			r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			return r
		}, http.StatusOK, ""},
		{"token in the header", func() *http.Request {
			r, _ := http.NewRequest(http.MethodGet, e.issuer+"/userinfo", nil)
			r.Header.Set("Authorization", "Bearer "+at)
			return r
		}, http.StatusOK, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, err := e.http.Do(tt.req())
			if err != nil {
				t.Fatal(err)
			}
			body := decode(t, resp.Body)
			resp.Body.Close()
			ch := resp.Header.Get("WWW-Authenticate")
			if resp.StatusCode != tt.status || !strings.HasPrefix(ch, tt.challenge) || (tt.challenge == "") != (ch == "") {
				t.Errorf("%d, WWW-Authenticate %q (%v); want %d, %q", resp.StatusCode, ch, body, tt.status, tt.challenge)
			}
			if resp.StatusCode == http.StatusBadRequest && str(body, "error") != "invalid_request" {
				t.Errorf("400 body %v, want invalid_request", body)
			}
			if resp.Header.Get("Cache-Control") != "no-store" {
				t.Errorf("Cache-Control %q", resp.Header.Get("Cache-Control"))
			}
		})
	}
}

func withClientID(f url.Values, id string) url.Values {
	c := url.Values{"client_id": {id}}
	for k, v := range f {
		c[k] = v
	}
	return c
}

func TestClientAuthChallenges(t *testing.T) {
	e := newEnv(t)
	code := e.code(authParams("web", webRedirect, "openid", true), aliceSub)
	post := func(path string, form url.Values, auth string) (*http.Response, map[string]any) {
		req, _ := http.NewRequest(http.MethodPost, e.issuer+path, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		resp, err := e.http.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		return resp, decode(t, resp.Body)
	}
	basic := func(id, secret string) string {
		r, _ := http.NewRequest(http.MethodGet, "/", nil)
		r.SetBasicAuth(id, secret)
		return r.Header.Get("Authorization")
	}
	tokenForm := codeForm(code, webRedirect, verifier)
	tests := []struct {
		name, path string
		form       url.Values
		auth       string
	}{
		{"token, wrong secret", "/oauth/token", tokenForm, basic("web", "wrong")},
		{"token, unknown client", "/oauth/token", tokenForm, basic("nobody", "x")},
		{"token, Basic not base64", "/oauth/token", tokenForm, "Basic !!!not-base64!!!"},
		{"token, Basic without colon", "/oauth/token", tokenForm, "Basic d2Vi"},
		{"token, Basic with a bad escape", "/oauth/token", tokenForm, basic("web%zz", "x")},
		{"token, empty Basic", "/oauth/token", tokenForm, "Basic "},
		{"introspect, wrong secret", "/oauth/introspect", url.Values{"token": {"x"}}, basic("web", "wrong")},
		{"introspect, malformed Basic", "/oauth/introspect", url.Values{"token": {"x"}}, "Basic ???"},
		{"introspect, no client authentication", "/oauth/introspect", url.Values{"token": {"x"}}, ""},
		{"introspect, client_id without a secret", "/oauth/introspect", url.Values{"token": {"x"}, "client_id": {"web"}}, ""},
		{"introspect, public client", "/oauth/introspect", url.Values{"token": {"x"}, "client_id": {"spa"}}, ""},
		{"token, no client at all", "/oauth/token", tokenForm, ""},
		{"token, client_id without a secret", "/oauth/token", withClientID(tokenForm, "web"), ""},
		{"token, unknown client in the form", "/oauth/token", withClientID(tokenForm, "nobody"), ""},
		{"introspect, unknown client", "/oauth/introspect", url.Values{"token": {"x"}}, basic("nobody", "x")},
		{"revoke, no client at all", "/revoke", url.Values{"token": {"x"}}, ""},
		{"revoke, wrong secret", "/revoke", url.Values{"token": {"x"}}, basic("web", "wrong")},
		{"revoke, malformed Basic", "/revoke", url.Values{"token": {"x"}}, "Basic ???"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := post(tt.path, tt.form, tt.auth)
			if resp.StatusCode != http.StatusUnauthorized || str(body, "error") != "invalid_client" || resp.Header.Get("WWW-Authenticate") != `Basic realm="gongpai"` {
				t.Errorf("%d %v, WWW-Authenticate %q; want 401 invalid_client with the Basic challenge", resp.StatusCode, body, resp.Header.Get("WWW-Authenticate"))
			}
		})
	}
	// The code was not spent by any of that.
	if resp, body := e.post("/oauth/token", "web", tokenForm); resp.StatusCode != http.StatusOK {
		t.Errorf("code exchange after failed attempts: %d %v", resp.StatusCode, body)
	}
}
