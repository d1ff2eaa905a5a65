package e2e

import (
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"
)

// formBrowser is a cookie-keeping HTTP client that fills in the login
// forms the way a browser does, without rendering: it measures the server,
// not chromium. It stops at the relying party's callback and hands back
// the code.
type formBrowser struct {
	c      *http.Client
	issuer string
}

func newFormBrowser(t testing.TB, issuer string, rp *relyingParty) *formBrowser {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	rpURL, _ := url.Parse(rp.srv.URL)
	return &formBrowser{issuer: issuer, c: &http.Client{
		Jar:     jar,
		Timeout: 30 * time.Second,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if req.URL.Host == rpURL.Host && req.URL.Path == "/callback" {
				return http.ErrUseLastResponse
			}
			return nil
		},
	}}
}

var (
	csrfField   = regexp.MustCompile(`name="csrf" value="([^"]+)"`)
	authReqFeld = regexp.MustCompile(`name="authRequestID" value="([^"]+)"`)
)

// page fetches or posts and returns the final response body, or the
// relying party's callback query when the flow came back to it.
func (fb *formBrowser) do(req *http.Request) (body string, callback url.Values, err error) {
	resp, err := fb.c.Do(req)
	if err != nil {
		return "", nil, err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode == http.StatusFound || resp.StatusCode == http.StatusSeeOther {
		loc, err := resp.Location()
		if err != nil {
			return "", nil, err
		}
		return "", loc.Query(), nil
	}
	if resp.StatusCode != http.StatusOK {
		return string(b), nil, fmt.Errorf("%s %s: status %d", req.Method, req.URL, resp.StatusCode)
	}
	return string(b), nil, nil
}

func (fb *formBrowser) get(u string) (string, url.Values, error) {
	req, _ := http.NewRequest(http.MethodGet, u, nil)
	return fb.do(req)
}

func (fb *formBrowser) post(path string, form url.Values) (string, url.Values, error) {
	req, _ := http.NewRequest(http.MethodPost, fb.issuer+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return fb.do(req)
}

// signIn runs a whole interactive sign-in: password page, then TOTP page,
// then — when the password was set by HR (onboarding, reset) — the
// password-change page (see changePasswordIfAsked). password is the one
// the test onboarded with; the one in force is typed.
func (fb *formBrowser) signIn(startURL, employeeID, password, code string) (url.Values, error) {
	page, cb, err := fb.get(startURL)
	if err != nil || cb != nil {
		return cb, err
	}
	csrf, ar := csrfField.FindStringSubmatch(page), authReqFeld.FindStringSubmatch(page)
	if csrf == nil || ar == nil {
		return nil, fmt.Errorf("no password form in %.200q", page)
	}
	page, cb, err = fb.passwordStep(csrf[1], ar[1], employeeID, password)
	if err != nil || cb != nil {
		return cb, err
	}
	if csrf = csrfField.FindStringSubmatch(page); csrf == nil {
		return nil, fmt.Errorf("no TOTP form in %.200q", page)
	}
	page, cb, err = fb.post("/login/totp", url.Values{"csrf": {csrf[1]}, "code": {code}})
	if err == nil && cb == nil {
		page, cb, err = fb.changePasswordIfAsked(page, employeeID, password)
	}
	if err == nil && cb == nil {
		err = fmt.Errorf("TOTP step did not return to the app: %.200q", page)
	}
	return cb, err
}

// takeFlow returns the flow the RP started with this state, for callbacks
// that never reached the RP (the form browser stops at its door).
func (rp *relyingParty) takeFlow(state string) *flow {
	rp.mu.Lock()
	defer rp.mu.Unlock()
	f := rp.flows[state]
	delete(rp.flows, state)
	if f == nil {
		return &flow{}
	}
	return f
}

// BenchmarkSignIn measures one full interactive sign-in (password with the
// production argon2id cost, then TOTP) plus the code exchange, per op.
// Every iteration is a different employee: a TOTP code works once per step.
// Each has already replaced the initial password at a first, untimed
// sign-in (with the previous step's code): this is the everyday sign-in.
func BenchmarkSignIn(b *testing.B) {
	s := startServer(b, "GONGPAI_PASSWORD_MEMORY_KIB=19456", "GONGPAI_PASSWORD_TIME=2", "GONGPAI_RATE_LIMIT_PER_IP=1000000", "GONGPAI_RATE_LIMIT_AUTHORIZE_PER_MINUTE=1000000")
	s.cli(b, "", "entity", "add", "--code", "ACME", "--name", "ACME", "--id-rule", "{dept}{yyyy}{seq:5}")
	s.cli(b, "", "dept", "add", "--entity", "ACME", "--code", "IT01", "--name", "IT")
	rp := newRelyingParty(b, s, "bench")
	ids := make([]string, b.N)
	for i := range ids {
		out := s.cli(b, "bench password 123\n", "employee", "add", "--entity", "ACME", "--dept", "IT01", "--name", fmt.Sprintf("E%d", i), "--hired", "2024-01-01", "--totp-seed", importedSeed)
		ids[i] = fmt.Sprintf("IT012024%05d", i+1)
		if !strings.Contains(out, ids[i]) {
			b.Fatalf("onboarding printed %q, want %s", out, ids[i])
		}
		cb, err := newFormBrowser(b, s.URL, rp).signIn(rp.StartURL(""), ids[i], "bench password 123", totpCode(b, importedSeed, time.Now().Add(-30*time.Second)))
		if err != nil || cb.Get("code") == "" {
			b.Fatalf("first sign-in %d: %v (callback %v)", i, err, cb)
		}
		rp.takeFlow(cb.Get("state"))
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		fb := newFormBrowser(b, s.URL, rp)
		cb, err := fb.signIn(rp.StartURL(""), ids[i], "bench password 123", totpCode(b, importedSeed, time.Now()))
		if err != nil || cb.Get("code") == "" {
			b.Fatalf("sign-in %d: %v (callback %v)", i, err, cb)
		}
		f := rp.takeFlow(cb.Get("state"))
		if _, err := rp.exchange(cb.Get("code"), f.Verifier); err != nil {
			b.Fatalf("exchange: %v", err)
		}
	}
}

// BenchmarkSilentSSO measures the round trip of a signed-in browser into an
// app: /authorize → (session found, no page) → callback → code → token.
func BenchmarkSilentSSO(b *testing.B) {
	s := startServer(b, "GONGPAI_RATE_LIMIT_PER_IP=1000000", "GONGPAI_RATE_LIMIT_AUTHORIZE_PER_MINUTE=1000000")
	co := s.seedCompany(b)
	rp := newRelyingParty(b, s, "bench")
	fb := newFormBrowser(b, s.URL, rp)
	if _, err := fb.signIn(rp.StartURL(""), co.seeded.ID, co.seeded.Password, totpCode(b, co.seeded.TOTPSeed, time.Now())); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		_, cb, err := fb.get(rp.StartURL(""))
		if err != nil || cb.Get("code") == "" {
			b.Fatalf("silent SSO: %v (callback %v)", err, cb)
		}
		f := rp.takeFlow(cb.Get("state"))
		if _, err := rp.exchange(cb.Get("code"), f.Verifier); err != nil {
			b.Fatalf("exchange: %v", err)
		}
	}
}
