package loginui_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	loginui "github.com/gongpai/gongpai/login-ui"
	"github.com/gongpai/gongpai/storage"
)

// signedIn returns a browser with alice's SSO session.
func (h *harness) signedIn() *http.Client {
	h.t.Helper()
	c := h.browser()
	wantStatus(h.t, h.signIn(c, h.newRequest("wiki")), http.StatusSeeOther)
	h.clock.Add(time.Minute)
	return c
}

// TestPromptNoneAccessDenied: an employee the client's policy excludes
// gets no page under prompt=none, just access_denied at the app at once.
func TestPromptNoneAccessDenied(t *testing.T) {
	h := newHarness(t)
	c := h.signedIn()
	id := h.newRequest("hrtool", func(r *storage.AuthRequest) { r.Prompt = []string{"none"} })
	r := h.get(c, "/login?authRequestID="+url.QueryEscape(id))
	wantStatus(t, r, http.StatusFound)
	if loc := r.Header.Get("Location"); !strings.HasPrefix(loc, "https://hr.test/cb?error=access_denied") {
		t.Errorf("Location %q, want access_denied at the app", loc)
	}
	if r.Header.Get("Refresh") != "" || strings.Contains(r.body, "<html") {
		t.Errorf("prompt=none showed a page (Refresh %q):\n%s", r.Header.Get("Refresh"), r.body)
	}
	if _, done := h.op.result(id); done {
		t.Error("request completed for an excluded employee")
	}
}

func TestLoginHint(t *testing.T) {
	tests := []struct {
		name, hint string
		prompt     []string
		status     int
		location   string // prefix
		body       string
	}{
		{name: "another employee, prompt=none", hint: "E1004", prompt: []string{"none"},
			status: http.StatusFound, location: appRedirect + "?error=login_required"},
		{name: "another employee: the sign-in page, prefilled", hint: "e1004",
			status: http.StatusOK, body: `value="e1004"`},
		{name: "this employee, any case", hint: " e1001 ", status: http.StatusFound, location: callbackBase},
		{name: "this employee by e-mail", hint: "Alice@ACME.example", prompt: []string{"none"}, status: http.StatusFound, location: callbackBase},
		{name: "someone's e-mail", hint: "bob@acme.example", status: http.StatusOK, body: `value="bob@acme.example"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			h.dir.byID[alice].Email = "alice@acme.example"
			c := h.signedIn()
			id := h.newRequest("wiki", func(r *storage.AuthRequest) { r.LoginHint, r.Prompt = tt.hint, tt.prompt })
			r := h.get(c, "/login?authRequestID="+url.QueryEscape(id))
			wantStatus(t, r, tt.status)
			if loc := r.Header.Get("Location"); !strings.HasPrefix(loc, tt.location) || (tt.location == "") != (loc == "") {
				t.Errorf("Location %q, want prefix %q", loc, tt.location)
			}
			wantBody(t, r, tt.body)
			if res, done := h.op.result(id); done && res.Subject == aliceSb && tt.location != callbackBase {
				t.Error("completed silently as alice for a hint naming someone else")
			}
		})
	}
}

// TestLoginPostBodyLimit: the sign-in forms read at most a few KiB.
func TestLoginPostBodyLimit(t *testing.T) {
	h := newHarness(t)
	c := h.browser()
	id := h.newRequest("wiki")
	page := h.get(c, "/login?authRequestID="+id)
	for _, path := range []string{"/login/password", "/login/totp", "/login/enrol", "/logout"} {
		r := h.post(c, path, url.Values{
			"csrf": {csrfOf(t, page.body)}, "authRequestID": {id},
			"employee_id": {alice}, "password": {strings.Repeat("p", 70<<10)},
		})
		if r.StatusCode != http.StatusBadRequest {
			t.Errorf("POST %s with a 70 KiB body: %d, want 400", path, r.StatusCode)
		}
	}
	h.lim.mu.Lock()
	defer h.lim.mu.Unlock()
	if h.lim.m["login:emp:"+alice] != 0 {
		t.Error("an oversized form was counted as a sign-in attempt")
	}
}

// TestHSTS: https deployments get Strict-Transport-Security on every page.
func TestHSTS(t *testing.T) {
	h := newHarness(t, func(o *loginui.Options) { o.Secure = true })
	for _, path := range []string{"/login?authRequestID=x", "/logged-out", "/static/style.css", "/nope"} {
		r := h.get(h.browser(), path)
		if got := r.Header.Get("Strict-Transport-Security"); !strings.HasPrefix(got, "max-age=") {
			t.Errorf("GET %s: Strict-Transport-Security %q", path, got)
		}
	}
	h = newHarness(t)
	if got := h.get(h.browser(), "/logged-out").Header.Get("Strict-Transport-Security"); got != "" {
		t.Errorf("http deployment sent Strict-Transport-Security %q", got)
	}
}
