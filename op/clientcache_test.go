package op_test

import (
	"errors"
	"net/http"
	"net/url"
	"testing"

	"github.com/gongpai/gongpai/op"
)

// A deleted client's tokens die with it: on this replica at once after
// ForgetClient (what the admin API calls), whatever token records remain.
// Until then the cached client keeps them alive, for at most the cache
// lifetime (the admin API also deletes the records; that is tested there).
func TestDeletedClientTokensDie(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	tok := e.tokens(allScopes) // alice's tokens for "web"
	at := str(tok, "access_token")
	resp, cc := e.post("/oauth/token", "svc", url.Values{"grant_type": {"client_credentials"}})
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("client_credentials: %d %v", resp.StatusCode, cc)
	}
	svcTok := str(cc, "access_token")
	for _, raw := range []string{at, svcTok} {
		if _, err := e.p.VerifyAccessToken(ctx, raw); err != nil {
			t.Fatalf("before the deletion: %v", err)
		}
	}
	if r, _ := e.userinfo(at); r.StatusCode != http.StatusOK {
		t.Fatalf("userinfo before the deletion: %d", r.StatusCode)
	}

	for _, id := range []string{"web", "svc"} {
		if err := e.store.DeleteClient(ctx, id); err != nil {
			t.Fatal(err)
		}
		e.p.ForgetClient(id)
	}
	for _, raw := range []string{at, svcTok} {
		if _, err := e.p.VerifyAccessToken(ctx, raw); !errors.Is(err, op.ErrInvalidToken) {
			t.Errorf("VerifyAccessToken after the deletion: %v, want ErrInvalidToken", err)
		}
	}
	if r, _ := e.userinfo(at); r.StatusCode != http.StatusUnauthorized {
		t.Errorf("userinfo after the deletion: %d, want 401", r.StatusCode)
	}
	resp, body := e.post("/oauth/token", "web", refreshForm(str(tok, "refresh_token")))
	if resp.StatusCode == http.StatusOK {
		t.Errorf("refresh after the deletion: %d %v", resp.StatusCode, body)
	}
}
