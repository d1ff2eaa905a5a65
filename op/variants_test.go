package op_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/gongpai/gongpai/op"
	"github.com/gongpai/gongpai/storage"
	"github.com/gongpai/gongpai/storage/sqlite"
)

// TestSigningAlgorithms runs a sign-in per algorithm keys supports: the ID
// token verifies with go-oidc against the JWKS, and op's own id_token_hint
// verifier accepts it at end_session (EdDSA needs explicit opt-in, G6).
func TestSigningAlgorithms(t *testing.T) {
	for _, alg := range []string{"RS256", "ES256", "EdDSA"} {
		t.Run(alg, func(t *testing.T) {
			e := newEnvWith(t, envOptions{alg: alg})
			tok := e.tokens(employeeScopes)
			claims := e.verifyIDToken(str(tok, "id_token"), "web")
			if str(claims, "employee_id") == "" {
				t.Errorf("no employee_id in %s ID token", alg)
			}
			resp := e.get("/end_session?"+url.Values{"id_token_hint": {str(tok, "id_token")}, "post_logout_redirect_uri": {webLogout}}.Encode(), nil)
			if resp.StatusCode != http.StatusFound {
				t.Fatalf("end_session with an %s hint: %d", alg, resp.StatusCode)
			}
			loc, _ := url.Parse(resp.Header.Get("Location"))
			lr, err := e.p.OpenLogoutRequest(loc.Query().Get("lr"))
			if err != nil || lr.Subject != aliceSub {
				t.Errorf("logout request %+v, %v; want subject from the hint", lr, err)
			}
		})
	}
}

func TestJWTAccessToken(t *testing.T) {
	e := newEnv(t)
	e.addClient(op.ClientSpec{ID: "jwt", RedirectURIs: []string{"https://jwt.example.com/cb"}, AccessTokenFormat: storage.AccessTokenJWT})
	code := e.code(authParams("jwt", "https://jwt.example.com/cb", employeeScopes, true), aliceSub)
	resp, tok := e.post("/oauth/token", "jwt", codeForm(code, "https://jwt.example.com/cb", verifier))
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("exchange: %d %v", resp.StatusCode, tok)
	}
	at := str(tok, "access_token")
	if strings.Count(at, ".") != 2 {
		t.Fatalf("access token %q is not a JWS", at)
	}
	if r, info := e.userinfo(at); r.StatusCode != http.StatusOK || str(info, "sub") != aliceSub {
		t.Errorf("userinfo with a JWT access token: %d %v", r.StatusCode, info)
	}
	if _, in := e.introspect("jwt", at); in["active"] != true {
		t.Errorf("introspection of a JWT access token: %v", in)
	}
	// Revoked: the signature still verifies, the record is gone.
	if r, body := e.post("/revoke", "jwt", url.Values{"token": {at}, "token_type_hint": {"access_token"}}); r.StatusCode != http.StatusOK {
		t.Fatalf("revoke: %d %v", r.StatusCode, body)
	}
	if r, _ := e.userinfo(at); r.StatusCode != http.StatusUnauthorized {
		t.Errorf("revoked JWT access token: userinfo %d, want 401", r.StatusCode)
	}
}

// faultyStore makes chosen methods fail as an unreachable backend would.
type faultyStore struct {
	*sqlite.Store
	down atomic.Bool
}

var errDown = fmt.Errorf("connection refused: %w", storage.ErrUnavailable)

func (f *faultyStore) TakeAuthCode(ctx context.Context, code string) (*storage.AuthRequest, error) {
	if f.down.Load() {
		return nil, errDown
	}
	return f.Store.TakeAuthCode(ctx, code)
}

func (f *faultyStore) RefreshToken(ctx context.Context, id string) (*storage.RefreshToken, error) {
	if f.down.Load() {
		return nil, errDown
	}
	return f.Store.RefreshToken(ctx, id)
}

func (f *faultyStore) AccessToken(ctx context.Context, id string) (*storage.AccessToken, error) {
	if f.down.Load() {
		return nil, errDown
	}
	return f.Store.AccessToken(ctx, id)
}

// TestBackendUnavailable: an outage is server_error with status 503 and
// Retry-After (and logged), never a protocol error that would make a client discard a valid code or token.
func TestBackendUnavailable(t *testing.T) {
	var fs *faultyStore
	e := newEnvWith(t, envOptions{wrap: func(s *sqlite.Store) op.Store { fs = &faultyStore{Store: s}; return fs }})
	tok := e.tokens(allScopes)
	code := e.code(authParams("web", webRedirect, "openid", true), aliceSub)
	fs.down.Store(true)

	tests := []struct {
		name string
		form url.Values
	}{
		{"code exchange", codeForm(code, webRedirect, verifier)},
		{"refresh", refreshForm(str(tok, "refresh_token"))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := e.post("/oauth/token", "web", tt.form)
			if resp.StatusCode != http.StatusServiceUnavailable || str(body, "error") != "server_error" || resp.Header.Get("Retry-After") == "" {
				t.Errorf("%d %v, want 503 server_error with Retry-After", resp.StatusCode, body)
			}
		})
	}
	if r, body := e.userinfo(str(tok, "access_token")); r.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("userinfo during an outage: %d %v, want 503", r.StatusCode, body)
	}

	// Back up: the code and the refresh token were not burnt by the outage.
	fs.down.Store(false)
	for _, tt := range tests {
		if resp, body := e.post("/oauth/token", "web", tt.form); resp.StatusCode != http.StatusOK {
			t.Errorf("%s after recovery: %d %v", tt.name, resp.StatusCode, body)
		}
	}
}
