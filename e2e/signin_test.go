package e2e

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"
	"golang.org/x/oauth2"
)

// totpCode is what an authenticator app shows at time at.
func totpCode(t testing.TB, secret string, at time.Time) string {
	t.Helper()
	code, err := totp.GenerateCodeCustom(secret, at, totp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
	if err != nil {
		t.Fatalf("computing a TOTP code: %v", err)
	}
	return code
}

func stringsOf(v any) []string {
	var out []string
	if list, ok := v.([]any); ok {
		for _, x := range list {
			if s, ok := x.(string); ok {
				out = append(out, s)
			}
		}
	}
	return out
}

// refresh redeems a refresh token at the token endpoint.
func (rp *relyingParty) refresh(rt string) (*oauth2.Token, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return rp.conf.TokenSource(ctx, &oauth2.Token{RefreshToken: rt, Expiry: time.Now().Add(-time.Hour)}).Token()
}

// TestSignInEndToEnd walks the whole story in one browser: first
// sign-in with TOTP enrolment and the initial password replaced, SSO into
// a second app, the protocol's refusals, refresh rotation, and forced
// re-authentication.
func TestSignInEndToEnd(t *testing.T) {
	s := startServer(t)
	co := s.seedCompany(t)
	oa := newRelyingParty(t, s, "oa")
	erp := newRelyingParty(t, s, "erp")
	b := newBrowser(t)

	// First sign-in: password, then TOTP enrolment (QR, text key, otpauth link).
	b.run(t, chromedp.Navigate(oa.StartURL("")), submitPassword(co.enrolling.ID, co.enrolling.Password))
	secret := strings.ReplaceAll(b.text(t, selTOTPSecret), " ", "")
	otpauth := b.attr(t, `a[href^="otpauth://"]`, "href")
	qrSrc := b.attr(t, `img[src^="data:image/png"]`, "src")
	if !strings.Contains(otpauth, "secret="+secret) {
		t.Errorf("otpauth link %q does not carry the key shown as text %q", otpauth, secret)
	}
	if len(qrSrc) < 100 {
		t.Errorf("enrolment page has no QR code image (src %q)", qrSrc)
	}
	enrolCode := totpCode(t, secret, time.Now())
	b.run(t, submitCode(enrolCode), visible(selRPDone))
	// After enrolment, before the session: the initial password, which HR
	// chose, was replaced (submitCode chose the new one).
	if !slices.ContainsFunc(b.shownPages(s.URL), func(u string) bool { return strings.Contains(u, "/login/new-password") }) {
		t.Errorf("first sign-in with the initial password did not ask for a new one; pages shown: %v", b.shownPages(s.URL))
	}

	cb := oa.awaitCallback(t)
	if cb.Error != "" {
		t.Fatalf("first sign-in came back with error %s: %s", cb.Error, cb.Desc)
	}
	tok, err := oa.exchange(cb.Code, cb.Flow.Verifier)
	if err != nil {
		t.Fatalf("code exchange: %v", err)
	}
	claims := oa.idClaims(t, tok, cb.Flow.Nonce)
	t.Run("id token carries the employee", func(t *testing.T) {
		for claim, want := range map[string]string{"employee_id": co.enrolling.ID, "department": "HR01", "entity": "ACME", "preferred_username": co.enrolling.ID, "name": "Zhang Wei", "email": "zhang.wei@acme.example"} {
			if got, _ := claims[claim].(string); got != want {
				t.Errorf("claim %s = %q, want %q", claim, got, want)
			}
		}
		roles := stringsOf(claims["roles"])
		if !slices.Contains(roles, "hr") || !slices.Contains(roles, "employee") {
			t.Errorf("roles = %v, want hr and employee", roles)
		}
		amr := stringsOf(claims["amr"])
		for _, m := range []string{"pwd", "otp", "mfa"} {
			if !slices.Contains(amr, m) {
				t.Errorf("amr = %v, want %s in it", amr, m)
			}
		}
		if sid, _ := claims["sid"].(string); sid == "" {
			t.Errorf("no sid claim in %v", claims)
		}
		if _, ok := claims["auth_time"].(float64); !ok {
			t.Errorf("no auth_time claim in %v", claims)
		}
		if sub, _ := claims["sub"].(string); sub == "" || sub == co.enrolling.ID {
			t.Errorf("sub = %q: want an opaque UUID, never the employee ID", sub)
		}
	})
	t.Run("reused code is invalid_grant and revokes what it gave", func(t *testing.T) {
		// A sign-in of its own (silent SSO): RFC 6749 §4.1.2 has the
		// replay revoke the tokens the code gave, which tok must survive.
		b.run(t, chromedp.Navigate(oa.StartURL("")), visible(selRPDone))
		cb := oa.awaitCallback(t)
		first, err := oa.exchange(cb.Code, cb.Flow.Verifier)
		if err != nil {
			t.Fatalf("code exchange: %v", err)
		}
		_, err = oa.exchange(cb.Code, cb.Flow.Verifier)
		if got := oauthError(err); got != "invalid_grant" {
			t.Errorf("second redemption of a code: %q, want invalid_grant", got)
		}
		if _, err := oa.refresh(first.RefreshToken); oauthError(err) != "invalid_grant" {
			t.Errorf("refresh token from a replayed code: %q, want invalid_grant", oauthError(err))
		}
	})

	t.Run("the initial password no longer signs in", func(t *testing.T) {
		other := newBrowser(t)
		other.run(t, chromedp.Navigate(oa.StartURL("")), submitPasswordExactly(co.enrolling.ID, co.enrolling.Password))
		if msg := other.text(t, selAlert); !strings.Contains(msg, "incorrect") {
			t.Errorf("the initial password after the change: %q, want the incorrect-credentials message", msg)
		}
	})

	t.Run("SSO into a second app shows no page", func(t *testing.T) {
		b.resetDocs()
		b.run(t, chromedp.Navigate(erp.StartURL("")), visible(selRPDone))
		if shown := b.shownPages(s.URL); len(shown) > 0 {
			t.Errorf("silent SSO showed gongpai pages: %v", shown)
		}
		cb := erp.awaitCallback(t)
		tok, err := erp.exchange(cb.Code, cb.Flow.Verifier)
		if err != nil {
			t.Fatalf("SSO code exchange: %v", err)
		}
		c2 := erp.idClaims(t, tok, cb.Flow.Nonce)
		if c2["sub"] != claims["sub"] || c2["sid"] != claims["sid"] {
			t.Errorf("SSO token sub/sid = %v/%v, want %v/%v", c2["sub"], c2["sid"], claims["sub"], claims["sid"])
		}
		if c2["auth_time"] != claims["auth_time"] {
			t.Errorf("SSO auth_time = %v, want the original sign-in's %v", c2["auth_time"], claims["auth_time"])
		}
	})

	t.Run("wrong PKCE verifier is invalid_grant", func(t *testing.T) {
		b.run(t, chromedp.Navigate(erp.StartURL("")), visible(selRPDone))
		cb := erp.awaitCallback(t)
		_, err := erp.exchange(cb.Code, oauth2.GenerateVerifier())
		if got := oauthError(err); got != "invalid_grant" {
			t.Errorf("exchange with a wrong verifier: %q, want invalid_grant", got)
		}
	})

	t.Run("refresh rotates and a spent token is refused", func(t *testing.T) {
		if tok.RefreshToken == "" {
			t.Fatal("no refresh token for offline_access")
		}
		next, err := oa.refresh(tok.RefreshToken)
		if err != nil {
			t.Fatalf("refresh: %v", err)
		}
		if next.RefreshToken == "" || next.RefreshToken == tok.RefreshToken {
			t.Fatalf("refresh did not rotate the refresh token")
		}
		rc := oa.idClaims(t, next, "")
		if rc["sub"] != claims["sub"] || !slices.Contains(stringsOf(rc["amr"]), "otp") {
			t.Errorf("refreshed ID token sub=%v amr=%v, want the original sub and amr", rc["sub"], rc["amr"])
		}
		if _, err := oa.refresh(tok.RefreshToken); oauthError(err) != "invalid_grant" {
			t.Errorf("spent refresh token: %q, want invalid_grant", oauthError(err))
		}
		if _, err := oa.refresh(next.RefreshToken); oauthError(err) != "invalid_grant" {
			t.Errorf("after reuse the whole family must be revoked; the newest token gave %q, want invalid_grant", oauthError(err))
		}
	})

	t.Run("max_age exceeded asks again", func(t *testing.T) {
		time.Sleep(1100 * time.Millisecond)
		b.run(t, chromedp.Navigate(erp.StartURL("max_age=1")), visible(selEmployeeID))
	})

	t.Run("prompt=login forces sign-in and a replayed TOTP code is refused", func(t *testing.T) {
		b.run(t, chromedp.Navigate(oa.StartURL("prompt=login")), submitPassword(co.enrolling.ID, co.enrolling.Password), submitCode(enrolCode))
		if msg := b.text(t, selAlert); msg == "" {
			t.Errorf("replayed code: no error shown")
		}
		// The next step's code is inside the skew window and not yet used.
		b.run(t, submitCode(totpCode(t, secret, time.Now().Add(30*time.Second))), visible(selRPDone))
		cb := oa.awaitCallback(t)
		tok, err := oa.exchange(cb.Code, cb.Flow.Verifier)
		if err != nil {
			t.Fatalf("exchange after re-authentication: %v", err)
		}
		c := oa.idClaims(t, tok, cb.Flow.Nonce)
		if c["sid"] == claims["sid"] {
			t.Errorf("re-authentication kept session %v: want a fresh session ID", c["sid"])
		}
	})

	t.Run("RP-initiated logout ends the SSO session", func(t *testing.T) {
		rawID, _ := tok.Extra("id_token").(string)
		// An unregistered post_logout_redirect_uri is refused, never followed.
		b.run(t, chromedp.Navigate(oa.endSessionURL(t, rawID, "https://evil.example/", "s1")))
		if loc, _ := chromedp.Run(b.ctx, chromedp.Location()); strings.HasPrefix(loc, "https://evil.example") {
			t.Fatalf("followed an unregistered post_logout_redirect_uri to %s", loc)
		}
		b.run(t, chromedp.Navigate(oa.endSessionURL(t, rawID, oa.srv.URL+"/bye", "s2")), visible("#rp-bye"))
		if got := b.text(t, "#rp-bye"); got != "state=s2" {
			t.Errorf("post-logout redirect carried %q, want state=s2", got)
		}
		b.run(t, chromedp.Navigate(erp.StartURL("prompt=none")), visible(selRPDone))
		if cb := erp.awaitCallback(t); cb.Error != "login_required" {
			t.Errorf("after logout, prompt=none gave %q, want login_required", cb.Error)
		}
	})

	t.Run("prompt=none in a fresh browser is login_required", func(t *testing.T) {
		fresh := newBrowser(t)
		fresh.run(t, chromedp.Navigate(oa.StartURL("prompt=none")), visible(selRPDone))
		cb := oa.awaitCallback(t)
		if cb.Error != "login_required" {
			t.Errorf("prompt=none without a session: error %q, want login_required", cb.Error)
		}
		if shown := fresh.shownPages(s.URL); len(shown) > 0 {
			t.Errorf("prompt=none showed pages: %v", shown)
		}
	})

	t.Run("wrong password and wrong TOTP are refused alike", func(t *testing.T) {
		other := newBrowser(t)
		other.run(t, chromedp.Navigate(oa.StartURL("")), submitPassword(co.seeded.ID, "not the password"))
		wrongPassword := other.text(t, selAlert)
		other.run(t, submitPassword("NOSUCH2023999", "whatever it is"))
		unknownID := other.text(t, selAlert)
		if wrongPassword == "" || wrongPassword != unknownID {
			t.Errorf("wrong password said %q, unknown employee said %q: want one identical message", wrongPassword, unknownID)
		}
		// The imported seed counts as enrolled: straight to the code step.
		other.run(t, submitPassword(co.seeded.ID, co.seeded.Password), submitCode("000000"))
		if wrongCode := other.text(t, selAlert); wrongCode != wrongPassword {
			t.Errorf("wrong code said %q, want the same message as a wrong password (%q)", wrongCode, wrongPassword)
		}
		other.run(t, submitCode(totpCode(t, co.seeded.TOTPSeed, time.Now())), visible(selRPDone))
		cb := oa.awaitCallback(t)
		tok, err := oa.exchange(cb.Code, cb.Flow.Verifier)
		if err != nil {
			t.Fatalf("exchange: %v", err)
		}
		if c := oa.idClaims(t, tok, cb.Flow.Nonce); c["employee_id"] != co.seeded.ID || c["department"] != "FIN01" {
			t.Errorf("claims = %v, want employee %s in FIN01", c, co.seeded.ID)
		}
	})
}
