package e2e

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"html"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
)

// relyingParty is a real OIDC client app: go-oidc for discovery and ID
// token verification, x/oauth2 for the code exchange. Its /start sends the
// browser to gongpai; its /callback hands what came back to the test.
type relyingParty struct {
	ID       string
	srv      *httptest.Server
	conf     *oauth2.Config
	verifier *oidc.IDTokenVerifier
	provider *oidc.Provider

	mu        sync.Mutex
	flows     map[string]*flow // by state
	callbacks chan callback
	// logouts receives the logout_token of each back-channel logout
	// request (its URI is registered for every test app).
	logouts chan string
}

// flow is one authorization request the RP started.
type flow struct {
	State, Nonce, Verifier string
}

type callback struct {
	Flow              *flow
	Code, Error, Desc string
}

var defaultScopes = []string{oidc.ScopeOpenID, "profile", "email", "employee", "roles", oidc.ScopeOfflineAccess}

func newRelyingParty(t testing.TB, s *server, id string) *relyingParty {
	t.Helper()
	rp := &relyingParty{ID: id, flows: map[string]*flow{}, callbacks: make(chan callback, 8), logouts: make(chan string, 16)}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /start", rp.start)
	mux.HandleFunc("GET /callback", rp.callback)
	mux.HandleFunc("GET /bye", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, `<!doctype html><title>signed out</title><p id="rp-bye">state=%s</p>`, html.EscapeString(r.URL.Query().Get("state")))
	})
	mux.HandleFunc("POST /backchannel", rp.backchannel)
	rp.srv = httptest.NewServer(mux)
	t.Cleanup(rp.srv.Close)

	// The apps see the hr role besides the default (employee, "<id>:*").
	secret := s.addClient(t, id, rp.srv.URL+"/callback", "--post-logout-redirect-uri", rp.srv.URL+"/bye",
		"--backchannel-logout-uri", rp.srv.URL+"/backchannel", "--visible-role", "employee,hr,"+id+":*")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	p, err := oidc.NewProvider(ctx, s.Issuer)
	if err != nil {
		t.Fatalf("go-oidc discovery against %s: %v", s.Issuer, err)
	}
	rp.provider = p
	rp.conf = &oauth2.Config{
		ClientID: id, ClientSecret: secret, Endpoint: p.Endpoint(),
		RedirectURL: rp.srv.URL + "/callback", Scopes: defaultScopes,
	}
	rp.verifier = p.Verifier(&oidc.Config{ClientID: id})
	return rp
}

// URL of the page that starts a sign-in; query parameters prompt and
// max_age are passed on to /authorize.
func (rp *relyingParty) StartURL(query string) string {
	u := rp.srv.URL + "/start"
	if query != "" {
		u += "?" + query
	}
	return u
}

func (rp *relyingParty) start(w http.ResponseWriter, r *http.Request) {
	f := &flow{State: rand.Text(), Nonce: rand.Text(), Verifier: oauth2.GenerateVerifier()}
	rp.mu.Lock()
	rp.flows[f.State] = f
	rp.mu.Unlock()
	opts := []oauth2.AuthCodeOption{oidc.Nonce(f.Nonce), oauth2.S256ChallengeOption(f.Verifier)}
	for _, p := range []string{"prompt", "max_age", "ui_locales", "login_hint"} {
		if v := r.URL.Query().Get(p); v != "" {
			opts = append(opts, oauth2.SetAuthURLParam(p, v))
		}
	}
	http.Redirect(w, r, rp.conf.AuthCodeURL(f.State, opts...), http.StatusFound)
}

func (rp *relyingParty) callback(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	rp.mu.Lock()
	f := rp.flows[q.Get("state")]
	delete(rp.flows, q.Get("state"))
	rp.mu.Unlock()
	cb := callback{Flow: f, Code: q.Get("code"), Error: q.Get("error"), Desc: q.Get("error_description")}
	select {
	case rp.callbacks <- cb:
	default:
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	fmt.Fprintf(w, `<!doctype html><title>%s callback</title><p id="rp-callback">callback received</p>`, rp.ID)
}

// awaitCallback waits for the browser to come back to the RP.
func (rp *relyingParty) awaitCallback(t testing.TB) callback {
	t.Helper()
	select {
	case cb := <-rp.callbacks:
		if cb.Flow == nil {
			t.Fatalf("%s: callback with an unknown state", rp.ID)
		}
		return cb
	case <-time.After(20 * time.Second):
		t.Fatalf("%s: no callback within 20s", rp.ID)
		return callback{}
	}
}

// endSessionURL is gongpai's RP-initiated logout URL for this app.
func (rp *relyingParty) endSessionURL(t testing.TB, idToken, postLogout, state string) string {
	t.Helper()
	var meta struct {
		EndSession string `json:"end_session_endpoint"`
	}
	if err := rp.provider.Claims(&meta); err != nil || meta.EndSession == "" {
		t.Fatalf("discovery has no end_session_endpoint (%v)", err)
	}
	q := url.Values{"id_token_hint": {idToken}, "post_logout_redirect_uri": {postLogout}, "state": {state}}
	return meta.EndSession + "?" + q.Encode()
}

// exchange redeems a code with the given PKCE verifier.
func (rp *relyingParty) exchange(code, verifier string) (*oauth2.Token, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return rp.conf.Exchange(ctx, code, oauth2.VerifierOption(verifier))
}

// idClaims verifies the ID token in tok (signature via the JWKS, issuer,
// audience, expiry, nonce) and returns its claims.
func (rp *relyingParty) idClaims(t testing.TB, tok *oauth2.Token, nonce string) map[string]any {
	t.Helper()
	raw, ok := tok.Extra("id_token").(string)
	if !ok || raw == "" {
		t.Fatalf("token response has no id_token")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	idt, err := rp.verifier.Verify(ctx, raw)
	if err != nil {
		t.Fatalf("ID token failed verification: %v", err)
	}
	if nonce != "" && idt.Nonce != nonce {
		t.Errorf("nonce = %q, want %q", idt.Nonce, nonce)
	}
	var claims map[string]any
	if err := idt.Claims(&claims); err != nil {
		t.Fatal(err)
	}
	return claims
}

// oauthError returns the RFC 6749 error code of a failed token request.
func oauthError(err error) string {
	var re *oauth2.RetrieveError
	if errors.As(err, &re) {
		return re.ErrorCode
	}
	if err != nil {
		return "non-oauth error: " + err.Error()
	}
	return ""
}

// backchannel is the app's OIDC back-channel logout endpoint: it hands
// the logout token to the test and answers 200 (§2.8).
func (rp *relyingParty) backchannel(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("Content-Type") != "application/x-www-form-urlencoded" || r.ParseForm() != nil || r.PostForm.Get("logout_token") == "" {
		http.Error(w, `{"error":"invalid_request"}`, http.StatusBadRequest)
		return
	}
	select {
	case rp.logouts <- r.PostForm.Get("logout_token"):
	default:
	}
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
}
