package admin_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gongpai/gongpai/admin"
	"github.com/gongpai/gongpai/directory"
	"github.com/gongpai/gongpai/op"
	"github.com/gongpai/gongpai/seal"
	"github.com/gongpai/gongpai/storage"
	"github.com/gongpai/gongpai/storage/sqlite"
)

// storeTokens verifies tokens the way op.Provider does after decryption:
// the raw token is the record ID here, the record must exist and not be
// expired, and an employee's must belong to an active employee. The e2e
// test covers the real provider.
type storeTokens struct{ st *sqlite.Store }

func (s storeTokens) VerifyAccessToken(ctx context.Context, raw string) (*storage.AccessToken, error) {
	t, err := s.st.AccessToken(ctx, raw)
	if err != nil {
		return nil, op.ErrInvalidToken
	}
	if !op.IsClientToken(t) {
		e, err := s.st.Employee(ctx, t.Subject)
		if err != nil || e.Status != storage.StatusActive {
			return nil, op.ErrInvalidToken
		}
	}
	return t, nil
}

var cheap = directory.Argon2Params{Time: 1, MemoryKiB: 64, Threads: 1}

const password = "correct horse battery"

type fixture struct {
	t      *testing.T
	st     *sqlite.Store
	m      *directory.Manager
	srv    *httptest.Server
	tokens map[string]string // principal name → bearer token
	subs   map[string]string // employee name → sub
	depts  map[string]string // code → ID
}

// newFixture builds ACME with HR01 > HR02, HR01 > TMP1 (empty), FIN01;
// employees; role grants; service accounts; and a token for each.
func newFixture(t *testing.T) *fixture {
	t.Helper()
	ctx := t.Context()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "a.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	sealer, err := seal.New(bytes.Repeat([]byte{3}, seal.KeySize))
	if err != nil {
		t.Fatal(err)
	}
	dir := directory.New(st, sealer, directory.Options{Argon2: cheap})
	m := directory.NewManager(dir, st, st, directory.ManagerOptions{})
	f := &fixture{t: t, st: st, m: m, tokens: map[string]string{}, subs: map[string]string{}, depts: map[string]string{}}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	_, err = m.CreateEntity(ctx, "test", "ACME", "ACME Ltd", "{dept}{yyyy}{seq:3}")
	must(err)
	for _, d := range [][2]string{{"HR01", ""}, {"HR02", "HR01"}, {"TMP1", "HR01"}, {"FIN01", ""}} {
		dep, err := m.CreateDepartment(ctx, "test", "ACME", d[0], d[0]+" dept", d[1])
		must(err)
		f.depts[d[0]] = dep.ID
	}
	people := []struct {
		name, dept string
		grants     [][2]string // role, department code
	}{
		{"target", "HR02", nil},
		{"employee", "FIN01", nil},
		{"hrScoped", "HR01", [][2]string{{"hr", "HR01"}}},
		{"hrGlobal", "HR01", [][2]string{{"hr", ""}}},
		{"adminScoped", "HR01", [][2]string{{"admin", "HR01"}}},
		{"adminGlobal", "FIN01", [][2]string{{"admin", ""}}},
		{"auditor", "FIN01", [][2]string{{"auditor", ""}}},
	}
	now := time.Now()
	// The admin console the employees' admin tokens were issued through:
	// the admin API accepts them only while it allows gongpai:admin.
	console, _, err := op.NewClient(op.ClientSpec{ID: "console", RedirectURIs: []string{"https://console.example/cb"},
		Scopes: []string{op.ScopeOpenID, op.ScopeProfile, op.ScopeOfflineAccess, op.ScopeAdmin}}, now)
	must(err)
	must(st.CreateClient(ctx, console))
	for _, p := range people {
		e, err := m.Onboard(ctx, "test", directory.Onboarding{Entity: "ACME", Department: p.dept, Name: p.name, Password: password, ExternalID: "ext-" + p.name}, false)
		must(err)
		f.subs[p.name] = e.Subject
		for _, g := range p.grants {
			must(m.GrantRole(ctx, "test", e.Subject, g[0], f.depts[g[1]]))
		}
		// Signed in through an admin console, with the admin scope …
		tok := "at_" + p.name
		must(st.CreateAccessToken(ctx, &storage.AccessToken{ID: tok, ClientID: "console", Subject: e.Subject,
			Scopes: []string{op.ScopeOpenID, op.ScopeAdmin}, CreatedAt: now, ExpiresAt: now.Add(time.Hour)}))
		f.tokens[p.name] = tok
		// … and through an ordinary app, without it ("<name>@oa").
		tok = "at_oa_" + p.name
		must(st.CreateAccessToken(ctx, &storage.AccessToken{ID: tok, ClientID: "oa", Subject: e.Subject,
			Scopes: op.DefaultScopes(), CreatedAt: now, ExpiresAt: now.Add(time.Hour)}))
		f.tokens[p.name+"@oa"] = tok
	}
	for _, svc := range []struct{ name, role string }{{"svcSCIM", "scim"}, {"svcHR", "hr"}, {"svcAdmin", "admin"}, {"svcAuditor", "auditor"}} {
		id := strings.ToLower(svc.name)
		c, _, err := op.NewClient(op.ClientSpec{ID: id, GrantTypes: []string{"client_credentials"}}, now)
		must(err)
		c.ServiceRoles = []string{svc.role}
		must(st.CreateClient(ctx, c))
		tok := "ct_" + id
		must(st.CreateAccessToken(ctx, &storage.AccessToken{ID: tok, ClientID: id, Subject: id, CreatedAt: now, ExpiresAt: now.Add(time.Hour)}))
		f.tokens[svc.name] = tok
	}
	demo, _, err := op.NewClient(op.ClientSpec{ID: "demo", RedirectURIs: []string{"https://demo.example/cb"}}, now)
	must(err)
	must(st.CreateClient(ctx, demo))
	f.tokens["badToken"] = "at_nosuchtoken"
	f.tokens["anonymous"] = ""

	h, err := admin.New(admin.Options{Manager: m, Store: st, Tokens: storeTokens{st}, Issuer: "https://sso.acme.example"})
	must(err)
	f.srv = httptest.NewServer(h)
	t.Cleanup(f.srv.Close)
	return f
}

// do sends a request as principal who and returns status and decoded body.
func (f *fixture) do(who, method, path string, body any, hdr ...string) (int, map[string]any) {
	f.t.Helper()
	var rd io.Reader
	ctype := "application/json"
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
		ctype = "text/csv"
	default:
		j, err := json.Marshal(b)
		if err != nil {
			f.t.Fatal(err)
		}
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, f.srv.URL+path, rd)
	if err != nil {
		f.t.Fatal(err)
	}
	if rd != nil {
		req.Header.Set("Content-Type", ctype)
	}
	if tok := f.tokens[who]; tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var out map[string]any
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &out); err != nil {
			f.t.Fatalf("%s %s: body is not a JSON object: %q", method, path, raw)
		}
	}
	return resp.StatusCode, out
}

func timeNow() time.Time { return time.Now() }
