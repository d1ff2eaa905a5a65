package loginui_test

import (
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"

	loginui "github.com/gongpai/gongpai/login-ui"
	"github.com/gongpai/gongpai/storage"
)

const (
	hrSetPass = "set by HR 2025" // what HR handed over
	ownPass   = "my own secret passphrase"
)

// totpStep opens the TOTP page and submits the good code, as the
// employee's authenticator app would.
func (h *harness) totpStep(c *http.Client) response {
	h.t.Helper()
	page := h.get(c, "/login/totp")
	wantStatus(h.t, page, http.StatusOK)
	h.dir.mu.Lock()
	clear(h.dir.used)
	h.dir.mu.Unlock()
	return h.post(c, "/login/totp", url.Values{"csrf": {csrfOf(h.t, page.body)}, "code": {goodCode}})
}

// newPassword submits the password-change form.
func (h *harness) newPassword(c *http.Client, csrf, pw, confirm string) response {
	h.t.Helper()
	return h.post(c, "/login/new-password", url.Values{"csrf": {csrf}, "new_password": {pw}, "confirm_password": {confirm}})
}

func wantLocation(t *testing.T, r response, want string) {
	t.Helper()
	if got := r.Header.Get("Location"); got != want {
		t.Fatalf("%s %s: Location %q, want %q", r.Request.Method, r.Request.URL.Path, got, want)
	}
}

// TestPasswordChangeRequired: an employee whose password HR set signs in
// with it, passes TOTP, and must choose their own before anything else:
// no session, no completed request, no way around the page until the
// change succeeds. Afterwards the new password works and the old does not.
func TestPasswordChangeRequired(t *testing.T) {
	h := newHarness(t)
	h.dir.setPassword(alice, hrSetPass)
	c := h.browser()
	id := h.newRequest("wiki")

	r := h.password(c, id, alice, hrSetPass)
	wantStatus(t, r, http.StatusSeeOther)
	wantLocation(t, r, "/login/totp") // the second factor first
	if r := h.get(c, "/login/new-password"); r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != "/login/totp" {
		t.Fatalf("GET /login/new-password before TOTP: %d %q, want 303 to /login/totp", r.StatusCode, r.Header.Get("Location"))
	}
	r = h.totpStep(c)
	wantStatus(t, r, http.StatusSeeOther)
	wantLocation(t, r, "/login/new-password")
	if _, done := h.op.result(id); done || len(h.sess.all()) != 0 {
		t.Fatal("the sign-in completed or a session exists before the password change")
	}

	page := h.get(c, "/login/new-password")
	wantStatus(t, page, http.StatusOK)
	wantBody(t, page,
		`<html lang="en">`, "<h1>Choose a new password</h1>", "Sign in to Wiki",
		"set by HR or an administrator",
		"At least 10 characters, not your employee ID, and not the password you just used.",
		`<form method="post" action="/login/new-password">`,
		`<label for="new_password">New password</label>`, `<label for="confirm_password">`,
		`name="username" value="E1001" autocomplete="username" readonly hidden`,
		`minlength="10"`, `aria-describedby="newpw-rules"`,
	)
	if n := strings.Count(page.body, `autocomplete="new-password"`); n != 2 {
		t.Errorf("%d fields with autocomplete=new-password, want 2", n)
	}
	if strings.Contains(page.body, "<script") || strings.Contains(page.body, "style=") || strings.Contains(page.body, `aria-invalid`) {
		t.Error("page has script, inline style, or an error mark before any input")
	}
	csrf := csrfOf(t, page.body)

	t.Run("no way around the page", func(t *testing.T) {
		// The same browser starting over, or another app, gets the
		// password page: no session exists to sign in silently with.
		r := h.get(c, "/login?authRequestID="+h.newRequest("erp"))
		wantStatus(t, r, http.StatusOK)
		wantBody(t, r, `action="/login/password"`)
		none := h.newRequest("wiki", func(ar *storage.AuthRequest) { ar.Prompt = []string{"none"} })
		r = h.get(c, "/login?authRequestID="+none)
		wantStatus(t, r, http.StatusFound)
		if loc := r.Header.Get("Location"); !strings.Contains(loc, "error=login_required") {
			t.Errorf("prompt=none during a required change: Location %q, want login_required", loc)
		}
	})

	t.Run("CSRF", func(t *testing.T) {
		for name, tok := range map[string]string{"missing": "", "garbage": "v1.abc.def", "another browser's": csrfOf(t, h.get(h.browser(), "/login?authRequestID="+h.newRequest("wiki")).body)} {
			form := url.Values{"new_password": {ownPass}, "confirm_password": {ownPass}}
			if tok != "" {
				form.Set("csrf", tok)
			}
			r := h.post(c, "/login/new-password", form)
			if r.StatusCode != http.StatusForbidden {
				t.Errorf("%s token: status %d, want 403", name, r.StatusCode)
			}
		}
		if pw, must := h.dir.password(alice); pw != hrSetPass || !must {
			t.Errorf("a refused form changed the password (%q, change required %v)", pw, must)
		}
	})

	t.Run("each rule is named", func(t *testing.T) {
		tests := []struct {
			name, pw, confirm, want, invalid string
		}{
			{"empty", "", "", "Type your new password in both fields.", "new_password"},
			{"no confirmation", ownPass, "", "Type your new password in both fields.", "new_password"},
			{"mismatch", ownPass, ownPass + "!", "The two passwords are not the same.", "confirm_password"},
			{"too short", "short pw", "short pw", "The new password is too short: use at least 10 characters.", "new_password"},
			{"too long", strings.Repeat("x", 1025), strings.Repeat("x", 1025), "The new password is too long", "new_password"},
			{"the one HR set", hrSetPass, hrSetPass, "must be different from the password you just used", "new_password"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				r := h.newPassword(c, csrf, tt.pw, tt.confirm)
				wantStatus(t, r, http.StatusBadRequest)
				wantBody(t, r, `role="alert"`, tt.want, "<h1>Choose a new password</h1>")
				if !regexp.MustCompile(`id="` + tt.invalid + `"[^>]*aria-describedby="form-error[^>]*aria-invalid="true"`).MatchString(r.body) {
					t.Errorf("field %s is not marked invalid and tied to the message:\n%s", tt.invalid, r.body)
				}
			})
		}
		if _, done := h.op.result(id); done || len(h.sess.all()) != 0 {
			t.Error("a refused change completed the sign-in or made a session")
		}
		if pw, must := h.dir.password(alice); pw != hrSetPass || !must {
			t.Errorf("a refused change changed the password (%q, change required %v)", pw, must)
		}
	})

	r = h.newPassword(c, csrf, ownPass, ownPass)
	wantStatus(t, r, http.StatusSeeOther)
	wantLocation(t, r, callbackBase+id)
	res, ok := h.op.result(id)
	if !ok || !slices.Equal(res.AMR, []string{"pwd", "otp", "mfa"}) || res.Subject != aliceSb {
		t.Fatalf("auth result %+v (completed %v), want alice with pwd otp mfa", res, ok)
	}
	ck := ssoCookie(t, r, ssoName)
	if res.SessionID != hashOf(ck.Value) || len(h.sess.all()) != 1 {
		t.Errorf("session %q / %d sessions: want one, the cookie's", res.SessionID, len(h.sess.all()))
	}
	if pw, must := h.dir.password(alice); pw != ownPass || must {
		t.Errorf("after the change: password %q, change required %v", pw, must)
	}
	// The flow is over: the page cannot be used again.
	if r := h.newPassword(c, csrf, "yet another passphrase", "yet another passphrase"); r.StatusCode != http.StatusBadRequest || h.dir.changes != 1 {
		t.Errorf("replayed change: status %d, %d changes; want 400 and one change", r.StatusCode, h.dir.changes)
	}

	t.Run("next time", func(t *testing.T) {
		other := h.browser()
		id := h.newRequest("wiki")
		r := h.password(other, id, alice, hrSetPass)
		wantStatus(t, r, http.StatusUnauthorized)
		wantBody(t, r, genericEN)
		r = h.password(other, id, alice, ownPass)
		wantStatus(t, r, http.StatusSeeOther)
		r = h.totpStep(other)
		wantStatus(t, r, http.StatusSeeOther)
		wantLocation(t, r, callbackBase+id) // no change page this time
	})
}

// TestPasswordChangeOrder: enrolment comes before the change, and without
// a second factor the change follows the password directly.
func TestPasswordChangeOrder(t *testing.T) {
	t.Run("after enrolment", func(t *testing.T) {
		h := newHarness(t)
		h.dir.setPassword(newbie, hrSetPass)
		c := h.browser()
		id := h.newRequest("wiki")
		r := h.password(c, id, newbie, hrSetPass)
		wantLocation(t, r, "/login/enrol")
		page := h.get(c, "/login/enrol")
		r = h.post(c, "/login/enrol", url.Values{"csrf": {csrfOf(t, page.body)}, "code": {goodCode}})
		wantStatus(t, r, http.StatusSeeOther)
		wantLocation(t, r, "/login/new-password")
		page = h.get(c, "/login/new-password")
		r = h.newPassword(c, csrfOf(t, page.body), ownPass, ownPass)
		wantLocation(t, r, callbackBase+id)
		if res, _ := h.op.result(id); !slices.Equal(res.AMR, []string{"pwd", "otp", "mfa"}) {
			t.Errorf("AMR %v", res.AMR)
		}
	})
	t.Run("no second factor", func(t *testing.T) {
		h := newHarness(t, func(o *loginui.Options) { o.TOTPRequired = false })
		h.dir.setPassword(newbie, hrSetPass)
		c := h.browser()
		id := h.newRequest("wiki")
		r := h.password(c, id, newbie, hrSetPass)
		wantStatus(t, r, http.StatusSeeOther)
		wantLocation(t, r, "/login/new-password")
		if len(h.sess.all()) != 0 {
			t.Fatal("session before the change")
		}
		page := h.get(c, "/login/new-password")
		r = h.newPassword(c, csrfOf(t, page.body), ownPass, ownPass)
		wantLocation(t, r, callbackBase+id)
		if res, _ := h.op.result(id); !slices.Equal(res.AMR, []string{"pwd"}) {
			t.Errorf("AMR %v, want [pwd]", res.AMR)
		}
	})
	t.Run("employee ID refused", func(t *testing.T) {
		h := newHarness(t)
		const longID = "HR012023001"
		h.dir.mu.Lock()
		h.dir.byID[longID] = &storage.Employee{Subject: "sub-hr", EmployeeID: longID, Status: storage.StatusActive}
		h.dir.mu.Unlock()
		h.dir.setPassword(longID, hrSetPass)
		c := h.browser()
		r := h.password(c, h.newRequest("wiki"), longID, hrSetPass)
		wantLocation(t, r, "/login/enrol")
		page := h.get(c, "/login/enrol")
		r = h.post(c, "/login/enrol", url.Values{"csrf": {csrfOf(t, page.body)}, "code": {goodCode}})
		wantLocation(t, r, "/login/new-password")
		page = h.get(c, "/login/new-password", "Accept-Language", "zh-CN")
		wantBody(t, page, `<html lang="zh-CN">`, "设置新密码", "至少 10 个字符")
		r = h.newPassword(c, csrfOf(t, page.body), "hr012023001", "hr012023001")
		wantStatus(t, r, http.StatusBadRequest)
		wantBody(t, r, "The new password must not be your employee ID.") // this POST sent no Accept-Language
	})
}

// TestPasswordChangeRaces: what changes between the password step and the
// change ends the flow rather than letting it write over it.
func TestPasswordChangeRaces(t *testing.T) {
	start := func(t *testing.T) (*harness, *http.Client, string) {
		h := newHarness(t)
		h.dir.setPassword(alice, hrSetPass)
		c := h.browser()
		wantLocation(t, h.password(c, h.newRequest("wiki"), alice, hrSetPass), "/login/totp")
		wantLocation(t, h.totpStep(c), "/login/new-password")
		return h, c, csrfOf(t, h.get(c, "/login/new-password").body)
	}
	t.Run("reset again by HR", func(t *testing.T) {
		h, c, csrf := start(t)
		h.dir.setPassword(alice, "another HR password")
		r := h.newPassword(c, csrf, ownPass, ownPass)
		wantStatus(t, r, http.StatusConflict)
		wantBody(t, r, "was reset after this sign-in began")
		if pw, _ := h.dir.password(alice); pw != "another HR password" || len(h.sess.all()) != 0 {
			t.Errorf("a stale change wrote %q or made a session", pw)
		}
		if r := h.get(c, "/login/new-password"); r.StatusCode != http.StatusBadRequest {
			t.Errorf("flow still usable after a stale change: %d", r.StatusCode)
		}
	})
	t.Run("frozen meanwhile", func(t *testing.T) {
		h, c, csrf := start(t)
		h.dir.setStatus(alice, storage.StatusFrozen)
		r := h.newPassword(c, csrf, ownPass, ownPass)
		wantStatus(t, r, http.StatusForbidden)
		wantBody(t, r, "E-103")
		if len(h.sess.all()) != 0 {
			t.Error("session for a frozen employee")
		}
	})
}

// TestSessionOfFlaggedEmployeeNotReused: were a session to outlive a reset
// (the reset ends them all, but it might race a sign-in), it does not
// answer silently while the change is pending.
func TestSessionOfFlaggedEmployeeNotReused(t *testing.T) {
	h := newHarness(t)
	c := h.browser()
	wantStatus(t, h.signIn(c, h.newRequest("wiki")), http.StatusSeeOther)
	h.dir.setPassword(alice, hrSetPass)
	r := h.get(c, "/login?authRequestID="+h.newRequest("wiki"))
	wantStatus(t, r, http.StatusOK)
	wantBody(t, r, `action="/login/password"`)
}
