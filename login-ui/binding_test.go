package loginui_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gongpai/gongpai/storage"
)

// fakeBindingCookie is the fake provider's browser-binding cookie for an
// auth request (the real one lives in op/binding.go).
func fakeBindingCookie(id string) string { return "bind_" + id }

// BoundToBrowser mirrors op.Provider's: the request's binding must be the
// hash of the browser's cookie for it. Unlike the real provider, a fixture
// without a binding is treated as bound, so the tests written before
// binding keep exercising the rest of the flow.
func (f *fakeOP) BoundToBrowser(r *http.Request, ar *storage.AuthRequest) bool {
	if ar.BrowserBinding == "" {
		return true
	}
	c, err := r.Cookie(fakeBindingCookie(ar.ID))
	return err == nil && hashOf(c.Value) == ar.BrowserBinding
}

// boundRequest stores an auth request bound to browser c, as /authorize
// would: c's jar gets the cookie, the request the hash.
func (h *harness) boundRequest(c *http.Client, client string, mod ...func(*storage.AuthRequest)) string {
	h.t.Helper()
	value := "v-" + strings.Repeat("x", 10) + time.Now().Format("150405.000000000")
	id := h.newRequest(client, append(mod, func(r *storage.AuthRequest) { r.BrowserBinding = hashOf(value) })...)
	u, _ := url.Parse(h.srv.URL)
	c.Jar.SetCookies(u, []*http.Cookie{{Name: fakeBindingCookie(id), Value: value, Path: "/"}})
	return id
}

// TestBindingRefusesForeignBrowser is the attack: the request was started
// in the attacker's browser; the victim, signed in, opens the link.
// Neither the silent path nor a typed password may complete it, and the
// victim sees only the expired page.
func TestBindingRefusesForeignBrowser(t *testing.T) {
	h := newHarness(t)
	victim, attacker := h.browser(), h.browser()
	wantStatus(t, h.signIn(victim, h.boundRequest(victim, "wiki")), http.StatusSeeOther) // victim has a session

	id := h.boundRequest(attacker, "wiki")
	r := h.get(victim, "/login?authRequestID="+url.QueryEscape(id))
	wantStatus(t, r, http.StatusBadRequest)
	wantBody(t, r, "expired")
	if r.Header.Get("Location") != "" {
		t.Errorf("silent path redirected to %q", r.Header.Get("Location"))
	}
	if _, done := h.op.result(id); done {
		t.Fatal("the attacker's request was completed with the victim's session")
	}

	// Typing the password on the attacker-started page: the form post is
	// refused too (the victim's CSRF token is valid; the binding is not).
	page := h.get(victim, "/login?authRequestID="+url.QueryEscape(h.boundRequest(victim, "wiki", func(r *storage.AuthRequest) { r.Prompt = []string{"login"} })))
	wantStatus(t, page, http.StatusOK)
	r = h.post(victim, "/login/password", url.Values{
		"csrf": {csrfOf(t, page.body)}, "authRequestID": {id}, "employee_id": {alice}, "password": {alicePass},
	})
	wantStatus(t, r, http.StatusBadRequest)
	wantBody(t, r, "expired")
	if _, done := h.op.result(id); done {
		t.Fatal("the attacker's request was completed by the victim's password")
	}

	// prompt=none shows no page: login_required to the app, as for no session.
	id = h.boundRequest(attacker, "wiki", func(r *storage.AuthRequest) { r.Prompt = []string{"none"} })
	r = h.get(victim, "/login?authRequestID="+url.QueryEscape(id))
	wantStatus(t, r, http.StatusFound)
	if loc := r.Header.Get("Location"); !strings.HasPrefix(loc, appRedirect+"?error=login_required") {
		t.Errorf("prompt=none from a foreign browser: Location %q, want login_required", loc)
	}
	if _, done := h.op.result(id); done {
		t.Fatal("prompt=none request completed from a foreign browser")
	}

	// The browser that started it completes it.
	r = h.get(attacker, "/login?authRequestID="+url.QueryEscape(h.boundRequest(attacker, "wiki")))
	wantStatus(t, r, http.StatusOK)
}

// TestBindingAfterPassword: a flow whose password step passed in the right
// browser still needs the binding at the TOTP step (the flow cookie is not
// enough on its own).
func TestBindingCheckedAtEveryStep(t *testing.T) {
	h := newHarness(t)
	c := h.browser()
	id := h.boundRequest(c, "wiki")
	wantStatus(t, h.password(c, id, alice, alicePass), http.StatusSeeOther)
	u, _ := url.Parse(h.srv.URL)
	c.Jar.SetCookies(u, []*http.Cookie{{Name: fakeBindingCookie(id), Value: "", Path: "/", MaxAge: -1}})
	r := h.get(c, "/login/totp")
	wantStatus(t, r, http.StatusBadRequest)
	wantBody(t, r, "expired")
}

// TestBindingParallelSignIns: two sign-ins started in one browser both
// complete, in either order.
func TestBindingParallelSignIns(t *testing.T) {
	h := newHarness(t)
	c := h.browser()
	first, second := h.boundRequest(c, "wiki"), h.boundRequest(c, "erp")
	wantStatus(t, h.signIn(c, second), http.StatusSeeOther)
	r := h.get(c, "/login?authRequestID="+url.QueryEscape(first))
	wantStatus(t, r, http.StatusFound)
	if !strings.HasPrefix(r.Header.Get("Location"), callbackBase) {
		t.Errorf("first sign-in: Location %q, want the callback", r.Header.Get("Location"))
	}
	for _, id := range []string{first, second} {
		if _, done := h.op.result(id); !done {
			t.Errorf("request %s not completed", id)
		}
	}
}

func TestExpiredPage(t *testing.T) {
	h := newHarness(t)
	r := h.get(h.browser(), "/login/expired")
	wantStatus(t, r, http.StatusBadRequest)
	wantBody(t, r, "expired")
}
