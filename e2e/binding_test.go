package e2e

import (
	"net/url"
	"strings"
	"testing"
	"time"
)

// startAt follows the app's start URL to gongpai's sign-in page and
// returns the auth request ID on it: a sign-in begun and left open.
func (fb *formBrowser) startAt(t testing.TB, startURL string) (page, id string) {
	t.Helper()
	page, cb, err := fb.get(startURL)
	if err != nil || cb != nil {
		t.Fatalf("start %s: %v (callback %v)", startURL, err, cb)
	}
	m := authReqFeld.FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no sign-in form in %.300q", page)
	}
	return page, m[1]
}

// TestSignInLinkBoundToBrowser is the security review's CRITICAL 1, end to
// end with two cookie jars: the attacker starts a real sign-in, sends the
// /login link to a signed-in colleague, and collects at the callback.
func TestSignInLinkBoundToBrowser(t *testing.T) {
	s := startServer(t)
	co := s.seedCompany(t)
	rp := newRelyingParty(t, s, "oa")

	// The colleague is signed in (a normal flow still works).
	victim := newFormBrowser(t, s.URL, rp)
	cb, err := victim.signIn(rp.StartURL(""), co.seeded.ID, co.seeded.Password, totpCode(t, co.seeded.TOTPSeed, time.Now()))
	if err != nil || cb.Get("code") == "" {
		t.Fatalf("victim's own sign-in: %v (callback %v)", err, cb)
	}
	if _, err := rp.exchange(cb.Get("code"), rp.takeFlow(cb.Get("state")).Verifier); err != nil {
		t.Fatalf("victim's code exchange: %v", err)
	}

	attacker := newFormBrowser(t, s.URL, rp)
	_, id := attacker.startAt(t, rp.StartURL(""))
	link := s.URL + "/login?authRequestID=" + url.QueryEscape(id)

	// 1. The colleague opens the link: no silent completion, the expired page.
	body, cb, err := victim.get(link)
	if cb != nil || err == nil || !strings.Contains(body, "expired") {
		t.Fatalf("victim opening the attacker's link: err %v, callback %v, body %.300q; want the expired page", err, cb, body)
	}
	// 2. The colleague types the password on the attacker-started page.
	page, _ := victim.startAt(t, rp.StartURL("prompt=login")) // any page of theirs, for a CSRF token
	csrf := csrfField.FindStringSubmatch(page)
	body, cb, err = victim.passwordStep(csrf[1], id, co.seeded.ID, co.seeded.Password)
	if cb != nil || err == nil || !strings.Contains(body, "expired") {
		t.Fatalf("victim's password on the attacker's request: err %v, callback %v, body %.300q; want the expired page", err, cb, body)
	}
	// 3. The attacker collects at the callback: no code.
	_, cb, err = attacker.get(s.URL + "/authorize/callback?id=" + url.QueryEscape(id))
	if err != nil || cb == nil || cb.Get("code") != "" {
		t.Fatalf("attacker's callback: err %v, callback %v; want an error redirect without a code", err, cb)
	}
	// And the victim, handed the callback URL, does not get one either.
	body, cb, err = victim.get(s.URL + "/authorize/callback?id=" + url.QueryEscape(id))
	if cb != nil || err == nil || !strings.Contains(body, "expired") || strings.Contains(body, "storage") {
		t.Fatalf("victim at the attacker's callback: err %v, callback %v, body %.300q; want the expired page", err, cb, body)
	}
}

// TestParallelSignInsOneBrowser: two sign-ins started side by side in one
// browser (two apps, or two tabs) both finish.
func TestParallelSignInsOneBrowser(t *testing.T) {
	s := startServer(t, "GONGPAI_TOTP_REQUIRED=false")
	co := s.seedCompany(t)
	oa, erp := newRelyingParty(t, s, "oa"), newRelyingParty(t, s, "erp")
	fb := newFormBrowser(t, s.URL, oa)
	fbERP := newFormBrowser(t, s.URL, erp) // stops at erp's callback …
	fbERP.c.Jar = fb.c.Jar                 // … in the same browser
	_, first := fb.startAt(t, oa.StartURL(""))
	page, second := fbERP.startAt(t, erp.StartURL(""))

	// Finish the second with a password (no TOTP for this employee; the
	// initial password is replaced on the way) …
	csrf := csrfField.FindStringSubmatch(page)
	_, cb, err := fbERP.passwordStep(csrf[1], second, co.enrolling.ID, co.enrolling.Password)
	if err != nil || cb.Get("code") == "" {
		t.Fatalf("second sign-in: %v (callback %v)", err, cb)
	}
	if _, err := erp.exchange(cb.Get("code"), erp.takeFlow(cb.Get("state")).Verifier); err != nil {
		t.Fatalf("second sign-in's code exchange: %v", err)
	}
	// … then the first, silently from the new session.
	_, cb, err = fb.get(s.URL + "/login?authRequestID=" + url.QueryEscape(first))
	if err != nil || cb.Get("code") == "" {
		t.Fatalf("first sign-in: %v (callback %v)", err, cb)
	}
	if _, err := oa.exchange(cb.Get("code"), oa.takeFlow(cb.Get("state")).Verifier); err != nil {
		t.Fatalf("first sign-in's code exchange: %v", err)
	}
}
