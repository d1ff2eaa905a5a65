package admin_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/gongpai/gongpai/directory"
	"github.com/gongpai/gongpai/op"
	"github.com/gongpai/gongpai/storage"
)

// addPerson onboards one more employee into dept with role grants (role,
// department code; "" = the whole directory) and an admin-scoped token
// under their name, after newFixture.
func (f *fixture) addPerson(name, dept string, grants ...[2]string) string {
	f.t.Helper()
	ctx := f.t.Context()
	e, err := f.m.Onboard(ctx, "test", directory.Onboarding{Entity: "ACME", Department: dept, Name: name, Password: password, ExternalID: "ext-" + name}, false)
	if err != nil {
		f.t.Fatal(err)
	}
	for _, g := range grants {
		if err := f.m.GrantRole(ctx, "test", e.Subject, g[0], f.depts[g[1]]); err != nil {
			f.t.Fatal(err)
		}
	}
	now := time.Now()
	tok := "at_" + name
	if err := f.st.CreateAccessToken(ctx, &storage.AccessToken{ID: tok, ClientID: "console", Subject: e.Subject,
		Scopes: []string{op.ScopeOpenID, op.ScopeAdmin}, CreatedAt: now, ExpiresAt: now.Add(time.Hour)}); err != nil {
		f.t.Fatal(err)
	}
	f.tokens[name] = tok
	f.subs[name] = e.Subject
	return e.Subject
}

func toJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
