package loginui_test

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	loginui "github.com/gongpai/gongpai/login-ui"
	"github.com/gongpai/gongpai/seal"
	"github.com/gongpai/gongpai/storage"
)

const (
	appRedirect = "https://wiki.test/callback"
	alicePass   = "correct horse battery"
	genericEN   = "Employee ID, password or code is incorrect."
	ssoName     = "gongpai_sso"
)

// Employees of the fake directory.
const (
	alice   = "E1001" // active, TOTP enrolled
	frozen  = "E1002"
	leaver  = "E1003"
	newbie  = "E1004" // active, no TOTP yet
	aliceSb = "sub-alice"
)

type harness struct {
	t     *testing.T
	op    *fakeOP
	dir   *fakeDir
	sess  *fakeSessions
	lim   *fakeLimiter
	clock *clock
	srv   *httptest.Server
	reqN  atomic.Int64
}

func newHarness(t *testing.T, mod ...func(*loginui.Options)) *harness {
	t.Helper()
	h := &harness{
		t: t,
		op: &fakeOP{
			reqs:      map[string]*storage.AuthRequest{},
			completed: map[string]storage.AuthResult{},
			logouts:   map[string]*loginui.LogoutRequest{},
			clients: map[string]*storage.Client{
				"wiki":   {ID: "wiki", Name: "Wiki", RedirectURIs: []string{appRedirect}},
				"erp":    {ID: "erp", Name: "ERP", RedirectURIs: []string{"https://erp.test/cb"}, RequireMFA: true},
				"hrtool": {ID: "hrtool", Name: "HR tool", RedirectURIs: []string{"https://hr.test/cb"}, AllowedRoles: []string{"hr"}},
			},
		},
		dir: &fakeDir{
			byID: map[string]*storage.Employee{
				alice:  {Subject: aliceSb, EmployeeID: alice, Status: storage.StatusActive, TOTPSecret: []byte("sealed")},
				frozen: {Subject: "sub-frozen", EmployeeID: frozen, Status: storage.StatusFrozen, TOTPSecret: []byte("sealed")},
				leaver: {Subject: "sub-leaver", EmployeeID: leaver, Status: storage.StatusDeparted},
				newbie: {Subject: "sub-newbie", EmployeeID: newbie, Status: storage.StatusActive},
			},
			passwords: map[string]string{alice: alicePass, frozen: alicePass, leaver: alicePass, newbie: alicePass},
			used:      map[string]bool{},
			identity:  map[string]*storage.Identity{},
		},
		sess:  &fakeSessions{m: map[string]storage.Session{}},
		lim:   &fakeLimiter{m: map[string]int64{}},
		clock: &clock{t: time.Date(2025, 3, 1, 9, 0, 0, 0, time.UTC)},
	}
	sealer, err := seal.New(make([]byte, seal.KeySize))
	if err != nil {
		t.Fatal(err)
	}
	o := loginui.Options{
		Requests:     h.op,
		Directory:    h.dir,
		Sessions:     h.sess,
		Limiter:      h.lim,
		Sealer:       sealer,
		TOTPRequired: true,
		Now:          h.clock.Now,
		Logger:       slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
	for _, m := range mod {
		m(&o)
	}
	handler, err := loginui.New(o)
	if err != nil {
		t.Fatal(err)
	}
	if o.Secure {
		h.srv = httptest.NewTLSServer(handler)
	} else {
		h.srv = httptest.NewServer(handler)
	}
	t.Cleanup(h.srv.Close)
	return h
}

// newRequest stores a pending auth request for client and returns its ID.
func (h *harness) newRequest(client string, mod ...func(*storage.AuthRequest)) string {
	id := fmt.Sprintf("req-%d", h.reqN.Add(1))
	r := &storage.AuthRequest{
		ID: id, ClientID: client, RedirectURI: h.op.clients[client].RedirectURIs[0],
		Scopes: []string{"openid"}, State: "st", ResponseType: "code",
		CreatedAt: h.clock.Now(), ExpiresAt: h.clock.Now().Add(30 * time.Minute),
	}
	for _, m := range mod {
		m(r)
	}
	h.op.mu.Lock()
	h.op.reqs[id] = r
	h.op.mu.Unlock()
	return id
}

// browser is a client with its own cookie jar that does not follow
// redirects, so tests see each hop.
func (h *harness) browser() *http.Client {
	jar, err := cookiejar.New(nil)
	if err != nil {
		h.t.Fatal(err)
	}
	// srv.Client() is one shared client; copy it so browsers keep their own jars.
	return &http.Client{
		Transport:     h.srv.Client().Transport,
		Jar:           jar,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

type response struct {
	*http.Response
	body string
}

func (h *harness) do(c *http.Client, req *http.Request) response {
	h.t.Helper()
	resp, err := c.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		h.t.Fatal(err)
	}
	return response{resp, string(b)}
}

func (h *harness) get(c *http.Client, path string, header ...string) response {
	h.t.Helper()
	req, err := http.NewRequest(http.MethodGet, h.srv.URL+path, nil)
	if err != nil {
		h.t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	return h.do(c, req)
}

func (h *harness) post(c *http.Client, path string, form url.Values) response {
	h.t.Helper()
	req, err := http.NewRequest(http.MethodPost, h.srv.URL+path, strings.NewReader(form.Encode()))
	if err != nil {
		h.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return h.do(c, req)
}

var csrfRE = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

func csrfOf(t *testing.T, body string) string {
	t.Helper()
	m := csrfRE.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no CSRF token in page:\n%s", body)
	}
	return m[1]
}

func wantStatus(t *testing.T, r response, want int) {
	t.Helper()
	if r.StatusCode != want {
		t.Fatalf("%s %s: status %d, want %d; body:\n%s", r.Request.Method, r.Request.URL.Path, r.StatusCode, want, r.body)
	}
}

func wantBody(t *testing.T, r response, subs ...string) {
	t.Helper()
	for _, s := range subs {
		if !strings.Contains(r.body, s) {
			t.Errorf("%s %s: body lacks %q; body:\n%s", r.Request.Method, r.Request.URL.Path, s, r.body)
		}
	}
}

// password opens page 1 for reqID and submits the credentials.
func (h *harness) password(c *http.Client, reqID, empID, pass string) response {
	h.t.Helper()
	page := h.get(c, "/login?authRequestID="+url.QueryEscape(reqID))
	wantStatus(h.t, page, http.StatusOK)
	return h.post(c, "/login/password", url.Values{
		"csrf": {csrfOf(h.t, page.body)}, "authRequestID": {reqID},
		"employee_id": {empID}, "password": {pass},
	})
}

// signIn runs password + TOTP and returns the final response.
func (h *harness) signIn(c *http.Client, reqID string) response {
	h.t.Helper()
	r := h.password(c, reqID, alice, alicePass)
	wantStatus(h.t, r, http.StatusSeeOther)
	if loc := r.Header.Get("Location"); loc != "/login/totp" {
		h.t.Fatalf("after password: Location %q, want /login/totp", loc)
	}
	page := h.get(c, "/login/totp")
	wantStatus(h.t, page, http.StatusOK)
	// Each sign-in may use the good code once; forget earlier uses.
	h.dir.mu.Lock()
	clear(h.dir.used)
	h.dir.mu.Unlock()
	return h.post(c, "/login/totp", url.Values{"csrf": {csrfOf(h.t, page.body)}, "code": {goodCode}})
}

func ssoCookie(t *testing.T, r response, name string) *http.Cookie {
	t.Helper()
	for _, c := range r.Cookies() {
		if c.Name == name && c.Value != "" {
			return c
		}
	}
	t.Fatalf("no %s cookie set; Set-Cookie: %q", name, r.Header.Values("Set-Cookie"))
	return nil
}

func hashOf(v string) string {
	s := sha256.Sum256([]byte(v))
	return hex.EncodeToString(s[:])
}

func TestPasswordPage(t *testing.T) {
	h := newHarness(t)
	id := h.newRequest("wiki", func(r *storage.AuthRequest) { r.LoginHint = "e1001" })
	r := h.get(h.browser(), "/login?authRequestID="+id)
	wantStatus(t, r, http.StatusOK)
	wantBody(t, r,
		`<html lang="en">`,
		"Sign in to Wiki",
		`<label for="employee_id">`, `<label for="password">`,
		`autocomplete="username"`, `autocomplete="current-password"`,
		`value="e1001"`,
		`name="authRequestID" value="`+id+`"`,
	)
	if !regexp.MustCompile(`id="password"[^>]*autofocus`).MatchString(r.body) {
		t.Errorf("with a login hint the password field should have autofocus:\n%s", r.body)
	}
	if got := r.Header.Get("Content-Security-Policy"); !strings.Contains(got, "form-action 'self' https://wiki.test;") {
		t.Errorf("CSP %q: form-action should allow the app origin", got)
	}
	if strings.Contains(r.body, "<script") || strings.Contains(r.body, "style=") {
		t.Error("page has inline script or style")
	}
}

func TestExpiredRequest(t *testing.T) {
	h := newHarness(t)
	for _, path := range []string{"/login?authRequestID=nope", "/login", "/login/totp", "/login/enrol"} {
		r := h.get(h.browser(), path)
		wantStatus(t, r, http.StatusBadRequest)
		wantBody(t, r, "This sign-in link has expired. Go back to the app and start again.")
	}
}

func TestCSRF(t *testing.T) {
	h := newHarness(t)
	id := h.newRequest("wiki")
	c := h.browser()
	page := h.get(c, "/login?authRequestID="+id)
	token := csrfOf(t, page.body)
	other := h.browser()
	otherToken := csrfOf(t, h.get(other, "/login?authRequestID="+id).body)

	tests := []struct {
		name   string
		client *http.Client
		token  string
	}{
		{"missing token", c, ""},
		{"token of another browser", c, otherToken},
		{"garbage token", c, "v1.abc.def"},
		{"no CSRF cookie", h.browser(), token},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			form := url.Values{"authRequestID": {id}, "employee_id": {alice}, "password": {alicePass}}
			if tt.token != "" {
				form.Set("csrf", tt.token)
			}
			r := h.post(tt.client, "/login/password", form)
			wantStatus(t, r, http.StatusForbidden)
			wantBody(t, r, "This form has expired")
		})
	}
	if n := len(h.sess.all()); n != 0 {
		t.Errorf("CSRF failures created %d sessions", n)
	}
}

func TestPasswordErrors(t *testing.T) {
	tests := []struct {
		name       string
		empID      string
		pass       string
		wantStatus int
		wantText   string
	}{
		{"wrong password", alice, "wrong", http.StatusUnauthorized, genericEN},
		{"unknown ID", "E9999", alicePass, http.StatusUnauthorized, genericEN},
		{"empty password", alice, "", http.StatusUnauthorized, genericEN},
		{"frozen", frozen, alicePass, http.StatusForbidden, "E-103"},
		{"departed", leaver, alicePass, http.StatusForbidden, "This account has been closed."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			r := h.password(h.browser(), h.newRequest("wiki"), tt.empID, tt.pass)
			wantStatus(t, r, tt.wantStatus)
			wantBody(t, r, tt.wantText, `role="alert"`, `aria-describedby="form-error"`)
			if tt.wantText == genericEN && (strings.Contains(r.body, "E-103") || strings.Contains(r.body, "closed")) {
				t.Error("generic failure leaks account state")
			}
			for _, c := range r.Cookies() {
				if strings.Contains(c.Name, "flow") || strings.Contains(c.Name, "sso") {
					t.Errorf("failed sign-in set cookie %s", c.Name)
				}
			}
		})
	}
}

func TestSignInAndSilentSSO(t *testing.T) {
	h := newHarness(t)
	c := h.browser()
	id := h.newRequest("wiki")
	r := h.signIn(c, id)
	wantStatus(t, r, http.StatusSeeOther)
	if got, want := r.Header.Get("Location"), callbackBase+id; got != want {
		t.Fatalf("Location %q, want %q", got, want)
	}
	ck := ssoCookie(t, r, ssoName)
	if !ck.HttpOnly || ck.SameSite != http.SameSiteLaxMode || ck.Path != "/" || ck.Secure {
		t.Errorf("SSO cookie attributes: HttpOnly=%v SameSite=%v Path=%q Secure=%v", ck.HttpOnly, ck.SameSite, ck.Path, ck.Secure)
	}
	if len(ck.Value) != 43 {
		t.Errorf("cookie value %q: want 32 random bytes base64url", ck.Value)
	}
	res, ok := h.op.result(id)
	if !ok {
		t.Fatal("auth request not completed")
	}
	if res.Subject != aliceSb || res.SessionID != hashOf(ck.Value) || !slices.Equal(res.AMR, []string{"pwd", "otp", "mfa"}) || !res.AuthTime.Equal(h.clock.Now()) {
		t.Errorf("AuthResult %+v", res)
	}
	sess, err := h.sess.Session(t.Context(), res.SessionID)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(sess.ClientIDs, []string{"wiki"}) || !sess.ExpiresAt.Equal(h.clock.Now().Add(10*time.Hour)) || sess.RemoteIP != "127.0.0.1" {
		t.Errorf("session %+v", sess)
	}
	if cookies := r.Cookies(); !slices.ContainsFunc(cookies, func(c *http.Cookie) bool { return c.Name == "gongpai_flow" && c.MaxAge < 0 }) {
		t.Error("flow cookie not cleared")
	}

	// Another app: no page, straight to the callback.
	h.clock.Add(time.Minute)
	id2 := h.newRequest("erp")
	r = h.get(c, "/login?authRequestID="+id2)
	wantStatus(t, r, http.StatusFound)
	if got := r.Header.Get("Location"); got != callbackBase+id2 {
		t.Fatalf("silent sign-in Location %q", got)
	}
	res2, _ := h.op.result(id2)
	if res2.SessionID != res.SessionID || !res2.AuthTime.Equal(res.AuthTime) {
		t.Errorf("silent result %+v, want the first session's sid and auth_time", res2)
	}
	sess, _ = h.sess.Session(t.Context(), res.SessionID)
	if !slices.Equal(sess.ClientIDs, []string{"wiki", "erp"}) {
		t.Errorf("session clients %v", sess.ClientIDs)
	}

	// Signing in again (prompt=login) makes a new session, never reuses the ID.
	id3 := h.newRequest("wiki", func(r *storage.AuthRequest) { r.Prompt = []string{"login"} })
	r = h.signIn(c, id3)
	wantStatus(t, r, http.StatusSeeOther)
	res3, _ := h.op.result(id3)
	if res3.SessionID == res.SessionID {
		t.Error("second sign-in reused the session ID")
	}
	all := h.sess.all()
	if len(all) != 1 || all[0].ID != res3.SessionID {
		t.Errorf("sessions after re-sign-in: %+v; want only the new one", all)
	}
	if !slices.Equal(all[0].ClientIDs, []string{"wiki", "erp"}) {
		t.Errorf("new session clients %v; want those of the old session kept", all[0].ClientIDs)
	}
}

func TestSilentSSOConditions(t *testing.T) {
	dur := func(d time.Duration) *time.Duration { return &d }
	tests := []struct {
		name     string
		client   string
		mod      func(*storage.AuthRequest)
		setup    func(h *harness)
		cookie   bool
		status   int
		location string // prefix
		body     string
	}{
		{name: "session reused", client: "wiki", cookie: true, status: http.StatusFound, location: callbackBase},
		{name: "prompt=none without cookie", client: "wiki", mod: func(r *storage.AuthRequest) { r.Prompt = []string{"none"} },
			status: http.StatusFound, location: appRedirect + "?error=login_required"},
		{name: "prompt=none with session", client: "wiki", cookie: true, mod: func(r *storage.AuthRequest) { r.Prompt = []string{"none"} },
			status: http.StatusFound, location: callbackBase},
		{name: "prompt=login shows the page", client: "wiki", cookie: true, mod: func(r *storage.AuthRequest) { r.Prompt = []string{"login"} },
			status: http.StatusOK, body: "Sign in to Wiki"},
		{name: "max_age exceeded shows the page", client: "wiki", cookie: true, mod: func(r *storage.AuthRequest) { r.MaxAge = dur(30 * time.Minute) },
			status: http.StatusOK, body: "Sign in to Wiki"},
		{name: "max_age within", client: "wiki", cookie: true, mod: func(r *storage.AuthRequest) { r.MaxAge = dur(2 * time.Hour) },
			status: http.StatusFound, location: callbackBase},
		{name: "max_age exceeded with prompt=none", client: "wiki", cookie: true,
			mod:    func(r *storage.AuthRequest) { r.MaxAge = dur(time.Minute); r.Prompt = []string{"none"} },
			status: http.StatusFound, location: appRedirect + "?error=login_required"},
		{name: "hint for another employee", client: "wiki", cookie: true, mod: func(r *storage.AuthRequest) { r.HintSubject = "sub-bob" },
			status: http.StatusOK, body: "Sign in to Wiki"},
		{name: "hint for this employee", client: "wiki", cookie: true, mod: func(r *storage.AuthRequest) { r.HintSubject = aliceSb },
			status: http.StatusFound, location: callbackBase},
		{name: "employee frozen since", client: "wiki", cookie: true, setup: func(h *harness) { h.dir.setStatus(alice, storage.StatusFrozen) },
			status: http.StatusOK, body: "Sign in to Wiki"},
		{name: "session expired", client: "wiki", cookie: true, setup: func(h *harness) { h.clock.Add(11 * time.Hour) },
			status: http.StatusOK, body: "Sign in to Wiki"},
		{name: "client policy excludes employee: a page that says so, linking on with access_denied", client: "hrtool", cookie: true,
			status: http.StatusForbidden, body: `href="https://hr.test/cb?error=access_denied`},
		{name: "client policy admits employee", client: "hrtool", cookie: true,
			setup: func(h *harness) {
				h.dir.identity[aliceSb] = &storage.Identity{Subject: aliceSb, Roles: []string{"employee", "hr"}}
			},
			status: http.StatusFound, location: callbackBase},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			c := h.browser()
			if tt.cookie {
				wantStatus(t, h.signIn(c, h.newRequest("wiki")), http.StatusSeeOther)
				h.clock.Add(time.Hour)
			}
			if tt.setup != nil {
				tt.setup(h)
			}
			var mods []func(*storage.AuthRequest)
			if tt.mod != nil {
				mods = append(mods, tt.mod)
			}
			id := h.newRequest(tt.client, mods...)
			r := h.get(c, "/login?authRequestID="+id)
			wantStatus(t, r, tt.status)
			if loc := r.Header.Get("Location"); !strings.HasPrefix(loc, tt.location) || (tt.location == "") != (loc == "") {
				t.Errorf("Location %q, want prefix %q", loc, tt.location)
			}
			wantBody(t, r, tt.body)
		})
	}
}

func TestRequireMFAWithPasswordOnlySession(t *testing.T) {
	h := newHarness(t, func(o *loginui.Options) { o.TOTPRequired = false })
	c := h.browser()
	// Without TOTPRequired, an unenrolled employee signs in with a password only.
	id := h.newRequest("wiki")
	r := h.password(c, id, newbie, alicePass)
	wantStatus(t, r, http.StatusSeeOther)
	if res, _ := h.op.result(id); !slices.Equal(res.AMR, []string{"pwd"}) {
		t.Fatalf("AMR %v, want [pwd]", res.AMR)
	}
	// An app that requires MFA does not accept that session...
	r = h.get(c, "/login?authRequestID="+h.newRequest("erp"))
	wantStatus(t, r, http.StatusOK)
	wantBody(t, r, "Sign in to ERP")
	// ...and sends the employee to enrolment.
	r = h.password(c, h.newRequest("erp"), newbie, alicePass)
	wantStatus(t, r, http.StatusSeeOther)
	if loc := r.Header.Get("Location"); loc != "/login/enrol" {
		t.Errorf("Location %q, want /login/enrol", loc)
	}
}

func TestTOTPFailures(t *testing.T) {
	h := newHarness(t)
	c := h.browser()
	id := h.newRequest("wiki")
	wantStatus(t, h.password(c, id, alice, alicePass), http.StatusSeeOther)
	page := h.get(c, "/login/totp")
	wantStatus(t, page, http.StatusOK)
	wantBody(t, page, `autocomplete="one-time-code"`, `inputmode="numeric"`, `pattern="[0-9]*"`, `<label for="code">`, "Sign in to Wiki")

	r := h.post(c, "/login/totp", url.Values{"csrf": {csrfOf(t, page.body)}, "code": {"000000"}})
	wantStatus(t, r, http.StatusUnauthorized)
	wantBody(t, r, genericEN, `role="alert"`)

	// A code already used (a replay) gets the same answer.
	h.dir.used[aliceSb+goodCode] = true
	r = h.post(c, "/login/totp", url.Values{"csrf": {csrfOf(t, r.body)}, "code": {"123 456"}})
	wantStatus(t, r, http.StatusUnauthorized)
	wantBody(t, r, genericEN)
	if _, done := h.op.result(id); done {
		t.Error("request completed despite bad codes")
	}
	// The flow expires after ten minutes.
	h.clock.Add(11 * time.Minute)
	r = h.get(c, "/login/totp")
	wantStatus(t, r, http.StatusBadRequest)
}

func TestEnrolment(t *testing.T) {
	h := newHarness(t)
	c := h.browser()
	id := h.newRequest("wiki")
	r := h.password(c, id, newbie, alicePass)
	wantStatus(t, r, http.StatusSeeOther)
	if loc := r.Header.Get("Location"); loc != "/login/enrol" {
		t.Fatalf("Location %q, want /login/enrol", loc)
	}
	// The TOTP step is not reachable from an enrolment flow.
	if r := h.get(c, "/login/totp"); r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != "/login/enrol" {
		t.Errorf("GET /login/totp during enrolment: %d %q", r.StatusCode, r.Header.Get("Location"))
	}
	page := h.get(c, "/login/enrol")
	wantStatus(t, page, http.StatusOK)
	wantBody(t, page,
		`<img class="qr" src="data:image/png;base64,iVBORw0KGgo`,
		"JBSW Y3DP EHPK 3PXP JBSW Y3DP EHPK 3PXP",
		`href="otpauth://totp/gongpai:E1004?issuer=gongpai&amp;secret=`+fakeSecret+`"`,
		`autocomplete="one-time-code"`,
	)
	if strings.Contains(page.body, "ZgotmplZ") {
		t.Error("template sanitised a URL away")
	}

	r = h.post(c, "/login/enrol", url.Values{"csrf": {csrfOf(t, page.body)}, "code": {"999999"}})
	wantStatus(t, r, http.StatusUnauthorized)
	wantBody(t, r, genericEN, "data:image/png;base64,")

	r = h.post(c, "/login/enrol", url.Values{"csrf": {csrfOf(t, r.body)}, "code": {goodCode}})
	wantStatus(t, r, http.StatusSeeOther)
	if got := r.Header.Get("Location"); got != callbackBase+id {
		t.Errorf("Location %q", got)
	}
	if res, _ := h.op.result(id); !slices.Equal(res.AMR, []string{"pwd", "otp", "mfa"}) {
		t.Errorf("AMR %v", res.AMR)
	}
	if e, _ := h.dir.Employee(t.Context(), "sub-newbie"); e.TOTPSecret == nil {
		t.Error("TOTP secret not stored")
	}
}

func TestLanguage(t *testing.T) {
	tests := []struct {
		name      string
		uiLocales []string
		accept    string
		wantLang  string
		wantText  string
	}{
		{"default", nil, "", "en", "Sign in to Wiki"},
		{"ui_locales zh-CN", []string{"zh-CN"}, "", "zh-CN", "登录 Wiki"},
		{"ui_locales zh-Hans", []string{"fr", "zh-Hans"}, "", "zh-CN", "工号"},
		{"Accept-Language", nil, "zh-CN,zh;q=0.9,en;q=0.8", "zh-CN", "密码"},
		{"ui_locales before Accept-Language", []string{"en"}, "zh-CN", "en", "Employee ID"},
		{"unsupported", []string{"fr"}, "de", "en", "Password"},
		{"malformed header", nil, ";;;q=x", "en", "Password"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			id := h.newRequest("wiki", func(r *storage.AuthRequest) { r.UILocales = tt.uiLocales })
			var hdr []string
			if tt.accept != "" {
				hdr = []string{"Accept-Language", tt.accept}
			}
			r := h.get(h.browser(), "/login?authRequestID="+id, hdr...)
			wantStatus(t, r, http.StatusOK)
			wantBody(t, r, `<html lang="`+tt.wantLang+`">`, tt.wantText)
		})
	}
	t.Run("zh-CN error message", func(t *testing.T) {
		h := newHarness(t)
		id := h.newRequest("wiki", func(r *storage.AuthRequest) { r.UILocales = []string{"zh-CN"} })
		r := h.password(h.browser(), id, alice, "wrong")
		wantStatus(t, r, http.StatusUnauthorized)
		wantBody(t, r, "工号、密码或验证码不正确。")
	})
}

func TestRateLimit(t *testing.T) {
	tests := []struct {
		name  string
		limit loginui.RateLimit
		ids   []string // employee IDs tried in order, all with a wrong password
	}{
		{"per employee, existing ID", loginui.RateLimit{PerEmployee: 2, PerIP: 100}, []string{alice, alice, alice}},
		{"per employee, unknown ID", loginui.RateLimit{PerEmployee: 2, PerIP: 100}, []string{"E9999", "e9999 ", "E9999"}},
		{"per IP", loginui.RateLimit{PerEmployee: 100, PerIP: 2}, []string{"A1", "A2", "A3"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, func(o *loginui.Options) { o.RateLimit = tt.limit })
			c := h.browser()
			var last response
			for i, empID := range tt.ids {
				last = h.password(c, h.newRequest("wiki"), empID, "wrong")
				if i < len(tt.ids)-1 {
					wantStatus(t, last, http.StatusUnauthorized)
				}
			}
			wantStatus(t, last, http.StatusTooManyRequests)
			wantBody(t, last, "Too many attempts", "E-301")
			// The right password does not get through either.
			r := h.password(c, h.newRequest("wiki"), tt.ids[0], alicePass)
			wantStatus(t, r, http.StatusTooManyRequests)
		})
	}
	t.Run("TOTP per employee", func(t *testing.T) {
		h := newHarness(t, func(o *loginui.Options) { o.RateLimit = loginui.RateLimit{PerEmployee: 2} })
		c := h.browser()
		wantStatus(t, h.password(c, h.newRequest("wiki"), alice, alicePass), http.StatusSeeOther)
		page := h.get(c, "/login/totp")
		var r response
		for range 3 {
			r = h.post(c, "/login/totp", url.Values{"csrf": {csrfOf(t, page.body)}, "code": {"000000"}})
		}
		wantStatus(t, r, http.StatusTooManyRequests)
		wantBody(t, r, "Too many attempts")
	})
}

func TestSecurityHeaders(t *testing.T) {
	h := newHarness(t)
	id := h.newRequest("wiki")
	paths := []string{"/login?authRequestID=" + id, "/login?authRequestID=gone", "/logged-out", "/static/style.css", "/login/nowhere", "/logout"}
	for _, p := range paths {
		t.Run(p, func(t *testing.T) {
			r := h.get(h.browser(), p)
			want := map[string]string{
				"X-Frame-Options":        "DENY",
				"X-Content-Type-Options": "nosniff",
				"Referrer-Policy":        "no-referrer",
			}
			for k, v := range want {
				if got := r.Header.Get(k); got != v {
					t.Errorf("%s: %q, want %q", k, got, v)
				}
			}
			csp := r.Header.Get("Content-Security-Policy")
			for _, d := range []string{"default-src 'none'", "style-src 'self'", "img-src 'self' data:", "form-action 'self'", "frame-ancestors 'none'", "base-uri 'none'"} {
				if !strings.Contains(csp, d) {
					t.Errorf("CSP %q lacks %q", csp, d)
				}
			}
			cc := r.Header.Get("Cache-Control")
			if strings.HasPrefix(p, "/static/") {
				if r.StatusCode != http.StatusOK || !strings.Contains(r.Header.Get("Content-Type"), "text/css") {
					t.Errorf("stylesheet: %d %q", r.StatusCode, r.Header.Get("Content-Type"))
				}
			} else if cc != "no-store" {
				t.Errorf("Cache-Control %q, want no-store", cc)
			}
		})
	}
}

func TestSecureCookies(t *testing.T) {
	h := newHarness(t, func(o *loginui.Options) { o.Secure = true })
	c := h.browser()
	page := h.get(c, "/login?authRequestID="+h.newRequest("wiki"))
	if ck := ssoCookie(t, page, "__Host-gongpai_csrf"); !ck.Secure || !ck.HttpOnly {
		t.Errorf("CSRF cookie %+v", ck)
	}
	r := h.signIn(c, h.newRequest("wiki"))
	wantStatus(t, r, http.StatusSeeOther)
	ck := ssoCookie(t, r, "__Host-gongpai_sso")
	if !ck.Secure || !ck.HttpOnly || ck.SameSite != http.SameSiteLaxMode || ck.Path != "/" || ck.Domain != "" {
		t.Errorf("SSO cookie %+v", ck)
	}
}

func TestLogout(t *testing.T) {
	setup := func(t *testing.T) (*harness, *http.Client, string) {
		h := newHarness(t)
		c := h.browser()
		id := h.newRequest("wiki")
		wantStatus(t, h.signIn(c, id), http.StatusSeeOther)
		res, _ := h.op.result(id)
		h.op.logouts["lr-hint"] = &loginui.LogoutRequest{RedirectURI: "https://wiki.test/bye?state=s", Subject: aliceSb, ClientID: "wiki", ExpiresAt: h.clock.Now().Add(time.Hour)}
		h.op.logouts["lr-nohint"] = &loginui.LogoutRequest{RedirectURI: "https://wiki.test/bye?state=s", ClientID: "wiki", ExpiresAt: h.clock.Now().Add(time.Hour)}
		h.op.logouts["lr-other"] = &loginui.LogoutRequest{Subject: "sub-bob", ExpiresAt: h.clock.Now().Add(time.Hour)}
		h.op.logouts["lr-old"] = &loginui.LogoutRequest{Subject: aliceSb, ExpiresAt: h.clock.Now().Add(-time.Second)}
		return h, c, res.SessionID
	}
	cleared := func(r response) bool {
		return slices.ContainsFunc(r.Cookies(), func(c *http.Cookie) bool { return c.Name == ssoName && c.MaxAge < 0 })
	}

	t.Run("matching hint ends at once", func(t *testing.T) {
		h, c, sid := setup(t)
		r := h.get(c, "/logout?lr=lr-hint")
		wantStatus(t, r, http.StatusFound)
		if got := r.Header.Get("Location"); got != "https://wiki.test/bye?state=s" {
			t.Errorf("Location %q", got)
		}
		if _, err := h.sess.Session(t.Context(), sid); err == nil {
			t.Error("session still exists")
		}
		if !cleared(r) {
			t.Error("SSO cookie not cleared")
		}
		// Signed out: the next sign-in shows the page again.
		wantStatus(t, h.get(c, "/login?authRequestID="+h.newRequest("wiki")), http.StatusOK)
	})
	for _, lr := range []string{"lr-nohint", "lr-other", ""} {
		t.Run("confirm "+lr, func(t *testing.T) {
			h, c, sid := setup(t)
			r := h.get(c, "/logout?lr="+lr)
			wantStatus(t, r, http.StatusOK)
			wantBody(t, r, `<form method="post" action="/logout">`, `name="lr" value="`+lr+`"`, "Sign out")
			if csp := r.Header.Get("Content-Security-Policy"); lr == "lr-nohint" && !strings.Contains(csp, "form-action 'self' https://wiki.test;") {
				t.Errorf("CSP %q: form-action should allow the post-logout redirect origin", csp)
			}
			if _, err := h.sess.Session(t.Context(), sid); err != nil {
				t.Fatal("session ended without confirmation")
			}
			// Without the token the POST is refused.
			wantStatus(t, h.post(c, "/logout", url.Values{"lr": {lr}}), http.StatusForbidden)
			r = h.post(c, "/logout", url.Values{"lr": {lr}, "csrf": {csrfOf(t, r.body)}})
			wantStatus(t, r, http.StatusSeeOther)
			want := "/logged-out"
			if lr == "lr-nohint" {
				want = "https://wiki.test/bye?state=s"
			}
			if got := r.Header.Get("Location"); got != want {
				t.Errorf("Location %q, want %q", got, want)
			}
			if _, err := h.sess.Session(t.Context(), sid); err == nil {
				t.Error("session still exists")
			}
			if !cleared(r) {
				t.Error("SSO cookie not cleared")
			}
		})
	}
	t.Run("invalid or expired lr", func(t *testing.T) {
		h, c, _ := setup(t)
		for _, lr := range []string{"forged", "lr-old"} {
			r := h.get(c, "/logout?lr="+lr)
			wantStatus(t, r, http.StatusBadRequest)
			wantBody(t, r, "This sign-out link has expired")
		}
	})
	t.Run("no session", func(t *testing.T) {
		h := newHarness(t)
		h.op.logouts["lr"] = &loginui.LogoutRequest{RedirectURI: "https://wiki.test/bye"}
		r := h.get(h.browser(), "/logout?lr=lr")
		wantStatus(t, r, http.StatusFound)
		if got := r.Header.Get("Location"); got != "https://wiki.test/bye" {
			t.Errorf("Location %q", got)
		}
	})
	t.Run("logged-out page", func(t *testing.T) {
		h := newHarness(t)
		r := h.get(h.browser(), "/logged-out", "Accept-Language", "zh-CN")
		wantStatus(t, r, http.StatusOK)
		wantBody(t, r, "您已退出登录")
	})
}

func TestNewValidatesOptions(t *testing.T) {
	sealer, _ := seal.New(make([]byte, seal.KeySize))
	full := loginui.Options{Requests: &fakeOP{}, Directory: &fakeDir{}, Sessions: &fakeSessions{}, Limiter: &fakeLimiter{}, Sealer: sealer}
	tests := []struct {
		name string
		mod  func(*loginui.Options)
	}{
		{"no requests", func(o *loginui.Options) { o.Requests = nil }},
		{"no directory", func(o *loginui.Options) { o.Directory = nil }},
		{"no sessions", func(o *loginui.Options) { o.Sessions = nil }},
		{"no limiter", func(o *loginui.Options) { o.Limiter = nil }},
		{"no sealer", func(o *loginui.Options) { o.Sealer = nil }},
		{"negative ttl", func(o *loginui.Options) { o.SessionTTL = -time.Second }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := full
			tt.mod(&o)
			if _, err := loginui.New(o); err == nil {
				t.Error("New accepted invalid options")
			}
		})
	}
	if _, err := loginui.New(full); err != nil {
		t.Errorf("New(valid): %v", err)
	}
}

// TestChangesBetweenSteps covers what the directory may answer when the
// employee changed after the password step.
func TestChangesBetweenSteps(t *testing.T) {
	t.Run("frozen before the TOTP step", func(t *testing.T) {
		h := newHarness(t)
		c := h.browser()
		wantStatus(t, h.password(c, h.newRequest("wiki"), alice, alicePass), http.StatusSeeOther)
		page := h.get(c, "/login/totp")
		h.dir.setStatus(alice, storage.StatusFrozen)
		r := h.post(c, "/login/totp", url.Values{"csrf": {csrfOf(t, page.body)}, "code": {goodCode}})
		wantStatus(t, r, http.StatusForbidden)
		wantBody(t, r, "E-103")
		if n := len(h.sess.all()); n != 0 {
			t.Errorf("%d sessions created for a frozen employee", n)
		}
	})
	// A reset by HR ends every flow already past the password: otherwise
	// whoever typed the password would now enrol their own authenticator.
	t.Run("TOTP reset before the TOTP step", func(t *testing.T) {
		h := newHarness(t)
		c := h.browser()
		wantStatus(t, h.password(c, h.newRequest("wiki"), alice, alicePass), http.StatusSeeOther)
		page := h.get(c, "/login/totp")
		h.dir.setTOTP(alice, nil)
		r := h.post(c, "/login/totp", url.Values{"csrf": {csrfOf(t, page.body)}, "code": {goodCode}})
		wantStatus(t, r, http.StatusConflict)
		wantBody(t, r, "was reset after this sign-in began")
		if r := h.get(c, "/login/enrol"); r.StatusCode != http.StatusBadRequest {
			t.Errorf("flow still usable after the reset: GET /login/enrol %d", r.StatusCode)
		}
		if n := len(h.sess.all()); n != 0 {
			t.Errorf("%d sessions created after a TOTP reset", n)
		}
	})
	t.Run("password reset before the TOTP step", func(t *testing.T) {
		h := newHarness(t)
		c := h.browser()
		wantStatus(t, h.password(c, h.newRequest("wiki"), alice, alicePass), http.StatusSeeOther)
		page := h.get(c, "/login/totp")
		h.dir.setPassword(alice, "a password HR chose")
		r := h.post(c, "/login/totp", url.Values{"csrf": {csrfOf(t, page.body)}, "code": {goodCode}})
		wantStatus(t, r, http.StatusConflict)
		if n := len(h.sess.all()); n != 0 {
			t.Errorf("%d sessions created after a password reset", n)
		}
	})
	t.Run("enrolled in another tab", func(t *testing.T) {
		h := newHarness(t)
		c := h.browser()
		wantStatus(t, h.password(c, h.newRequest("wiki"), newbie, alicePass), http.StatusSeeOther)
		page := h.get(c, "/login/enrol")
		h.dir.setTOTP(newbie, []byte("sealed"))
		r := h.post(c, "/login/enrol", url.Values{"csrf": {csrfOf(t, page.body)}, "code": {goodCode}})
		wantStatus(t, r, http.StatusConflict)
		wantBody(t, r, "was reset after this sign-in began")
	})
}
