package op_test

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	gooidc "github.com/coreos/go-oidc/v3/oidc"

	"github.com/gongpai/gongpai/keys"
	"github.com/gongpai/gongpai/op"
	"github.com/gongpai/gongpai/seal"
	"github.com/gongpai/gongpai/storage"
	"github.com/gongpai/gongpai/storage/sqlite"
)

const (
	aliceSub  = "5f0c6d1e-7b1a-4a53-9d2c-0e6a8f1f2b11"
	frozenSub = "9a1e2b3c-4d5e-4f60-8172-93a4b5c6d7e8"

	webRedirect    = "http://127.0.0.1:9000/cb"
	webLogout      = "http://127.0.0.1:9000/bye"
	spaRedirect    = "https://spa.example.com/cb"
	verifier       = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk-0123456789"
	defaultNonce   = "n-0S6_WzA2Mj"
	defaultState   = "af0ifjsldkj"
	defaultSID     = "sess-1"
	allScopes      = "openid profile email employee roles offline_access"
	employeeScopes = "openid employee roles"
)

func challenge(v string) string {
	s := sha256.Sum256([]byte(v))
	return base64.RawURLEncoding.EncodeToString(s[:])
}

// people is a stub Identities.
type people struct {
	mu sync.Mutex
	m  map[string]*storage.Identity
}

func (p *people) Identity(_ context.Context, sub string) (*storage.Identity, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	id, ok := p.m[sub]
	if !ok {
		return nil, storage.ErrNotFound
	}
	cp := *id
	return &cp, nil
}

func (p *people) setStatus(sub string, s storage.EmployeeStatus) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.m[sub].Status = s
}

type env struct {
	t       *testing.T
	p       *op.Provider
	store   *sqlite.Store
	people  *people
	srv     *httptest.Server
	issuer  string
	http    *http.Client
	secrets map[string]string
	keys    *keys.Manager
	logout  *op.LogoutSender // with envOptions.logout: running until the test ends
}

type envOptions struct {
	alg string // signing algorithm, default RS256
	// Key manager: a whole policy (overrides alg) and a clock of its own.
	policy *keys.Policy
	keyNow func() time.Time
	// cryptoKey and previousCryptoKeys replace the random crypto key.
	cryptoKey          *[32]byte
	previousCryptoKeys [][32]byte
	wrap               func(*sqlite.Store) op.Store // wraps the store, e.g. to inject faults
	// logout wires a back-channel logout sender (Issuer, Keys and Clients
	// are filled in) into the provider's config.
	logout *op.LogoutConfig
	// authorizeRateLimit is Config.AuthorizeRateLimit (0: the default).
	authorizeRateLimit int
	// logTo receives the provider's log (warn and above) as well.
	logTo io.Writer
}

func newEnv(t *testing.T) *env { return newEnvWith(t, envOptions{}) }

func newEnvWith(t *testing.T, o envOptions) *env {
	t.Helper()
	ctx := context.Background()
	store, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "t.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	mk := make([]byte, seal.KeySize)
	rand.Read(mk)
	sealer, err := seal.New(mk)
	if err != nil {
		t.Fatal(err)
	}
	var logOut io.Writer = t.Output()
	if o.logTo != nil {
		logOut = io.MultiWriter(logOut, o.logTo)
	}
	log := slog.New(slog.NewTextHandler(logOut, &slog.HandlerOptions{Level: slog.LevelWarn}))
	policy := keys.Policy{Algorithms: algs(o.alg)}
	if o.policy != nil {
		policy = *o.policy
	}
	km := keys.NewManager(store, sealer, keys.Options{Policy: policy, Now: o.keyNow, Logger: log})
	if err := km.Load(ctx); err != nil {
		t.Fatal(err)
	}
	ppl := &people{m: map[string]*storage.Identity{
		aliceSub: {
			Subject: aliceSub, EmployeeID: "HR012023001", Name: "Alice Wang", Email: "alice@acme.example", EmailVerified: true,
			Title: "HR partner", Status: storage.StatusActive, Entity: "ACME", Department: "HR01",
			DepartmentName: "Human Resources", DepartmentPath: []string{"HQ", "HR01"}, Roles: []string{"employee", "hr"},
		},
		frozenSub: {Subject: frozenSub, EmployeeID: "HR012023002", Status: storage.StatusFrozen},
	}}

	var handler http.Handler
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { handler.ServeHTTP(w, r) }))
	t.Cleanup(srv.Close)
	var ck [32]byte
	rand.Read(ck[:])
	if o.cryptoKey != nil {
		ck = *o.cryptoKey
	}
	var opStore op.Store = store
	if o.wrap != nil {
		opStore = o.wrap(store)
	}
	var logout *op.LogoutSender
	if o.logout != nil {
		lc := *o.logout
		lc.Issuer, lc.Keys, lc.Clients = srv.URL, km, store
		if lc.Logger == nil {
			lc.Logger = log
		}
		if logout, err = op.NewLogoutSender(lc); err != nil {
			t.Fatal(err)
		}
		runCtx, stop := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() { defer close(done); logout.Run(runCtx) }()
		t.Cleanup(func() { stop(); <-done })
	}
	p, err := op.New(op.Config{
		Issuer: srv.URL, Insecure: true, CryptoKey: ck, PreviousCryptoKeys: o.previousCryptoKeys,
		LoginPath: "/login", LogoutPath: "/logout",
		Sealer: sealer, Logger: log, Logout: logout, AuthorizeRateLimit: o.authorizeRateLimit,
	}, opStore, km, ppl)
	if err != nil {
		t.Fatal(err)
	}
	handler = p.Handler()

	e := &env{t: t, p: p, store: store, people: ppl, srv: srv, issuer: srv.URL, secrets: map[string]string{}, keys: km, logout: logout,
		http: newBrowserClient(t)}
	e.addClient(op.ClientSpec{ID: "web", RedirectURIs: []string{webRedirect}, PostLogoutRedirectURIs: []string{webLogout},
		GrantTypes: []string{"authorization_code", "refresh_token"}})
	e.addClient(op.ClientSpec{ID: "other", RedirectURIs: []string{"https://other.example.com/cb"}})
	e.addClient(op.ClientSpec{ID: "spa", Public: true, RedirectURIs: []string{spaRedirect}, GrantTypes: []string{"authorization_code", "refresh_token"}})
	e.addClient(op.ClientSpec{ID: "svc", GrantTypes: []string{"client_credentials"}, Scopes: []string{"openid", "employee"}})
	e.addClient(op.ClientSpec{ID: "limited", RedirectURIs: []string{"https://limited.example.com/cb"}, Scopes: []string{"openid", "profile"}})
	return e
}

func (e *env) addClient(spec op.ClientSpec) {
	e.t.Helper()
	c, secret, err := op.NewClient(spec, time.Now())
	if err != nil {
		e.t.Fatal(err)
	}
	if err := e.store.CreateClient(context.Background(), c); err != nil {
		e.t.Fatal(err)
	}
	e.secrets[c.ID] = secret
}

func (e *env) get(path string, hdr http.Header) *http.Response {
	e.t.Helper()
	req, err := http.NewRequest(http.MethodGet, e.resolve(path), nil)
	if err != nil {
		e.t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	resp, err := e.http.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { resp.Body.Close() })
	return resp
}

func (e *env) resolve(path string) string {
	if strings.HasPrefix(path, "http") {
		return path
	}
	return e.issuer + path
}

// post sends a form; clientID != "" authenticates with HTTP Basic and the
// client's secret (or, for a public client, sends client_id in the form).
func (e *env) post(path, clientID string, form url.Values) (*http.Response, map[string]any) {
	e.t.Helper()
	if form == nil {
		form = url.Values{}
	}
	secret := e.secrets[clientID]
	if clientID != "" && secret == "" {
		form.Set("client_id", clientID)
	}
	req, err := http.NewRequest(http.MethodPost, e.resolve(path), strings.NewReader(form.Encode()))
	if err != nil {
		e.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if secret != "" {
		req.SetBasicAuth(clientID, secret)
	}
	resp, err := e.http.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	return resp, decode(e.t, resp.Body)
}

func decode(t *testing.T, r io.Reader) map[string]any {
	t.Helper()
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]any{}
	if len(b) > 0 && json.Unmarshal(b, &m) != nil {
		m["_raw"] = string(b)
	}
	return m
}

// authorize sends /authorize and returns the response (302 expected).
func (e *env) authorize(q url.Values) *http.Response {
	e.t.Helper()
	return e.get("/authorize?"+q.Encode(), nil)
}

func authParams(clientID, redirect, scope string, pkce bool) url.Values {
	q := url.Values{
		"client_id": {clientID}, "redirect_uri": {redirect}, "response_type": {"code"},
		"scope": {scope}, "state": {defaultState}, "nonce": {defaultNonce},
	}
	if pkce {
		q.Set("code_challenge", challenge(verifier))
		q.Set("code_challenge_method", "S256")
	}
	return q
}

// loginRequestID expects the redirect to login-ui and returns the ID.
func (e *env) loginRequestID(resp *http.Response) string {
	e.t.Helper()
	if resp.StatusCode != http.StatusFound {
		body, _ := io.ReadAll(resp.Body)
		e.t.Fatalf("authorize: status %d (%s), want 302", resp.StatusCode, body)
	}
	loc, _ := url.Parse(resp.Header.Get("Location"))
	if loc.Path != "/login" || loc.Query().Get("authRequestID") == "" {
		e.t.Fatalf("authorize redirected to %s, want /login?authRequestID=…", loc)
	}
	return loc.Query().Get("authRequestID")
}

func (e *env) complete(id, sub string) string {
	e.t.Helper()
	cb, err := e.p.Complete(context.Background(), id, storage.AuthResult{
		Subject: sub, AuthTime: time.Now().Add(-time.Minute), AMR: []string{"pwd", "otp", "mfa"},
		ACR: "urn:gongpai:acr:mfa", SessionID: defaultSID,
	})
	if err != nil {
		e.t.Fatalf("Complete: %v", err)
	}
	return cb
}

// code runs authorize → Complete → callback and returns the code.
func (e *env) code(q url.Values, sub string) string {
	e.t.Helper()
	id := e.loginRequestID(e.authorize(q))
	cb := e.complete(id, sub)
	resp := e.get(cb, nil)
	if resp.StatusCode != http.StatusFound {
		body, _ := io.ReadAll(resp.Body)
		e.t.Fatalf("callback: status %d (%s)", resp.StatusCode, body)
	}
	loc, _ := url.Parse(resp.Header.Get("Location"))
	if got := loc.Scheme + "://" + loc.Host + loc.Path; got != q.Get("redirect_uri") {
		e.t.Fatalf("callback redirected to %s, want %s", loc, q.Get("redirect_uri"))
	}
	if loc.Query().Get("state") != q.Get("state") || loc.Query().Get("code") == "" {
		e.t.Fatalf("callback redirect %s lacks code or state", loc)
	}
	return loc.Query().Get("code")
}

func codeForm(code, redirect, v string) url.Values {
	f := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {redirect}}
	if v != "" {
		f.Set("code_verifier", v)
	}
	return f
}

// tokens runs a whole sign-in for the web client and returns the token
// response.
func (e *env) tokens(scope string) map[string]any {
	e.t.Helper()
	code := e.code(authParams("web", webRedirect, scope, true), aliceSub)
	resp, body := e.post("/oauth/token", "web", codeForm(code, webRedirect, verifier))
	if resp.StatusCode != http.StatusOK {
		e.t.Fatalf("code exchange: %d %v", resp.StatusCode, body)
	}
	return body
}

func (e *env) verifyIDToken(raw, clientID string) map[string]any {
	e.t.Helper()
	ctx := context.Background()
	provider, err := gooidc.NewProvider(ctx, e.issuer)
	if err != nil {
		e.t.Fatalf("go-oidc discovery: %v", err)
	}
	idt, err := provider.Verifier(&gooidc.Config{ClientID: clientID}).Verify(ctx, raw)
	if err != nil {
		e.t.Fatalf("go-oidc verify: %v", err)
	}
	var claims map[string]any
	if err := idt.Claims(&claims); err != nil {
		e.t.Fatal(err)
	}
	return claims
}

func (e *env) userinfo(at string) (*http.Response, map[string]any) {
	e.t.Helper()
	resp := e.get("/userinfo", http.Header{"Authorization": {"Bearer " + at}})
	return resp, decode(e.t, resp.Body)
}

func (e *env) introspect(caller, token string) (*http.Response, map[string]any) {
	e.t.Helper()
	return e.post("/oauth/introspect", caller, url.Values{"token": {token}})
}

func str(m map[string]any, k string) string { s, _ := m[k].(string); return s }

func strs(v any) []string {
	l, _ := v.([]any)
	out := make([]string, 0, len(l))
	for _, x := range l {
		s, _ := x.(string)
		out = append(out, s)
	}
	return out
}

// algs is the key policy's algorithm list for a test's signing algorithm.
func algs(alg string) []string {
	if alg == "" {
		return nil
	}
	return []string{alg}
}
