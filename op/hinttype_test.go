package op_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/url"
	"strings"
	"testing"

	zop "github.com/zitadel/oidc/v3/pkg/op"

	"github.com/gongpai/gongpai/op"
	"github.com/gongpai/gongpai/seal"
	"github.com/gongpai/gongpai/storage"
)

// hintAccepted sends /authorize with hint as id_token_hint and reports
// whether the provider took it as the employee's (the stored request
// carries its sub).
func (e *env) hintAccepted(client, redirect, hint string) bool {
	e.t.Helper()
	q := authParams(client, redirect, "openid", true)
	q.Set("id_token_hint", hint)
	resp := e.authorize(q)
	loc, _ := url.Parse(resp.Header.Get("Location"))
	if resp.StatusCode != http.StatusFound || loc.Path != "/login" {
		return false // refused (an error for the app): not taken
	}
	ar, err := e.p.AuthRequest(context.Background(), loc.Query().Get("authRequestID"))
	if err != nil {
		e.t.Fatal(err)
	}
	return ar.HintSubject != ""
}

// At /authorize as at end_session, id_token_hint must be an ID token: an
// RFC 9068 access token (typ at+jwt) or a logout token (typ logout+jwt),
// signed by the same keys for the same sub, is not taken as one.
func TestIDTokenHintRefusesOtherJWTTypes(t *testing.T) {
	e := newEnvWith(t, envOptions{logout: &op.LogoutConfig{}})
	e.addClient(op.ClientSpec{ID: "jwt", RedirectURIs: []string{jwtRedirect}, AccessTokenFormat: storage.AccessTokenJWT})
	code := e.code(authParams("jwt", jwtRedirect, "openid", true), aliceSub)
	_, tok := e.post("/oauth/token", "jwt", codeForm(code, jwtRedirect, verifier))
	if !e.hintAccepted("jwt", jwtRedirect, str(tok, "id_token")) {
		t.Fatal("an ID token is not taken as id_token_hint")
	}
	if e.hintAccepted("jwt", jwtRedirect, str(tok, "access_token")) {
		t.Error("an at+jwt access token was taken as id_token_hint")
	}
	c, err := e.store.Client(context.Background(), "jwt")
	if err != nil {
		t.Fatal(err)
	}
	lt, err := e.logout.LogoutToken(c, aliceSub, defaultSID)
	if err != nil {
		t.Fatal(err)
	}
	if e.hintAccepted("jwt", jwtRedirect, lt) {
		t.Error("a logout+jwt token was taken as id_token_hint")
	}
}

// A token naming a code's tombstone (codereplay.go), which lives among the
// access-token records, never verifies as an access token.
func TestVerifyAccessTokenRefusesCodeTombstone(t *testing.T) {
	var ck [32]byte
	copy(ck[:], strings.Repeat("k", 32))
	e := newEnvWith(t, envOptions{cryptoKey: &ck})
	code := e.code(authParams("web", webRedirect, "openid", true), aliceSub)
	if r, body := e.post("/oauth/token", "web", codeForm(code, webRedirect, verifier)); r.StatusCode != http.StatusOK {
		t.Fatalf("exchange: %d %v", r.StatusCode, body)
	}
	// The tombstone of that code is there; forge a token naming it, as
	// only a holder of the crypto key could.
	id := "cu_" + hex.EncodeToString(sum(code))
	if _, err := e.store.AccessToken(context.Background(), id); err != nil {
		t.Fatalf("tombstone: %v", err)
	}
	raw, err := zop.NewAES256GCMCrypto(ck, seal.KeyID(ck[:])).Encrypt(id + ":" + id)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.p.VerifyAccessToken(context.Background(), raw); err != op.ErrInvalidToken {
		t.Errorf("VerifyAccessToken of a tombstone: %v, want ErrInvalidToken", err)
	}
}

func sum(s string) []byte { h := sha256.Sum256([]byte(s)); return h[:] }
