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

// A replay by another client (the code leaked) revokes just the same, and
// other grants of the same employee and client are untouched.
func TestCodeReplayByAnotherClient(t *testing.T) {
	e := newEnv(t)
	other := e.tokens(allScopes)
	code := e.code(authParams("web", webRedirect, allScopes, true), aliceSub)
	_, tok := e.post("/oauth/token", "web", codeForm(code, webRedirect, verifier))
	if r, body := e.post("/oauth/token", "other", codeForm(code, webRedirect, verifier)); body["error"] != "invalid_grant" {
		t.Fatalf("replay by another client: %d %v", r.StatusCode, body)
	}
	if _, body := e.post("/oauth/token", "web", refreshForm(str(tok, "refresh_token"))); body["error"] != "invalid_grant" {
		t.Errorf("refresh token of the replayed code: %v, want invalid_grant", body)
	}
	if r, body := e.post("/oauth/token", "web", refreshForm(str(other, "refresh_token"))); r.StatusCode != http.StatusOK {
		t.Errorf("another grant: %d %v", r.StatusCode, body)
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
