package admin_test

import (
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/gongpai/gongpai/admin"
	"github.com/gongpai/gongpai/op"
	"github.com/gongpai/gongpai/storage"
)

// cachingTokens is storeTokens that records ForgetClient calls, as
// *op.Provider's client cache would hear them.
type cachingTokens struct {
	storeTokens
	mu        sync.Mutex
	forgotten []string
}

func (c *cachingTokens) ForgetClient(id string) {
	c.mu.Lock()
	c.forgotten = append(c.forgotten, id)
	c.mu.Unlock()
}

// Deleting a client revokes its refresh families, deletes the access
// tokens recorded for them and a service account's own tokens, and tells
// the verifier's client cache; other clients' tokens stay.
func TestDeleteClientRevokesItsTokens(t *testing.T) {
	f := newFixture(t)
	ctx := t.Context()
	tokens := &cachingTokens{storeTokens: storeTokens{f.st}}
	h, err := admin.New(admin.Options{Manager: f.m, Store: f.st, Tokens: tokens, Issuer: "https://sso.acme.example"})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	defer srv.Close()
	f.srv = srv

	now := time.Now()
	alice := f.subs["target"]
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range []struct{ client, family string }{{"demo", "fam-demo"}, {"oa", "fam-oa"}} {
		must(f.st.CreateRefreshToken(ctx, &storage.RefreshToken{ID: "rt-" + c.client, FamilyID: c.family, ClientID: c.client, Subject: alice,
			Scopes: []string{"openid", "offline_access"}, CreatedAt: now, ExpiresAt: now.Add(time.Hour)}))
		must(f.st.CreateAccessToken(ctx, &storage.AccessToken{ID: "at-" + c.client, ClientID: c.client, Subject: alice,
			RefreshFamily: c.family, CreatedAt: now, ExpiresAt: now.Add(time.Hour)}))
	}
	if st, body := f.do("adminGlobal", "DELETE", "/admin/api/v1/clients/demo?reason=retired", nil); st != http.StatusNoContent {
		t.Fatalf("delete demo: %d %v", st, body)
	}
	if rt, err := f.st.RefreshToken(ctx, "rt-demo"); err != nil || !rt.Revoked {
		t.Errorf("demo's refresh token: %+v %v, want revoked", rt, err)
	}
	if _, err := f.st.AccessToken(ctx, "at-demo"); err == nil {
		t.Error("demo's access token record survived the deletion")
	}
	if rt, err := f.st.RefreshToken(ctx, "rt-oa"); err != nil || rt.Revoked {
		t.Errorf("another client's refresh token: %+v %v, want untouched", rt, err)
	}
	if _, err := f.st.AccessToken(ctx, "at-oa"); err != nil {
		t.Errorf("another client's access token: %v", err)
	}

	// A service account: its client_credentials tokens go too, and so
	// does its access to the admin API.
	if st, _ := f.do("svcHR", "GET", "/admin/api/v1/employees", nil); st != http.StatusOK {
		t.Fatalf("svcHR before the deletion: %d", st)
	}
	if st, body := f.do("adminGlobal", "DELETE", "/admin/api/v1/clients/svchr?reason=retired", nil); st != http.StatusNoContent {
		t.Fatalf("delete svchr: %d %v", st, body)
	}
	if st, body := f.do("svcHR", "GET", "/admin/api/v1/employees", nil); st != http.StatusUnauthorized {
		t.Errorf("svcHR after the deletion: %d %v, want 401", st, body)
	}

	// A change reaches the cache too.
	if st, body := f.do("adminGlobal", "PATCH", "/admin/api/v1/clients/svcscim", map[string]any{"service_roles": []string{"auditor"}}); st != http.StatusOK {
		t.Fatalf("patch svcscim: %d %v", st, body)
	}
	tokens.mu.Lock()
	defer tokens.mu.Unlock()
	for _, id := range []string{"demo", "svchr", "svcscim"} {
		if !slices.Contains(tokens.forgotten, id) {
			t.Errorf("ForgetClient(%s) not called; got %v", id, tokens.forgotten)
		}
	}
}

var _ admin.ClientCache = (*op.Provider)(nil)
