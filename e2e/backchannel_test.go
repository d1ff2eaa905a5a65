package e2e

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

const backchannelEvent = "http://schemas.openid.net/event/backchannel-logout"

// awaitLogout waits for the app's next back-channel logout token and
// checks it as an RP must (Back-Channel Logout §2.6): signature via the
// JWKS, issuer, audience and expiry by go-oidc, then typ logout+jwt, the
// event, sub or sid, and no nonce. It returns the claims.
func (rp *relyingParty) awaitLogout(t testing.TB) map[string]any {
	t.Helper()
	var raw string
	select {
	case raw = <-rp.logouts:
	case <-time.After(20 * time.Second):
		t.Fatalf("%s: no back-channel logout within 20s", rp.ID)
	}
	return rp.checkLogoutToken(t, raw)
}

func (rp *relyingParty) checkLogoutToken(t testing.TB, raw string) map[string]any {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	tok, err := rp.verifier.Verify(ctx, raw)
	if err != nil {
		t.Fatalf("%s: logout token failed verification: %v", rp.ID, err)
	}
	var header struct {
		Typ string `json:"typ"`
	}
	h, _ := base64.RawURLEncoding.DecodeString(strings.SplitN(raw, ".", 2)[0])
	if json.Unmarshal(h, &header) != nil || header.Typ != "logout+jwt" {
		t.Errorf("%s: logout token header %s, want typ logout+jwt", rp.ID, h)
	}
	var claims map[string]any
	if err := tok.Claims(&claims); err != nil {
		t.Fatal(err)
	}
	if want := map[string]any{backchannelEvent: map[string]any{}}; !reflect.DeepEqual(claims["events"], want) {
		t.Errorf("%s: events %v, want %v", rp.ID, claims["events"], want)
	}
	if _, ok := claims["nonce"]; ok {
		t.Errorf("%s: logout token carries a nonce", rp.ID)
	}
	if claims["jti"] == nil || claims["iat"] == nil || claims["sid"] == nil || claims["sub"] == nil {
		t.Errorf("%s: logout token claims %v lack jti, iat, sid or sub", rp.ID, claims)
	}
	return claims
}

// TestBackchannelLogoutEndToEnd: every app of an ending session gets a
// verifiable logout token naming the sid of the ID tokens it holds — on
// RP-initiated logout (the initiating app included), on a freeze through
// the admin API (sent by the server) and on a freeze by the CLI (sent
// before the command returns).
func TestBackchannelLogoutEndToEnd(t *testing.T) {
	s := startServer(t)
	co := s.seedCompany(t)
	oa := newRelyingParty(t, s, "oa")
	erp := newRelyingParty(t, s, "erp")
	hris := s.serviceAccount(t, "hris", "hr")

	var meta struct {
		Supported        bool `json:"backchannel_logout_supported"`
		SessionSupported bool `json:"backchannel_logout_session_supported"`
	}
	if err := oa.provider.Claims(&meta); err != nil || !meta.Supported || !meta.SessionSupported {
		t.Errorf("discovery: %+v (%v), want back-channel logout with sessions supported", meta, err)
	}

	// signIn signs the employee in to OA in browser b (password + TOTP
	// code for at), then to ERP by SSO; it returns OA's tokens and the sid.
	signIn := func(b *browser, emp employee, at time.Time) (rawIDToken, sub, sid string) {
		t.Helper()
		b.run(t, chromedp.Navigate(oa.StartURL("")), submitPassword(emp.ID, emp.Password),
			submitCode(totpCode(t, emp.TOTPSeed, at)), visible(selRPDone))
		cb := oa.awaitCallback(t)
		tok, err := oa.exchange(cb.Code, cb.Flow.Verifier)
		if err != nil {
			t.Fatalf("OA code exchange: %v", err)
		}
		c := oa.idClaims(t, tok, cb.Flow.Nonce)
		b.run(t, chromedp.Navigate(erp.StartURL("")), visible(selRPDone))
		cb = erp.awaitCallback(t)
		tokERP, err := erp.exchange(cb.Code, cb.Flow.Verifier)
		if err != nil {
			t.Fatalf("ERP code exchange: %v", err)
		}
		if ce := erp.idClaims(t, tokERP, cb.Flow.Nonce); ce["sid"] != c["sid"] {
			t.Fatalf("SSO: ERP's sid %v differs from OA's %v", ce["sid"], c["sid"])
		}
		raw, _ := tok.Extra("id_token").(string)
		sub, _ = c["sub"].(string)
		sid, _ = c["sid"].(string)
		return raw, sub, sid
	}
	expect := func(rp *relyingParty, c map[string]any, sub, sid string) {
		t.Helper()
		if c["sub"] != sub || c["sid"] != sid {
			t.Errorf("%s: logout token for sub %v sid %v, want %s %s", rp.ID, c["sub"], c["sid"], sub, sid)
		}
	}

	// RP-initiated logout at OA: OA and ERP both hear of it.
	b := newBrowser(t)
	rawID, sub, sid := signIn(b, co.seeded, time.Now())
	b.run(t, chromedp.Navigate(oa.endSessionURL(t, rawID, oa.srv.URL+"/bye", "s")), visible("#rp-bye"))
	expect(oa, oa.awaitLogout(t), sub, sid)
	expect(erp, erp.awaitLogout(t), sub, sid)

	// A new session, ended by a freeze through the admin API.
	_, _, sid2 := signIn(newBrowser(t), co.seeded, time.Now().Add(30*time.Second))
	if sid2 == sid {
		t.Fatal("the second sign-in reused the sid")
	}
	if st := s.adminCall(t, hris, "POST", "/admin/api/v1/employees/"+co.seeded.ID+"/freeze", map[string]string{"reason": "HR case 7"}, nil); st != http.StatusOK {
		t.Fatalf("freeze: %d", st)
	}
	expect(oa, oa.awaitLogout(t), sub, sid2)
	expect(erp, erp.awaitLogout(t), sub, sid2)

	// Another employee, frozen from the command line: the tokens are
	// delivered before the command returns.
	other := employee{ID: "FIN012023002", Password: "correct horse battery 3", TOTPSeed: "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"}
	s.cli(t, other.Password+"\n", "employee", "add", "--entity", "ACME", "--dept", "FIN01",
		"--name", "Wang Fang", "--hired", "2023-06-01", "--totp-seed", other.TOTPSeed)
	_, otherSub, sid3 := signIn(newBrowser(t), other, time.Now())
	s.cli(t, "", "employee", "freeze", "--employee", other.ID, "--reason", "HR case 8")
	for _, rp := range []*relyingParty{oa, erp} {
		select {
		case raw := <-rp.logouts:
			expect(rp, rp.checkLogoutToken(t, raw), otherSub, sid3)
		default:
			t.Errorf("%s: no logout token when `employee freeze` returned", rp.ID)
		}
	}
}
