package op

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/zitadel/oidc/v3/pkg/oidc"
	zop "github.com/zitadel/oidc/v3/pkg/op"

	"github.com/gongpai/gongpai/clientpolicy"
	"github.com/gongpai/gongpai/keys"
	"github.com/gongpai/gongpai/storage"
)

// Grant types a client may be registered for.
const (
	GrantAuthorizationCode = string(oidc.GrantTypeCode)
	GrantRefreshToken      = string(oidc.GrantTypeRefreshToken)
	GrantClientCredentials = string(oidc.GrantTypeClientCredentials)
)

var knownGrants = []string{GrantAuthorizationCode, GrantRefreshToken, GrantClientCredentials}

// ClientSpec is what an administrator registers.
type ClientSpec struct {
	ID, Name                                         string
	Public                                           bool
	RedirectURIs, PostLogoutRedirectURIs, GrantTypes []string
	Scopes                                           []string
	AccessTokenFormat                                storage.AccessTokenFormat
	RequireMFA                                       bool
	// IDTokenSignedResponseAlg: RS256, ES256 or EdDSA; "" = the default.
	IDTokenSignedResponseAlg string
	// BackchannelLogoutURI receives logout tokens (OIDC Back-Channel
	// Logout 1.0 §2.2): https (http on loopback only), no fragment.
	BackchannelLogoutURI string
	// VisibleRoles: the roles the client sees in the roles claim (exact
	// names, "prefix:*" or "*"); empty = employee and "<ID>:*".
	VisibleRoles []string
}

// FieldError says which ClientSpec field is invalid and why.
type FieldError struct {
	Field, Message string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Message }

// InvalidField reports the field and the problem; errcode maps any error
// with this method to E-201.
func (e *FieldError) InvalidField() (field, message string) { return e.Field, e.Message }

var clientIDPattern = regexp.MustCompile(`^[a-z0-9_-]{1,64}$`)

// NewClient validates spec and returns the client to store, plus its secret
// for a confidential client (shown once; only its SHA-256 is kept). Empty
// GrantTypes means authorization_code + refresh_token; empty Scopes means
// DefaultScopes (every known scope but gongpai:admin); empty
// AccessTokenFormat means opaque.
func NewClient(spec ClientSpec, now time.Time) (*storage.Client, string, error) {
	if !clientIDPattern.MatchString(spec.ID) {
		return nil, "", &FieldError{"id", "must be 1–64 characters of a-z, 0-9, '-' and '_'"}
	}
	c := &storage.Client{
		ID:                spec.ID,
		Name:              strings.TrimSpace(spec.Name),
		Public:            spec.Public,
		GrantTypes:        dedupe(spec.GrantTypes),
		Scopes:            dedupe(spec.Scopes),
		AccessTokenFormat: spec.AccessTokenFormat,
		RequireMFA:        spec.RequireMFA,
		CreatedAt:         now.UTC(),

		IDTokenSignedResponseAlg: spec.IDTokenSignedResponseAlg,
	}
	switch c.IDTokenSignedResponseAlg {
	case "", keys.RS256, keys.ES256, keys.EdDSA:
	default:
		return nil, "", &FieldError{"id_token_signed_response_alg", fmt.Sprintf("unsupported algorithm %q (want RS256, ES256 or EdDSA)", c.IDTokenSignedResponseAlg)}
	}
	if c.Name == "" {
		c.Name = c.ID
	}
	if len(c.GrantTypes) == 0 {
		c.GrantTypes = []string{GrantAuthorizationCode, GrantRefreshToken}
	}
	for _, g := range c.GrantTypes {
		if !slices.Contains(knownGrants, g) {
			return nil, "", &FieldError{"grant_types", fmt.Sprintf("unknown grant type %q (want %s)", g, strings.Join(knownGrants, ", "))}
		}
	}
	hasCode := slices.Contains(c.GrantTypes, GrantAuthorizationCode)
	if slices.Contains(c.GrantTypes, GrantRefreshToken) && !hasCode {
		return nil, "", &FieldError{"grant_types", "refresh_token needs authorization_code"}
	}
	if c.Public && slices.Contains(c.GrantTypes, GrantClientCredentials) {
		return nil, "", &FieldError{"grant_types", "a public client cannot use client_credentials"}
	}
	if len(c.Scopes) == 0 {
		c.Scopes = DefaultScopes()
	}
	for _, s := range c.Scopes {
		if !isKnownScope(s) {
			return nil, "", &FieldError{"scopes", fmt.Sprintf("unknown scope %q (want %s)", s, strings.Join(knownScopes, ", "))}
		}
	}
	switch c.AccessTokenFormat {
	case "":
		c.AccessTokenFormat = storage.AccessTokenOpaque
	case storage.AccessTokenOpaque, storage.AccessTokenJWT:
	default:
		return nil, "", &FieldError{"access_token_format", fmt.Sprintf("unknown format %q (want opaque or jwt)", c.AccessTokenFormat)}
	}
	var err error
	if c.RedirectURIs, err = validClientRedirects("redirect_uris", spec.RedirectURIs, spec.Public); err != nil {
		return nil, "", err
	}
	if hasCode && len(c.RedirectURIs) == 0 {
		return nil, "", &FieldError{"redirect_uris", "at least one is required for authorization_code"}
	}
	if c.PostLogoutRedirectURIs, err = validClientRedirects("post_logout_redirect_uris", spec.PostLogoutRedirectURIs, spec.Public); err != nil {
		return nil, "", err
	}
	if c.BackchannelLogoutURI, err = validBackchannelLogoutURI(spec.BackchannelLogoutURI, hasCode); err != nil {
		return nil, "", err
	}
	if c.VisibleRoles, err = clientpolicy.CheckVisibleRoles(spec.VisibleRoles); err != nil {
		return nil, "", &FieldError{"visible_roles", err.Error()}
	}
	if c.Public {
		return c, "", nil
	}
	secret, err := randomID(32)
	if err != nil {
		return nil, "", err
	}
	h := sha256.Sum256([]byte(secret))
	c.SecretHash = h[:]
	return c, secret, nil
}

// validRedirects requires absolute http(s) URLs without fragment or
// credentials; plain http only for loopback hosts (RFC 8252 §7.3; a
// non-loopback http redirect would leak codes to the network).
func validRedirects(field string, uris []string) ([]string, error) {
	out := make([]string, 0, len(uris))
	for _, raw := range uris {
		u, err := url.Parse(raw)
		switch {
		case err != nil || !u.IsAbs() || u.Host == "" || u.Opaque != "":
			return nil, &FieldError{field, fmt.Sprintf("%q is not an absolute URL", raw)}
		case u.Fragment != "" || strings.Contains(raw, "#"):
			return nil, &FieldError{field, fmt.Sprintf("%q has a fragment", raw)}
		case u.User != nil:
			return nil, &FieldError{field, fmt.Sprintf("%q carries credentials", raw)}
		case u.Scheme == "https":
		case u.Scheme == "http" && isLoopback(u.Hostname()):
		case u.Scheme == "http":
			return nil, &FieldError{field, fmt.Sprintf("%q uses http; only loopback hosts may", raw)}
		default:
			return nil, &FieldError{field, fmt.Sprintf("%q: scheme must be https (or http on loopback)", raw)}
		}
		if !slices.Contains(out, raw) {
			out = append(out, raw)
		}
	}
	return out, nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func dedupe(in []string) []string {
	var out []string
	for _, s := range in {
		s = strings.TrimSpace(s)
		if s != "" && !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}

// secretMatches compares in constant time. Secrets are 256-bit random, so a
// fast hash is enough: there is nothing to brute-force (research §8).
func secretMatches(c *storage.Client, secret string) bool {
	if c.Public || len(c.SecretHash) != sha256.Size || secret == "" {
		return false
	}
	h := sha256.Sum256([]byte(secret))
	return subtle.ConstantTimeCompare(h[:], c.SecretHash) == 1
}

// client adapts storage.Client to zitadel's op.Client.
type client struct {
	c          *storage.Client
	loginPath  string
	idTokenTTL time.Duration
}

var _ zop.Client = (*client)(nil)

func (c *client) GetID() string                    { return c.c.ID }
func (c *client) RedirectURIs() []string           { return c.c.RedirectURIs }
func (c *client) PostLogoutRedirectURIs() []string { return c.c.PostLogoutRedirectURIs }

// ApplicationType: public clients are native apps or SPAs; zitadel allows
// them loopback http and private-use scheme redirects only as "native".
// gongpai's own rule is applied on top of zitadel's (server.VerifyAuthRequest,
// native.go): zitadel's port- and host-agnostic loopback rule is narrowed
// to RFC 8252 §7.3's (same loopback IP literal, any port, public clients).
func (c *client) ApplicationType() zop.ApplicationType {
	if c.c.Public {
		return zop.ApplicationTypeNative
	}
	return zop.ApplicationTypeWeb
}

func (c *client) AuthMethod() oidc.AuthMethod {
	if c.c.Public {
		return oidc.AuthMethodNone
	}
	return oidc.AuthMethodBasic // client_secret_post is accepted as well (Config.AuthMethodPost)
}

func (c *client) ResponseTypes() []oidc.ResponseType {
	if slices.Contains(c.c.GrantTypes, GrantAuthorizationCode) {
		return []oidc.ResponseType{oidc.ResponseTypeCode}
	}
	return nil
}

func (c *client) GrantTypes() []oidc.GrantType {
	out := make([]oidc.GrantType, 0, len(c.c.GrantTypes))
	for _, g := range c.c.GrantTypes {
		out = append(out, oidc.GrantType(g))
	}
	return out
}

func (c *client) LoginURL(id string) string {
	return c.loginPath + "?authRequestID=" + url.QueryEscape(id)
}

func (c *client) AccessTokenType() zop.AccessTokenType {
	if c.c.AccessTokenFormat == storage.AccessTokenJWT {
		return zop.AccessTokenTypeJWT
	}
	return zop.AccessTokenTypeBearer
}

func (c *client) IDTokenLifetime() time.Duration {
	if c.c.IDTokenTTL > 0 {
		return c.c.IDTokenTTL
	}
	return c.idTokenTTL
}

func (c *client) DevMode() bool { return false }

func (c *client) RestrictAdditionalIdTokenScopes() func([]string) []string {
	return func(s []string) []string { return s }
}

func (c *client) RestrictAdditionalAccessTokenScopes() func([]string) []string {
	return func(s []string) []string { return s }
}

// IsScopeAllowed gates our custom scopes at /authorize (zitadel silently
// drops a scope that fails it). Standard scopes are filtered against the
// client's list in CreateAuthRequest.
func (c *client) IsScopeAllowed(scope string) bool { return c.allows(scope) }

func (c *client) allows(scope string) bool {
	return isKnownScope(scope) && slices.Contains(c.c.Scopes, scope)
}

// IDTokenUserinfoClaimsAssertion puts profile and email claims in the ID
// token even though an access token is issued. OIDC Core §5.4 allows it,
// and most relying parties (and Keycloak and Dex, which they were built
// against) read name and email from the ID token only.
func (c *client) IDTokenUserinfoClaimsAssertion() bool { return true }
func (c *client) ClockSkew() time.Duration             { return 0 }

// clientCacheTTL bounds how long a changed client (new redirect URI, revoked
// grant) may be served stale; zitadel looks a client up several times per
// flow and never caches (research §8).
const (
	clientCacheTTL  = 30 * time.Second
	clientCacheSize = 1024
)

type clientCache struct {
	store Store
	now   func() time.Time
	ttl   time.Duration

	mu      sync.Mutex
	entries map[string]clientCacheEntry
	gen     uint64 // bumped by forget, so a load that raced it is not cached
}

type clientCacheEntry struct {
	c       *storage.Client
	expires time.Time
}

func newClientCache(store Store, now func() time.Time, ttl time.Duration) *clientCache {
	return &clientCache{store: store, now: now, ttl: ttl, entries: map[string]clientCacheEntry{}}
}

// get returns a client; misses are not cached, so a new client works at
// once. The returned value is shared: callers must not modify it.
func (cc *clientCache) get(ctx context.Context, id string) (*storage.Client, error) {
	now := cc.now()
	cc.mu.Lock()
	e, ok := cc.entries[id]
	gen := cc.gen
	cc.mu.Unlock()
	if ok && now.Before(e.expires) {
		return e.c, nil
	}
	c, err := cc.store.Client(ctx, id)
	if err != nil {
		return nil, err
	}
	cc.mu.Lock()
	if cc.gen != gen {
		cc.mu.Unlock()
		return c, nil // forgotten meanwhile: serve this load, cache none
	}
	if len(cc.entries) >= clientCacheSize {
		// Crude but bounded: a burst of distinct IDs cannot grow memory.
		clear(cc.entries)
	}
	cc.entries[id] = clientCacheEntry{c: c, expires: now.Add(cc.ttl)}
	cc.mu.Unlock()
	return c, nil
}

// lookupClient loads a client for zitadel. Unknown clients are
// invalid_client, never a 500 (zitadel would turn a plain error into one at
// /authorize and /end_session).
func (p *Provider) lookupClient(ctx context.Context, id string) (*client, error) {
	if id == "" {
		return nil, oidc.ErrInvalidClient().WithDescription("client_id missing")
	}
	c, err := p.clients.get(ctx, id)
	if err != nil {
		if errors.Is(err, storage.ErrNotFound) {
			return nil, oidc.ErrInvalidClient().WithDescription("unknown client").WithParent(err)
		}
		return nil, p.serverErr(ctx, "client", err)
	}
	return &client{c: c, loginPath: p.cfg.LoginPath, idTokenTTL: p.cfg.IDTokenTTL}, nil
}

// GetClientByClientID implements op.Storage. At the token and revocation
// endpoints zitadel looks the client up before it checks the secret, so
// an unknown client is logged here (clientauthlog.go).
func (p *Provider) GetClientByClientID(ctx context.Context, clientID string) (zop.Client, error) {
	c, err := p.lookupClient(ctx, clientID)
	if err != nil {
		if oe := new(oidc.Error); ctx.Value(requestInfoKey{}) != nil && (!errors.As(err, &oe) || oe.ErrorType != oidc.ServerError) {
			p.logClientAuthFailure(ctx, clientID, "unknown client")
		}
		return nil, err
	}
	return c, nil
}

// AuthorizeClientIDSecret implements op.Storage: a wrong secret or an
// unknown client is invalid_client, a backend fault is server_error.
func (p *Provider) AuthorizeClientIDSecret(ctx context.Context, clientID, clientSecret string) error {
	_, err := p.authenticateClient(ctx, clientID, clientSecret)
	return err
}

// errBadClient is the one answer for an unknown client and a wrong secret:
// invalid_client with 401 (RFC 6749 §5.2). It must carry an *oidc.Error:
// zitadel hands ClientCredentials' error to the client unwrapped, and a
// plain error would become a 500. zitadel's own wrapping keeps the status,
// since WriteError finds the StatusError in the chain.
func errBadClient() error {
	return zop.NewStatusError(oidc.ErrInvalidClient().WithDescription("invalid client_id or client_secret"), http.StatusUnauthorized)
}

func (p *Provider) authenticateClient(ctx context.Context, clientID, secret string) (*client, error) {
	c, err := p.lookupClient(ctx, clientID)
	if err != nil {
		var oe *oidc.Error
		if errors.As(err, &oe) && oe.ErrorType == oidc.ServerError {
			return nil, err
		}
		p.logClientAuthFailure(ctx, clientID, "unknown client")
		return nil, errBadClient()
	}
	if !secretMatches(c.c, secret) {
		reason := "wrong client secret"
		switch {
		case c.c.Public:
			reason = "public client has no secret"
		case secret == "":
			reason = "no client secret"
		}
		p.logClientAuthFailure(ctx, clientID, reason)
		return nil, errBadClient()
	}
	return c, nil
}

// ClientCredentials implements op.ClientCredentialsStorage.
func (p *Provider) ClientCredentials(ctx context.Context, clientID, clientSecret string) (zop.Client, error) {
	c, err := p.authenticateClient(ctx, clientID, clientSecret)
	if err != nil {
		return nil, err
	}
	if !slices.Contains(c.c.GrantTypes, GrantClientCredentials) {
		return nil, oidc.ErrUnauthorizedClient().WithDescription("client_credentials is not allowed for this client")
	}
	return c, nil
}
