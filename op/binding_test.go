package op_test

import (
	"context"
	"crypto/rand"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
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
	if at, rnd, ok := strings.Cut(c.Value, "."); !ok || len(rnd) != 43 || len(at) < 13 {
		t.Errorf("cookie value %q: want <unix ms>.<32 random bytes, base64url>", c.Value)
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

// bindingCookies counts the binding cookies the browser holds.
func (e *env) bindingCookies() []*http.Cookie {
	u, _ := url.Parse(e.issuer + "/")
	var out []*http.Cookie
	for _, c := range e.http.Jar.Cookies(u) {
		if bindingCookieRE.MatchString(c.Name) {
			out = append(out, c)
		}
	}
	return out
}

// TestBindingCookiesCapped: however many sign-ins a page makes a browser
// start, it holds at most 8 binding cookies; the newest sign-ins still
// complete and the oldest ones are the ones lost. (Sign-ins started in
// parallel in one browser evict none of each other:
// TestRotationUnderLoadAndRevocation runs three at a time.)
func TestBindingCookiesCapped(t *testing.T) {
	e := newEnvWith(t, envOptions{authorizeRateLimit: -1})
	var ids []string
	for range 40 {
		ids = append(ids, e.loginRequestID(e.authorize(authParams("web", webRedirect, "openid", true))))
		time.Sleep(2 * time.Millisecond) // distinct creation times, for the eviction order
	}
	if n := len(e.bindingCookies()); n != 8 {
		t.Fatalf("browser holds %d binding cookies after 40 sign-ins, want 8", n)
	}
	req := httptest.NewRequest(http.MethodGet, e.issuer+"/login", nil)
	for _, c := range e.bindingCookies() {
		req.AddCookie(c)
	}
	for i, id := range ids {
		ar, err := e.p.AuthRequest(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := e.p.BoundToBrowser(req, ar), i >= len(ids)-8; got != want {
			t.Errorf("sign-in %d of %d: bound %v, want %v (the newest 8 survive)", i+1, len(ids), got, want)
		}
	}
	// The newest completes.
	resp := e.get(e.complete(ids[len(ids)-1], aliceSub), nil)
	if loc, _ := url.Parse(resp.Header.Get("Location")); resp.StatusCode != http.StatusFound || loc.Query().Get("code") == "" {
		t.Errorf("newest sign-in: %d to %s, want a code", resp.StatusCode, loc)
	}
	if n := len(e.bindingCookies()); n != 7 {
		t.Errorf("after a callback the browser holds %d binding cookies, want 7", n)
	}
}

// TestBindingClearedOnErrorRedirect: a sign-in login-ui ends with an error
// (login_required, access_denied …) deletes its binding cookie on the way
// to the app, and leaves the browser's other sign-ins alone.
func TestBindingClearedOnErrorRedirect(t *testing.T) {
	e := newEnv(t)
	keep := e.loginRequestID(e.authorize(authParams("spa", spaRedirect, "openid", true)))
	id := e.loginRequestID(e.authorize(authParams("web", webRedirect, "openid", true)))
	if n := len(e.bindingCookies()); n != 2 {
		t.Fatalf("%d binding cookies, want 2", n)
	}
	hop, err := e.p.ErrorRedirect(context.Background(), id, "access_denied", "not for you")
	if err != nil {
		t.Fatal(err)
	}
	resp := e.get(hop, nil)
	loc, _ := url.Parse(resp.Header.Get("Location"))
	if resp.StatusCode != http.StatusFound || loc.Query().Get("error") != "access_denied" || !strings.HasPrefix(loc.String(), webRedirect) {
		t.Fatalf("hop: %d to %s", resp.StatusCode, loc)
	}
	if n := len(e.bindingCookies()); n != 1 {
		t.Errorf("after the error hop the browser holds %d binding cookies, want 1", n)
	}
	resp = e.get(e.complete(keep, aliceSub), nil)
	if loc, _ := url.Parse(resp.Header.Get("Location")); loc.Query().Get("code") == "" {
		t.Errorf("the other sign-in no longer completes: %d to %s", resp.StatusCode, loc)
	}

	// The hop follows only what ErrorRedirect sealed.
	for _, q := range []string{"", "?r=forged", "?r=" + strings.Repeat("A", 20000)} {
		resp := e.get("/authorize/return"+q, nil)
		if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/login/expired" {
			t.Errorf("hop%.20s: %d to %q, want 303 to /login/expired", q, resp.StatusCode, resp.Header.Get("Location"))
		}
	}
}

// TestBindingRacingSignIns: sign-ins started at the same instant in a
// fresh browser (a portal opening several apps) all complete: none
// evicts another's cookie.
func TestBindingRacingSignIns(t *testing.T) {
	e := newEnv(t)
	const n = 7
	ids := make([]string, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			resp, err := e.http.Get(e.issuer + "/authorize?" + authParams("web", webRedirect, "openid", true).Encode())
			if err != nil {
				t.Error(err)
				return
			}
			resp.Body.Close()
			loc, _ := url.Parse(resp.Header.Get("Location"))
			ids[i] = loc.Query().Get("authRequestID")
		})
	}
	wg.Wait()
	for i, id := range ids {
		resp := e.get(e.complete(id, aliceSub), nil)
		if loc, _ := url.Parse(resp.Header.Get("Location")); resp.StatusCode != http.StatusFound || loc.Query().Get("code") == "" {
			t.Errorf("sign-in %d: callback %d to %s, want a code", i, resp.StatusCode, loc)
		}
	}
}
