package op_test

import (
	"context"
	"crypto/rand"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gongpai/gongpai/op"
	"github.com/gongpai/gongpai/seal"
)

var bindingCookieRE = regexp.MustCompile(`^(__Host-)?gongpai_ab_[0-9a-f]{12}$`)

// bindingCookie returns the browser-binding cookie /authorize set.
func bindingCookie(t *testing.T, resp *http.Response) *http.Cookie {
	t.Helper()
	for _, c := range resp.Cookies() {
		if bindingCookieRE.MatchString(c.Name) {
			return c
		}
	}
	t.Fatalf("no browser-binding cookie; Set-Cookie %q", resp.Header.Values("Set-Cookie"))
	return nil
}

func TestBindingCookieAttributes(t *testing.T) {
	e := newEnv(t)
	resp := e.authorize(authParams("web", webRedirect, "openid", true))
	id := e.loginRequestID(resp)
	c := bindingCookie(t, resp)
	ttl := int(op.DefaultAuthRequestTTL / time.Second)
	if strings.HasPrefix(c.Name, "__Host-") || c.Secure || !c.HttpOnly || c.SameSite != http.SameSiteLaxMode || c.Path != "/" || c.MaxAge != ttl || c.Domain != "" {
		t.Errorf("cookie %+v; want no prefix and not Secure on http, HttpOnly, Lax, Path=/, Max-Age=%d, host-only", c, ttl)
	}
	if len(c.Value) != 43 {
		t.Errorf("cookie value %q: want 32 random bytes, base64url", c.Value)
	}
	ar, err := e.p.AuthRequest(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	if len(ar.BrowserBinding) != 64 || strings.Contains(ar.BrowserBinding, c.Value) {
		t.Errorf("stored binding %q: want the value's hex SHA-256, never the value", ar.BrowserBinding)
	}

	// A refused request is not bound to anything: no cookie.
	q := authParams("web", webRedirect, "openid", true)
	q.Set("code_challenge_method", "plain")
	if resp := e.authorize(q); len(resp.Cookies()) != 0 {
		t.Errorf("refused /authorize set cookies %q", resp.Header.Values("Set-Cookie"))
	}
}

// TestBindingCookieHTTPS: on an https issuer the cookie is Secure and
// __Host- prefixed, and every response carries HSTS.
func TestBindingCookieHTTPS(t *testing.T) {
	e := newEnv(t)
	p := httpsProvider(t, e)
	rec := httptest.NewRecorder()
	p.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "https://idp.test/authorize?"+authParams("web", webRedirect, "openid", true).Encode(), nil))
	resp := rec.Result()
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("authorize: %d %s", resp.StatusCode, rec.Body)
	}
	c := bindingCookie(t, resp)
	if !strings.HasPrefix(c.Name, "__Host-") || !c.Secure || !c.HttpOnly || c.SameSite != http.SameSiteLaxMode || c.Path != "/" || c.Domain != "" {
		t.Errorf("cookie %+v; want __Host-, Secure, HttpOnly, Lax, Path=/", c)
	}
	if got := resp.Header.Get("Strict-Transport-Security"); !strings.HasPrefix(got, "max-age=") {
		t.Errorf("https authorize: Strict-Transport-Security %q", got)
	}
	rec = httptest.NewRecorder()
	p.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "https://idp.test/.well-known/openid-configuration", nil))
	if got := rec.Result().Header.Get("Strict-Transport-Security"); got == "" {
		t.Error("https discovery: no Strict-Transport-Security")
	}
	// And none on a loopback http issuer.
	if got := e.get("/.well-known/openid-configuration", nil).Header.Get("Strict-Transport-Security"); got != "" {
		t.Errorf("http issuer sent Strict-Transport-Security %q", got)
	}
}

func httpsProvider(t *testing.T, e *env) *op.Provider {
	t.Helper()
	mk := make([]byte, seal.KeySize)
	rand.Read(mk)
	sealer, err := seal.New(mk)
	if err != nil {
		t.Fatal(err)
	}
	var ck [32]byte
	rand.Read(ck[:])
	p, err := op.New(op.Config{Issuer: "https://idp.test", CryptoKey: ck, Sealer: sealer}, e.store, e.keys, e.people)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestBindingCallbackAttack: the attacker starts /authorize and holds the
// request ID; the victim's browser (another cookie jar) is the one that
// would be sent the sign-in link. Whichever browser did not start the
// request gets no code at the callback, only the expired page.
func TestBindingCallbackAttack(t *testing.T) {
	e := newEnv(t)
	attacker, victim := e.http, newBrowserClient(t)
	id := e.loginRequestID(e.authorize(authParams("web", webRedirect, "openid", true)))

	// login-ui refuses to complete it from the victim's browser: its
	// BoundToBrowser says so.
	ar, err := e.p.AuthRequest(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	req := httptest.NewRequest(http.MethodGet, e.issuer+"/login?authRequestID="+url.QueryEscape(id), nil)
	for _, c := range victim.Jar.Cookies(req.URL) {
		req.AddCookie(c)
	}
	if e.p.BoundToBrowser(req, ar) {
		t.Fatal("BoundToBrowser true for a browser without the binding cookie")
	}
	for _, c := range attacker.Jar.Cookies(req.URL) {
		req.AddCookie(c)
	}
	if !e.p.BoundToBrowser(req, ar) {
		t.Fatal("BoundToBrowser false for the browser that started the request")
	}

	// Had it been completed anyway, a callback from another browser gets
	// no code.
	cb := e.complete(id, aliceSub)
	e.http = victim
	resp := e.get(cb, nil)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/login/expired" {
		t.Fatalf("callback from a foreign browser: %d to %q, want 303 to /login/expired", resp.StatusCode, resp.Header.Get("Location"))
	}
	// The browser that started it gets its code, and the binding cookie is
	// deleted with it.
	e.http = attacker
	resp = e.get(cb, nil)
	loc, _ := url.Parse(resp.Header.Get("Location"))
	if resp.StatusCode != http.StatusFound || loc.Query().Get("code") == "" {
		t.Fatalf("callback from the starting browser: %d to %s, want a code", resp.StatusCode, loc)
	}
	deleted := false
	for _, c := range resp.Cookies() {
		deleted = deleted || (bindingCookieRE.MatchString(c.Name) && c.MaxAge < 0)
	}
	if !deleted {
		t.Errorf("callback did not delete the binding cookie: %q", resp.Header.Values("Set-Cookie"))
	}
}

// TestBindingParallelSignIns: several sign-ins started in one browser each
// complete, in any order.
func TestBindingParallelSignIns(t *testing.T) {
	e := newEnv(t)
	ids := []string{
		e.loginRequestID(e.authorize(authParams("web", webRedirect, "openid", true))),
		e.loginRequestID(e.authorize(authParams("spa", spaRedirect, "openid", true))),
		e.loginRequestID(e.authorize(authParams("web", webRedirect, "openid profile", true))),
	}
	for _, i := range []int{1, 2, 0} {
		resp := e.get(e.complete(ids[i], aliceSub), nil)
		loc, _ := url.Parse(resp.Header.Get("Location"))
		if resp.StatusCode != http.StatusFound || loc.Query().Get("code") == "" {
			t.Errorf("sign-in %d: callback %d to %s, want a code", i, resp.StatusCode, loc)
		}
	}
}

// TestBindingUnboundRequest: a request stored without a binding (created
// before the upgrade) is bound to no browser.
func TestBindingUnboundRequest(t *testing.T) {
	e := newEnv(t)
	id := e.loginRequestID(e.authorize(authParams("web", webRedirect, "openid", true)))
	ar, err := e.p.AuthRequest(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	ar.BrowserBinding = ""
	req := httptest.NewRequest(http.MethodGet, e.issuer+"/login", nil)
	for _, c := range e.http.Jar.Cookies(req.URL) {
		req.AddCookie(c)
	}
	if e.p.BoundToBrowser(req, ar) {
		t.Error("a request without a binding is bound to a browser")
	}
}

// TestCallbackLeaksNothing: unknown, malformed or missing IDs get the
// expired page, never zitadel's error text.
func TestCallbackLeaksNothing(t *testing.T) {
	e := newEnv(t)
	for _, q := range []string{"?id=unknown", "", "?id=" + strings.Repeat("x", 5000), "?id=%zz"} {
		resp := e.get("/authorize/callback"+q, nil)
		if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/login/expired" {
			t.Errorf("callback%s: %d to %q, want 303 to /login/expired", q, resp.StatusCode, resp.Header.Get("Location"))
		}
	}
}
