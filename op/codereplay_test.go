package op_test

import (
	"context"
	"net/http"
	"sync"
	"testing"

	"github.com/gongpai/gongpai/op"
	"github.com/gongpai/gongpai/storage"
	"github.com/gongpai/gongpai/storage/sqlite"
)

// RFC 6749 §4.1.2: a code used twice is refused, and the tokens already
// issued from it are revoked.
func TestCodeReplayRevokesIssuedTokens(t *testing.T) {
	for _, tt := range []struct {
		name, client, scope string
	}{
		{"opaque with refresh token", "web", allScopes},
		{"opaque without refresh token", "web", "openid profile"},
		{"JWT access token", "jwt", allScopes},
	} {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			e.addClient(op.ClientSpec{ID: "jwt", RedirectURIs: []string{webRedirect}, AccessTokenFormat: storage.AccessTokenJWT})
			code := e.code(authParams(tt.client, webRedirect, tt.scope, true), aliceSub)
			resp, tok := e.post("/oauth/token", tt.client, codeForm(code, webRedirect, verifier))
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("first redemption: %d %v", resp.StatusCode, tok)
			}
			at, rt := str(tok, "access_token"), str(tok, "refresh_token")
			// A refresh in between: the rotated tokens descend from the code too.
			if rt != "" {
				resp, ref := e.post("/oauth/token", tt.client, refreshForm(rt))
				if resp.StatusCode != http.StatusOK {
					t.Fatalf("refresh: %d %v", resp.StatusCode, ref)
				}
				rt = str(ref, "refresh_token")
			}
			if r, _ := e.userinfo(at); r.StatusCode != http.StatusOK {
				t.Fatalf("userinfo before the replay: %d", r.StatusCode)
			}

			resp, body := e.post("/oauth/token", tt.client, codeForm(code, webRedirect, verifier))
			if resp.StatusCode != http.StatusBadRequest || body["error"] != "invalid_grant" {
				t.Fatalf("replay: %d %v, want 400 invalid_grant", resp.StatusCode, body)
			}
			if r, _ := e.userinfo(at); r.StatusCode != http.StatusUnauthorized {
				t.Errorf("access token after the replay: userinfo %d, want 401", r.StatusCode)
			}
			if _, in := e.introspect(tt.client, at); in["active"] != false {
				t.Errorf("access token after the replay: introspection %v, want inactive", in)
			}
			if rt != "" {
				if r, body := e.post("/oauth/token", tt.client, refreshForm(rt)); body["error"] != "invalid_grant" {
					t.Errorf("refresh token after the replay: %d %v, want invalid_grant", r.StatusCode, body)
				}
			}
		})
	}
}

// A code presented by another client than its own — before or after its
// own client redeemed it — is refused, burns nothing and revokes nothing:
// that client cannot have got tokens from it, and must not be able to
// spend or revoke what the code's own client gets. A real replay by the
// code's own client still revokes.
func TestCodeReplayByAnotherClient(t *testing.T) {
	e := newEnv(t)
	code := e.code(authParams("web", webRedirect, allScopes, true), aliceSub)
	if r, body := e.post("/oauth/token", "other", codeForm(code, webRedirect, verifier)); body["error"] != "invalid_grant" {
		t.Fatalf("another client first: %d %v", r.StatusCode, body)
	}
	resp, tok := e.post("/oauth/token", "web", codeForm(code, webRedirect, verifier))
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("the code's own client after another client tried it: %d %v, want 200", resp.StatusCode, tok)
	}
	if r, body := e.post("/oauth/token", "other", codeForm(code, webRedirect, verifier)); body["error"] != "invalid_grant" {
		t.Fatalf("another client after the redemption: %d %v", r.StatusCode, body)
	}
	if r, _ := e.userinfo(str(tok, "access_token")); r.StatusCode != http.StatusOK {
		t.Errorf("access token after another client presented the code: userinfo %d, want 200", r.StatusCode)
	}
	resp, ref := e.post("/oauth/token", "web", refreshForm(str(tok, "refresh_token")))
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("refresh after another client presented the code: %d %v", resp.StatusCode, ref)
	}
	// The code's own client presenting it again is a replay.
	if r, body := e.post("/oauth/token", "web", codeForm(code, webRedirect, verifier)); body["error"] != "invalid_grant" {
		t.Fatalf("replay by its own client: %d %v", r.StatusCode, body)
	}
	if _, body := e.post("/oauth/token", "web", refreshForm(str(ref, "refresh_token"))); body["error"] != "invalid_grant" {
		t.Errorf("refresh token after a replay by the code's own client: %v, want invalid_grant", body)
	}
}

// A wrong redirect_uri is refused before the code is spent: the right
// one still redeems it.
func TestCodeWrongRedirectURIBurnsNothing(t *testing.T) {
	e := newEnv(t)
	code := e.code(authParams("web", webRedirect, allScopes, true), aliceSub)
	if r, body := e.post("/oauth/token", "web", codeForm(code, "http://127.0.0.1:9000/elsewhere", verifier)); body["error"] != "invalid_grant" {
		t.Fatalf("wrong redirect_uri: %d %v", r.StatusCode, body)
	}
	if r, body := e.post("/oauth/token", "web", codeForm(code, webRedirect, verifier)); r.StatusCode != http.StatusOK {
		t.Fatalf("right redirect_uri afterwards: %d %v, want 200", r.StatusCode, body)
	}
}

// replayingStore replays the code from inside the first redemption, after
// its access token is recorded and before its refresh token is: the
// window in which the replay cannot yet see what it should revoke.
type replayingStore struct {
	*sqlite.Store
	once   sync.Once
	replay func()
}

func (s *replayingStore) CreateRefreshToken(ctx context.Context, t *storage.RefreshToken) error {
	s.once.Do(s.replay)
	return s.Store.CreateRefreshToken(ctx, t)
}

func TestCodeReplayDuringRedemption(t *testing.T) {
	var rs *replayingStore
	e := newEnvWith(t, envOptions{wrap: func(s *sqlite.Store) op.Store { rs = &replayingStore{Store: s}; return rs }})
	code := e.code(authParams("web", webRedirect, allScopes, true), aliceSub)
	var replay map[string]any
	rs.replay = func() { _, replay = e.post("/oauth/token", "web", codeForm(code, webRedirect, verifier)) }
	resp, body := e.post("/oauth/token", "web", codeForm(code, webRedirect, verifier))
	if replay["error"] != "invalid_grant" {
		t.Errorf("replay: %v, want invalid_grant", replay)
	}
	if resp.StatusCode != http.StatusBadRequest || body["error"] != "invalid_grant" {
		t.Errorf("redemption that was replayed meanwhile: %d %v, want 400 invalid_grant", resp.StatusCode, body)
	}
	// The first redemption handed out nothing, and what it had recorded
	// was revoked with its grant; the code stays dead.
	if r, body := e.post("/oauth/token", "web", codeForm(code, webRedirect, verifier)); body["error"] != "invalid_grant" {
		t.Errorf("third redemption: %d %v", r.StatusCode, body)
	}
}
