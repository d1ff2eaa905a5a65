package op_test

import (
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/gongpai/gongpai/op"
	"github.com/gongpai/gongpai/storage"
)

func TestNewClient(t *testing.T) {
	now := time.Date(2025, 1, 2, 3, 4, 5, 0, time.FixedZone("CST", 8*3600))
	ok := op.ClientSpec{ID: "oa", RedirectURIs: []string{"https://oa.example.com/cb"}}
	tests := []struct {
		name      string
		mutate    func(*op.ClientSpec)
		wantField string // "" = valid
	}{
		{"minimal", func(*op.ClientSpec) {}, ""},
		{"loopback http", func(s *op.ClientSpec) {
			s.RedirectURIs = []string{"http://127.0.0.1:8080/cb", "http://localhost/cb", "http://[::1]/cb"}
		}, ""},
		{"public", func(s *op.ClientSpec) { s.Public = true }, ""},
		{"client credentials only", func(s *op.ClientSpec) { s.GrantTypes = []string{"client_credentials"}; s.RedirectURIs = nil }, ""},
		{"upper-case id", func(s *op.ClientSpec) { s.ID = "OA" }, "id"},
		{"empty id", func(s *op.ClientSpec) { s.ID = "" }, "id"},
		{"id with colon", func(s *op.ClientSpec) { s.ID = "a:b" }, "id"},
		{"no redirect", func(s *op.ClientSpec) { s.RedirectURIs = nil }, "redirect_uris"},
		{"relative redirect", func(s *op.ClientSpec) { s.RedirectURIs = []string{"/cb"} }, "redirect_uris"},
		{"fragment", func(s *op.ClientSpec) { s.RedirectURIs = []string{"https://oa.example.com/cb#x"} }, "redirect_uris"},
		{"http non-loopback", func(s *op.ClientSpec) { s.RedirectURIs = []string{"http://oa.example.com/cb"} }, "redirect_uris"},
		{"custom scheme", func(s *op.ClientSpec) { s.RedirectURIs = []string{"com.example.app:/cb"} }, "redirect_uris"},
		{"credentials in URL", func(s *op.ClientSpec) { s.RedirectURIs = []string{"https://u:p@oa.example.com/cb"} }, "redirect_uris"},
		{"bad logout uri", func(s *op.ClientSpec) { s.PostLogoutRedirectURIs = []string{"http://oa.example.com/"} }, "post_logout_redirect_uris"},
		{"unknown grant", func(s *op.ClientSpec) { s.GrantTypes = []string{"implicit"} }, "grant_types"},
		{"refresh without code", func(s *op.ClientSpec) { s.GrantTypes = []string{"refresh_token"} }, "grant_types"},
		{"public client credentials", func(s *op.ClientSpec) { s.Public = true; s.GrantTypes = []string{"client_credentials"} }, "grant_types"},
		{"unknown scope", func(s *op.ClientSpec) { s.Scopes = []string{"openid", "phone"} }, "scopes"},
		{"admin scope by name", func(s *op.ClientSpec) { s.Scopes = []string{"openid", "gongpai:admin"} }, ""},
		{"unknown token format", func(s *op.ClientSpec) { s.AccessTokenFormat = "paseto" }, "access_token_format"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			spec := ok
			tt.mutate(&spec)
			c, secret, err := op.NewClient(spec, now)
			if tt.wantField != "" {
				var fe *op.FieldError
				if !errors.As(err, &fe) || fe.Field != tt.wantField {
					t.Fatalf("err = %v, want a FieldError on %s", err, tt.wantField)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if spec.Public {
				if secret != "" || len(c.SecretHash) != 0 {
					t.Errorf("public client got a secret")
				}
			} else {
				raw, err := base64.RawURLEncoding.DecodeString(secret)
				if err != nil || len(raw) != 32 {
					t.Errorf("secret %q is not 256-bit base64url", secret)
				}
				if h := sha256.Sum256([]byte(secret)); !slices.Equal(c.SecretHash, h[:]) {
					t.Errorf("stored hash is not SHA-256 of the secret")
				}
			}
			if !c.CreatedAt.Equal(now) || c.CreatedAt.Location() != time.UTC {
				t.Errorf("CreatedAt = %v, want %v in UTC", c.CreatedAt, now)
			}
			if c.AccessTokenFormat != storage.AccessTokenOpaque {
				t.Errorf("default format = %q", c.AccessTokenFormat)
			}
			if len(spec.Scopes) == 0 && (!slices.Equal(c.Scopes, op.DefaultScopes()) || slices.Contains(c.Scopes, op.ScopeAdmin)) {
				t.Errorf("default scopes = %v, want %v (never %s)", c.Scopes, op.DefaultScopes(), op.ScopeAdmin)
			}
		})
	}
}
