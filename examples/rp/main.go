// Command rp is a minimal relying party for trying gongpai by hand: it
// signs an employee in with the authorization-code flow and PKCE, verifies
// the ID token, and shows the claims it got.
//
//	go run ./examples/rp -issuer http://localhost:8080 -client-id demo-oa -client-secret …
package main

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"flag"
	"fmt"
	"html/template"
	"log"
	"net/http"
	"net/url"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
)

func main() {
	issuer := flag.String("issuer", "http://localhost:8080", "gongpai issuer URL")
	clientID := flag.String("client-id", "demo-oa", "client ID")
	secret := flag.String("client-secret", "", "client secret (empty for a public client)")
	listen := flag.String("listen", "127.0.0.1:9000", "address to listen on")
	flag.Parse()

	ctx := context.Background()
	provider, err := oidc.NewProvider(ctx, *issuer)
	if err != nil {
		log.Fatalf("discovery at %s failed: %v", *issuer, err)
	}
	base := "http://" + *listen
	conf := &oauth2.Config{
		ClientID: *clientID, ClientSecret: *secret, Endpoint: provider.Endpoint(),
		RedirectURL: base + "/callback",
		Scopes:      []string{oidc.ScopeOpenID, "profile", "email", "employee", "roles"},
	}
	verifier := provider.Verifier(&oidc.Config{ClientID: *clientID})
	var endSession struct {
		URL string `json:"end_session_endpoint"`
	}
	_ = provider.Claims(&endSession)

	http.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, `<!doctype html><title>Demo app</title><p><a href="/login">Sign in with gongpai</a></p>`)
	})
	http.HandleFunc("GET /login", func(w http.ResponseWriter, r *http.Request) {
		state, nonce, pkce := rand.Text(), rand.Text(), oauth2.GenerateVerifier()
		for name, v := range map[string]string{"state": state, "nonce": nonce, "pkce": pkce} {
			http.SetCookie(w, &http.Cookie{Name: name, Value: v, Path: "/", HttpOnly: true, MaxAge: 600, SameSite: http.SameSiteLaxMode})
		}
		http.Redirect(w, r, conf.AuthCodeURL(state, oidc.Nonce(nonce), oauth2.S256ChallengeOption(pkce)), http.StatusFound)
	})
	http.HandleFunc("GET /callback", func(w http.ResponseWriter, r *http.Request) {
		if e := r.URL.Query().Get("error"); e != "" {
			http.Error(w, "sign-in failed: "+e+" "+r.URL.Query().Get("error_description"), http.StatusForbidden)
			return
		}
		state, err1 := r.Cookie("state")
		nonce, err2 := r.Cookie("nonce")
		pkce, err3 := r.Cookie("pkce")
		if err1 != nil || err2 != nil || err3 != nil || r.URL.Query().Get("state") != state.Value {
			http.Error(w, "state mismatch: start again at /login", http.StatusBadRequest)
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
		defer cancel()
		tok, err := conf.Exchange(ctx, r.URL.Query().Get("code"), oauth2.VerifierOption(pkce.Value))
		if err != nil {
			http.Error(w, "code exchange failed: "+err.Error(), http.StatusBadGateway)
			return
		}
		raw, _ := tok.Extra("id_token").(string)
		idt, err := verifier.Verify(ctx, raw)
		if err != nil || idt.Nonce != nonce.Value {
			http.Error(w, "ID token rejected", http.StatusBadGateway)
			return
		}
		var claims map[string]any
		_ = idt.Claims(&claims)
		pretty, _ := json.MarshalIndent(claims, "", "  ")
		logout := ""
		if endSession.URL != "" {
			logout = endSession.URL + "?" + url.Values{"id_token_hint": {raw}, "post_logout_redirect_uri": {base + "/"}}.Encode()
		}
		page.Execute(w, map[string]any{"Claims": string(pretty), "Logout": logout})
	})
	log.Printf("demo relying party on %s (issuer %s)", base, *issuer)
	log.Fatal(http.ListenAndServe(*listen, nil))
}

var page = template.Must(template.New("p").Parse(`<!doctype html><title>Signed in</title>
<h1>Signed in</h1><p>The ID token's claims:</p><pre>{{.Claims}}</pre>
{{if .Logout}}<p><a href="{{.Logout}}">Sign out</a></p>{{end}}`))
