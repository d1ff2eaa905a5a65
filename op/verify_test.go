package op_test

import (
	"errors"
	"net/http"
	"net/url"
	"testing"

	"github.com/gongpai/gongpai/op"
	"github.com/gongpai/gongpai/storage"
)

func TestVerifyAccessToken(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()

	tok := e.tokens(allScopes)
	at := str(tok, "access_token")
	rec, err := e.p.VerifyAccessToken(ctx, at)
	if err != nil {
		t.Fatalf("VerifyAccessToken(employee's opaque token): %v", err)
	}
	if rec.Subject != aliceSub || rec.ClientID != "web" || op.IsClientToken(rec) {
		t.Errorf("record: %+v, want alice's token for web", rec)
	}

	resp, cc := e.post("/oauth/token", "svc", url.Values{"grant_type": {"client_credentials"}, "scope": {"employee"}})
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("client_credentials: %d %v", resp.StatusCode, cc)
	}
	rec, err = e.p.VerifyAccessToken(ctx, str(cc, "access_token"))
	if err != nil || !op.IsClientToken(rec) || rec.Subject != "svc" || rec.ClientID != "svc" {
		t.Errorf("client token: %+v, %v", rec, err)
	}

	tests := []struct {
		name, token string
	}{
		{"empty", ""},
		{"garbage", "garbage"},
		{"refresh token", str(tok, "refresh_token")},
		{"id token", str(tok, "id_token")},
	}
	for _, tt := range tests {
		if _, err := e.p.VerifyAccessToken(ctx, tt.token); !errors.Is(err, op.ErrInvalidToken) {
			t.Errorf("%s: got %v, want ErrInvalidToken", tt.name, err)
		}
	}

	// Deleting the record (what a freeze does) kills the token at once.
	if err := e.store.DeleteAccessTokensOfSubject(ctx, aliceSub); err != nil {
		t.Fatal(err)
	}
	if _, err := e.p.VerifyAccessToken(ctx, at); !errors.Is(err, op.ErrInvalidToken) {
		t.Errorf("deleted token: got %v, want ErrInvalidToken", err)
	}
	// So does the employee's status, whatever is stored.
	at = str(e.tokens(allScopes), "access_token")
	e.people.setStatus(aliceSub, storage.StatusFrozen)
	if _, err := e.p.VerifyAccessToken(ctx, at); !errors.Is(err, op.ErrInvalidToken) {
		t.Errorf("frozen employee's token: got %v, want ErrInvalidToken", err)
	}
}
