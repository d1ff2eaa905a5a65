package op_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/gongpai/gongpai/op"
	"github.com/gongpai/gongpai/storage"
)

// logoutRP is a relying party's back-channel logout endpoint. status
// answers the nth request (1-based); hold, when set, keeps each request
// waiting until it is closed.
type logoutRP struct {
	srv    *httptest.Server
	status func(n int) int
	hold   chan struct{}

	mu       sync.Mutex
	requests []logoutRequest
	got      chan logoutRequest
}

type logoutRequest struct {
	Method, ContentType string
	Form                url.Values
}

func newLogoutRP(t *testing.T, status func(n int) int) *logoutRP {
	rp := &logoutRP{status: status, got: make(chan logoutRequest, 16)}
	mux := http.NewServeMux()
	mux.HandleFunc("/bcl", func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		form, _ := url.ParseQuery(string(body))
		req := logoutRequest{Method: r.Method, ContentType: r.Header.Get("Content-Type"), Form: form}
		rp.mu.Lock()
		rp.requests = append(rp.requests, req)
		n := len(rp.requests)
		rp.mu.Unlock()
		rp.got <- req
		if rp.hold != nil {
			<-rp.hold
		}
		w.Header().Set("Cache-Control", "no-store")
		status := rp.status(n)
		if status >= 300 && status < 400 {
			w.Header().Set("Location", "/elsewhere")
		}
		w.WriteHeader(status)
	})
	mux.HandleFunc("/elsewhere", func(w http.ResponseWriter, r *http.Request) {
		t.Errorf("a redirect from the back-channel logout URI was followed")
	})
	rp.srv = httptest.NewServer(mux)
	t.Cleanup(rp.srv.Close)
	return rp
}

func (rp *logoutRP) count() int {
	rp.mu.Lock()
	defer rp.mu.Unlock()
	return len(rp.requests)
}

func (rp *logoutRP) uri() string { return rp.srv.URL + "/bcl" }

func always(status int) func(int) int { return func(int) int { return status } }

const bclRedirect = "https://bcl.example.com/cb"

// drain waits for the sender to finish what it was given.
func drain(t *testing.T, s *op.LogoutSender) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := s.Drain(ctx); err != nil {
		t.Fatalf("drain: %v", err)
	}
}

// TestBackchannelLogoutToken: an app registered with a
// backchannel_logout_uri gets, when its session ends, one form POST with
// a logout token that verifies against the JWKS and carries §2.4's claims:
// typ logout+jwt, aud the app, sub and the sid of its ID token, the
// back-channel event, a short exp and no nonce. Apps of the session
// without a URI get nothing.
func TestBackchannelLogoutToken(t *testing.T) {
	e := newEnvWith(t, envOptions{logout: &op.LogoutConfig{Backoff: 10 * time.Millisecond}})
	rp := newLogoutRP(t, always(http.StatusOK))
	e.addClient(op.ClientSpec{ID: "bcl", RedirectURIs: []string{bclRedirect}, BackchannelLogoutURI: rp.uri()})

	disco := decode(t, e.get("/.well-known/openid-configuration", nil).Body)
	if disco["backchannel_logout_supported"] != true || disco["backchannel_logout_session_supported"] != true {
		t.Errorf("discovery: backchannel_logout_supported=%v backchannel_logout_session_supported=%v, want true, true",
			disco["backchannel_logout_supported"], disco["backchannel_logout_session_supported"])
	}

	code := e.code(authParams("bcl", bclRedirect, employeeScopes, true), aliceSub)
	_, tok := e.post("/oauth/token", "bcl", codeForm(code, bclRedirect, verifier))
	sid := str(e.verifyIDToken(str(tok, "id_token"), "bcl"), "sid")
	if sid == "" {
		t.Fatal("ID token has no sid")
	}

	before := time.Now().Add(-time.Second)
	e.logout.SessionsEnded(context.Background(), aliceSub, []storage.Session{
		{ID: sid, Subject: aliceSub, ClientIDs: []string{"bcl", "web", "bcl", "gone"}},
	})
	drain(t, e.logout)
	if n := rp.count(); n != 1 {
		t.Fatalf("%d requests to the logout endpoint, want 1", n)
	}
	req := <-rp.got
	if req.Method != http.MethodPost || req.ContentType != "application/x-www-form-urlencoded" || len(req.Form) != 1 {
		t.Errorf("request: %s %q %v, want a form POST with logout_token only", req.Method, req.ContentType, req.Form)
	}
	v := e.verifyJWT(req.Form.Get("logout_token"))
	if v.Typ != "logout+jwt" {
		t.Errorf("typ %q, want logout+jwt", v.Typ)
	}
	c := v.Claims
	if str(c, "iss") != e.issuer || str(c, "aud") != "bcl" || str(c, "sub") != aliceSub || str(c, "sid") != sid || str(c, "jti") == "" {
		t.Errorf("claims %v: want iss, aud bcl, sub, the ID token's sid and a jti", c)
	}
	if _, ok := c["nonce"]; ok {
		t.Error("logout token carries a nonce (§2.4 prohibits it)")
	}
	if want := map[string]any{op.BackchannelLogoutEvent: map[string]any{}}; !reflect.DeepEqual(c["events"], want) {
		t.Errorf("events %v, want %v", c["events"], want)
	}
	iat, _ := c["iat"].(float64)
	exp, _ := c["exp"].(float64)
	if time.Unix(int64(iat), 0).Before(before.Truncate(time.Second)) || exp-iat != op.DefaultLogoutTokenTTL.Seconds() {
		t.Errorf("iat %v exp %v: want now and now + 2 minutes", iat, exp)
	}

	// A logout token is not an access token, nor a hint.
	if r, _ := e.userinfo(req.Form.Get("logout_token")); r.StatusCode != http.StatusUnauthorized {
		t.Errorf("userinfo with a logout token: %d, want 401", r.StatusCode)
	}
	q := url.Values{"id_token_hint": {req.Form.Get("logout_token")}}
	if r := e.get("/end_session?"+q.Encode(), nil); r.StatusCode != http.StatusBadRequest {
		t.Errorf("end_session with a logout token as hint: %d, want 400", r.StatusCode)
	}
}

// TestBackchannelLogoutRetries: a failing endpoint (5xx) is retried with
// a fresh token until it accepts; a refusal (400) or a redirect is final.
func TestBackchannelLogoutRetries(t *testing.T) {
	tests := []struct {
		name     string
		status   func(n int) int
		requests int
	}{
		{"503 twice then 200", func(n int) int { return map[bool]int{true: 503, false: 200}[n <= 2] }, 3},
		{"204 is success", always(http.StatusNoContent), 1},
		{"always 500: gives up after 4", always(http.StatusInternalServerError), op.DefaultLogoutAttempts},
		{"400 is final", always(http.StatusBadRequest), 1},
		{"redirect is not followed", always(http.StatusFound), 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnvWith(t, envOptions{logout: &op.LogoutConfig{Backoff: time.Millisecond}})
			rp := newLogoutRP(t, tt.status)
			e.addClient(op.ClientSpec{ID: "bcl", RedirectURIs: []string{bclRedirect}, BackchannelLogoutURI: rp.uri()})
			e.logout.SessionsEnded(context.Background(), aliceSub, []storage.Session{{ID: "s1", Subject: aliceSub, ClientIDs: []string{"bcl"}}})
			drain(t, e.logout)
			if n := rp.count(); n != tt.requests {
				t.Fatalf("%d requests, want %d", n, tt.requests)
			}
			jtis := map[string]bool{}
			for range tt.requests {
				jtis[str(e.verifyJWT((<-rp.got).Form.Get("logout_token")).Claims, "jti")] = true
			}
			if len(jtis) != tt.requests {
				t.Errorf("%d distinct jti over %d attempts", len(jtis), tt.requests)
			}
		})
	}
}

// TestBackchannelLogoutDoesNotBlock: SessionsEnded returns while the
// app's endpoint is still stuck on the request it was sent.
func TestBackchannelLogoutDoesNotBlock(t *testing.T) {
	e := newEnvWith(t, envOptions{logout: &op.LogoutConfig{}})
	rp := newLogoutRP(t, always(http.StatusOK))
	rp.hold = make(chan struct{})
	e.addClient(op.ClientSpec{ID: "bcl", RedirectURIs: []string{bclRedirect}, BackchannelLogoutURI: rp.uri()})

	e.logout.SessionsEnded(context.Background(), aliceSub, []storage.Session{{ID: "s1", Subject: aliceSub, ClientIDs: []string{"bcl"}}})
	<-rp.got // the request is in flight, held by the app; SessionsEnded has long returned
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := e.logout.Drain(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("Drain while a delivery is in flight: %v, want it to wait (context.Canceled)", err)
	}
	close(rp.hold)
	drain(t, e.logout)
}

// TestLogoutSenderShutdown: Run returns when its context ends, even with
// a delivery waiting to retry; afterwards nothing is accepted or left
// pending.
func TestLogoutSenderShutdown(t *testing.T) {
	e := newEnv(t)
	rp := newLogoutRP(t, always(http.StatusServiceUnavailable))
	e.addClient(op.ClientSpec{ID: "bcl", RedirectURIs: []string{bclRedirect}, BackchannelLogoutURI: rp.uri()})
	s, err := op.NewLogoutSender(op.LogoutConfig{Issuer: e.issuer, Keys: e.keys, Clients: e.store, Backoff: time.Hour,
		Logger: slog.New(slog.NewTextHandler(t.Output(), nil))})
	if err != nil {
		t.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); s.Run(ctx) }()

	sessions := []storage.Session{{ID: "s1", Subject: aliceSub, ClientIDs: []string{"bcl"}}}
	s.SessionsEnded(context.Background(), aliceSub, sessions)
	<-rp.got // first attempt failed; the worker now waits an hour to retry
	stop()
	<-done
	s.SessionsEnded(context.Background(), aliceSub, sessions) // refused, logged
	drain(t, s)
	if n := rp.count(); n != 1 {
		t.Errorf("%d requests, want 1", n)
	}
}

func TestBackchannelLogoutURIValidation(t *testing.T) {
	tests := []struct {
		uri    string
		grants []string
		ok     bool
	}{
		{"https://erp.acme.example/oidc/backchannel?tenant=1", nil, true},
		{"http://127.0.0.1:9000/bcl", nil, true},
		{"", nil, true},
		{"http://erp.acme.example/bcl", nil, false},
		{"https://erp.acme.example/bcl#frag", nil, false},
		{"/bcl", nil, false},
		{"https://user:pw@erp.acme.example/bcl", nil, false},
		{"https://svc.acme.example/bcl", []string{"client_credentials"}, false},
	}
	for _, tt := range tests {
		spec := op.ClientSpec{ID: "c", BackchannelLogoutURI: tt.uri, GrantTypes: tt.grants}
		if tt.grants == nil {
			spec.RedirectURIs = []string{bclRedirect}
		}
		c, _, err := op.NewClient(spec, time.Now())
		var fe *op.FieldError
		switch {
		case tt.ok && err != nil:
			t.Errorf("%q: %v", tt.uri, err)
		case tt.ok && c.BackchannelLogoutURI != tt.uri:
			t.Errorf("%q stored as %q", tt.uri, c.BackchannelLogoutURI)
		case !tt.ok && (!errors.As(err, &fe) || fe.Field != "backchannel_logout_uri"):
			t.Errorf("%q: error %v, want a backchannel_logout_uri field error", tt.uri, err)
		}
	}
}
