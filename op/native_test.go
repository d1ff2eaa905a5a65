package op_test

import (
	"errors"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/gongpai/gongpai/op"
)

// RFC 8252 §7.1: a public client registers a private-use scheme in
// reverse-DNS form, with a single slash after the scheme; nobody else does.
func TestPrivateUseSchemeRegistration(t *testing.T) {
	for _, tt := range []struct {
		uri    string
		public bool
		ok     bool
	}{
		{"com.example.app:/oauth2redirect/example-provider", true, true},
		{"com.example.app:/cb?x=1", true, true},
		{"com.example.app:/cb", false, false},         // confidential: https only
		{"com.example.app://cb", true, false},         // an authority: not §7.1's form
		{"com.example.app:cb", true, false},           // no path
		{"com.example.app:/cb#frag", true, false},     // fragment
		{"myapp:/cb", true, false},                    // not reverse DNS
		{"com..example:/cb", true, false},             // empty label
		{"javascript:alert(1)", true, false},          // never
		{"http://127.0.0.1/cb", true, true},           // loopback still fine
		{"http://evil.example.com/cb", true, false},   // plain http elsewhere still refused
		{"https://spa.example.com/cb", false, true},   // unchanged
		{"https://spa.example.com/cb#x", true, false}, // unchanged
	} {
		for _, field := range []string{"redirect_uris", "post_logout_redirect_uris"} {
			spec := op.ClientSpec{ID: "native", Public: tt.public, RedirectURIs: []string{"https://ok.example.com/cb"}}
			if field == "redirect_uris" {
				spec.RedirectURIs = []string{tt.uri}
			} else {
				spec.PostLogoutRedirectURIs = []string{tt.uri}
			}
			_, _, err := op.NewClient(spec, time.Now())
			var fe *op.FieldError
			switch {
			case tt.ok && err != nil:
				t.Errorf("%s %q (public %v): %v", field, tt.uri, tt.public, err)
			case !tt.ok && (!errors.As(err, &fe) || fe.Field != field):
				t.Errorf("%s %q (public %v): %v, want a %s field error", field, tt.uri, tt.public, err, field)
			}
		}
	}
}

func TestNativeAppRedirects(t *testing.T) {
	e := newEnv(t)
	e.addClient(op.ClientSpec{ID: "native", Public: true, RedirectURIs: []string{
		"http://127.0.0.1/cb", "http://[::1]:8080/v6", "com.example.app:/oauth2redirect",
	}})

	accepted := []string{
		"http://127.0.0.1:51004/cb", // any port (§7.3)
		"http://127.0.0.1/cb",       // the registered one itself
		"http://[::1]:61023/v6",
		"http://[::1]/v6",
		"com.example.app:/oauth2redirect",
	}
	for _, uri := range accepted {
		e.loginRequestID(e.authorize(authParams("native", uri, "openid", true)))
	}
	refused := []string{
		"http://127.0.0.1:51004/other",      // path must match
		"http://127.0.0.1:51004/cb?x=1",     // query must match
		"http://localhost:51004/cb",         // localhost is not a loopback IP literal
		"http://127.0.0.1:8080/v6",          // host must match: 127.0.0.1 is not [::1]
		"http://127.0.0.2:51004/cb",         // another loopback address
		"https://127.0.0.1:51004/cb",        // scheme must match
		"http://127.0.0.1:0/cb",             // not a port
		"com.example.app:/oauth2redirect/x", // private-use: exact
		"com.example.evil:/oauth2redirect",  // another scheme
		"http://user@127.0.0.1:51004/cb",    // credentials
	}
	for _, uri := range refused {
		if resp := e.authorize(authParams("native", uri, "openid", true)); resp.StatusCode != http.StatusBadRequest {
			t.Errorf("native redirect_uri %s: status %d (Location %q), want 400", uri, resp.StatusCode, resp.Header.Get("Location"))
		}
	}
	// A confidential client's loopback redirect stays exact.
	if resp := e.authorize(authParams("web", "http://127.0.0.1:9001/cb", "openid", true)); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("confidential client, other loopback port: status %d, want 400", resp.StatusCode)
	}

	// Whole flows: the code goes to the URI the app asked for, and the
	// token endpoint wants that same URI.
	for _, uri := range []string{"http://127.0.0.1:51004/cb", "com.example.app:/oauth2redirect"} {
		id := e.loginRequestID(e.authorize(authParams("native", uri, "openid", true)))
		resp := e.get(e.complete(id, aliceSub), nil)
		loc, err := url.Parse(resp.Header.Get("Location"))
		if resp.StatusCode != http.StatusFound || err != nil {
			t.Fatalf("callback for %s: %d %v", uri, resp.StatusCode, err)
		}
		code := loc.Query().Get("code")
		if loc.RawQuery = ""; loc.String() != uri || code == "" {
			t.Fatalf("callback for %s redirected to %s", uri, resp.Header.Get("Location"))
		}
		if r, body := e.post("/oauth/token", "native", codeForm(code, "http://127.0.0.1:51005/cb", verifier)); r.StatusCode != http.StatusBadRequest {
			t.Errorf("%s: code redeemed with another port: %d %v", uri, r.StatusCode, body)
		}
		id = e.loginRequestID(e.authorize(authParams("native", uri, "openid", true)))
		loc, _ = url.Parse(e.get(e.complete(id, aliceSub), nil).Header.Get("Location"))
		if r, body := e.post("/oauth/token", "native", codeForm(loc.Query().Get("code"), uri, verifier)); r.StatusCode != http.StatusOK {
			t.Errorf("%s: code exchange: %d %v", uri, r.StatusCode, body)
		}
	}
}
