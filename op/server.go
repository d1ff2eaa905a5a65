package op

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/rs/cors"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	zop "github.com/zitadel/oidc/v3/pkg/op"
)

// Cache lifetime of the discovery document. The JWKS max-age comes from
// the key policy (keys.Policy.JWKSMaxAge), which keeps it at most half the
// pre-publication window (research §4).
const discoveryMaxAge = "public, max-age=900"

// Routes, as zitadel's default endpoints place them.
const (
	pathDiscovery  = "/.well-known/openid-configuration"
	pathHealth     = "/healthz"
	pathReady      = "/ready"
	pathAuthorize  = "/authorize"
	pathCallback   = "/authorize/callback"
	pathToken      = "/oauth/token"
	pathIntrospect = "/oauth/introspect"
	pathUserinfo   = "/userinfo"
	pathRevoke     = "/revoke"
	pathEndSession = "/end_session"
	pathKeys       = "/keys"
	pathReturn     = pathErrorReturn // ErrorRedirect's hop (binding.go)
)

// allowedMethods closes G12: zitadel routes accept every method and read
// query parameters as form values, even on the token endpoint.
var allowedMethods = map[string][]string{
	pathDiscovery:  {http.MethodGet, http.MethodHead},
	pathHealth:     {http.MethodGet, http.MethodHead},
	pathReady:      {http.MethodGet, http.MethodHead},
	pathKeys:       {http.MethodGet, http.MethodHead},
	pathAuthorize:  {http.MethodGet, http.MethodPost},
	pathCallback:   {http.MethodGet},
	pathToken:      {http.MethodPost},
	pathIntrospect: {http.MethodPost},
	pathRevoke:     {http.MethodPost},
	pathUserinfo:   {http.MethodGet, http.MethodPost},
	pathEndSession: {http.MethodGet, http.MethodPost},
	pathReturn:     {http.MethodGet, http.MethodHead},
}

// bodyOnly are endpoints whose parameters (client secrets, tokens) must
// come in the POST body, never the URL, where logs and proxies keep them.
var bodyOnly = []string{pathToken, pathIntrospect, pathRevoke}

// noStore are endpoints whose responses carry tokens or personal data
// (RFC 6749 §5.1, RFC 7662 §2.2, OIDC Core §5.3.2).
var noStore = []string{pathToken, pathIntrospect, pathUserinfo, pathRevoke}

func (p *Provider) newHandler() http.Handler {
	endpoints := *zop.DefaultEndpoints
	endpoints.DeviceAuthorization = nil // no device flow: not routed, not advertised
	s := &server{LegacyServer: zop.NewLegacyServer(p.oidc, endpoints), p: p}
	return zop.RegisterLegacyServer(s, p.bindCallback(zop.AuthorizeCallbackHandler(p.oidc)),
		zop.WithServerCORSOptions(corsOptions()),
		zop.WithHTTPMiddleware(p.strictTransport, restrictMethods, cacheHeaders, p.requestInfo, p.guard, p.serveJWKS, p.serveErrorReturn),
	)
}

// corsOptions replaces zitadel's default, which reflects every origin with
// credentials (G13). Browser clients (SPAs) call the token, userinfo,
// revocation, keys and discovery endpoints with bearer tokens or form
// parameters, never cookies, so any origin may read the responses but no
// credentialed request is allowed.
func corsOptions() *cors.Options {
	return &cors.Options{
		AllowedOrigins:   []string{"*"},
		AllowCredentials: false,
		AllowedMethods:   []string{http.MethodGet, http.MethodHead, http.MethodPost},
		AllowedHeaders:   []string{"Accept", "Accept-Language", "Authorization", "Content-Type"},
		// An SPA reads the RFC 6750 challenge of a userinfo 401.
		ExposedHeaders: []string{"WWW-Authenticate"},
		MaxAge:         600,
	}
}

func restrictMethods(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		methods, known := allowedMethods[r.URL.Path]
		if !known {
			next.ServeHTTP(w, r)
			return
		}
		if !slices.Contains(methods, r.Method) {
			w.Header().Set("Allow", strings.Join(methods, ", "))
			writeJSONError(w, http.StatusMethodNotAllowed, oidc.ErrInvalidRequest().WithDescription("method not allowed"))
			return
		}
		if slices.Contains(bodyOnly, r.URL.Path) && r.URL.RawQuery != "" {
			writeJSONError(w, http.StatusBadRequest, oidc.ErrInvalidRequest().WithDescription("parameters must be sent in the request body"))
			return
		}
		next.ServeHTTP(w, r)
	})
}

func cacheHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if slices.Contains(noStore, r.URL.Path) {
			// Set before the handler runs so error responses carry them too.
			w.Header().Set("Cache-Control", "no-store")
			w.Header().Set("Pragma", "no-cache")
		}
		next.ServeHTTP(w, r)
	})
}

func writeJSONError(w http.ResponseWriter, status int, e *oidc.Error) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(e)
}

// server is zitadel's LegacyServer with the endpoints gongpai must handle
// differently overridden (research §10).
type server struct {
	*zop.LegacyServer
	p *Provider
}

var _ zop.ExtendedLegacyServer = (*server)(nil)

// VerifyAuthRequest replaces zitadel's redirect-URI rule, which for
// native clients ignores the port and the host of any loopback URI
// (localhost included), by gongpai's (native.go): exact matching, but for
// a public client's loopback IP redirect, whose port may vary (RFC 8252
// §7.3). A mismatch is answered here, never redirected.
func (s *server) VerifyAuthRequest(ctx context.Context, r *zop.Request[oidc.AuthRequest]) (*zop.ClientRequest[oidc.AuthRequest], error) {
	cr, err := s.LegacyServer.VerifyAuthRequest(ctx, r)
	if err != nil {
		return nil, err
	}
	cl, ok := cr.Client.(*client)
	if uri := cr.Data.RedirectURI; uri != "" && (!ok || !redirectRegistered(cl.c, uri)) {
		return nil, oidc.ErrInvalidRequestRedirectURI().WithDescription("redirect_uri is not registered for this client")
	}
	return cr, nil
}

// CodeExchange replaces zitadel's, which skips PKCE for confidential
// clients (G1): whenever the auth request carried a challenge, every client
// must present the matching verifier. Once the presenting client and
// redirect_uri are found to be the code's own, the code is consumed
// whatever the outcome, so a stolen code cannot be retried with other
// verifiers.
func (s *server) CodeExchange(ctx context.Context, r *zop.ClientRequest[oidc.AccessTokenRequest]) (*zop.Response, error) {
	ctx = withSigningAlg(ctx, r.Client)
	// Who presents the code is checked before anything is burnt: a code
	// another client presents, or with another redirect_uri, is refused
	// and stays good for its own client (codereplay.go, checkPresenter).
	if err := s.p.checkPresenter(ctx, r.Data.Code, r.Client.GetID(), r.Data.RedirectURI); err != nil {
		return nil, err
	}
	// A code redeemed before is a replay: refused, and every token issued
	// from it revoked (codereplay.go).
	ctx, err := s.p.beginRedemption(ctx, r.Data.Code, r.Client.GetID())
	if err != nil {
		return nil, err
	}
	ar, err := s.p.takeCode(ctx, r.Data.Code)
	if err != nil {
		// Not taken (or taken incomplete): nothing was issued from it, and
		// a retry after an outage must not look like a replay.
		s.p.abandonRedemption(ctx, r.Data.Code)
		return nil, err
	}
	fail := func(e *oidc.Error) (*zop.Response, error) {
		_ = s.p.DeleteAuthRequest(ctx, ar.r.ID)
		return nil, e
	}
	if ar.r.ClientID != r.Client.GetID() {
		return fail(oidc.ErrInvalidGrant().WithDescription("code was issued to another client"))
	}
	if e := verifyPKCE(ar.r.CodeChallenge, ar.r.CodeChallengeMethod, r.Data.CodeVerifier, r.Client.AuthMethod() == oidc.AuthMethodNone); e != nil {
		return fail(e)
	}
	if r.Data.RedirectURI != ar.r.RedirectURI {
		return fail(oidc.ErrInvalidGrant().WithDescription("redirect_uri does not match the authorization request"))
	}
	resp, err := s.p.tokenResponse(ctx, ar, r.Client, r.Data.Code, "")
	if err != nil {
		return nil, err
	}
	if err := s.p.confirmGrant(ctx, r.Data.Code); err != nil {
		return nil, err
	}
	return zop.NewResponse(resp), nil
}

// verifyPKCE: RFC 7636 §4.6, S256 only, with RFC 9700's downgrade check
// (a verifier without a challenge is refused too). Every failure is
// invalid_grant.
func verifyPKCE(challenge, method, verifier string, public bool) *oidc.Error {
	switch {
	case challenge == "" && verifier != "":
		return oidc.ErrInvalidGrant().WithDescription("code_verifier sent but no code_challenge was")
	case challenge == "" && public:
		return oidc.ErrInvalidGrant().WithDescription("PKCE is required for public clients")
	case challenge == "":
		return nil
	case verifier == "":
		return oidc.ErrInvalidGrant().WithDescription("code_verifier required")
	case method != string(oidc.CodeChallengeMethodS256) || !validPKCEValue(verifier):
		return oidc.ErrInvalidGrant().WithDescription("invalid code_verifier")
	}
	sum := sha256.Sum256([]byte(verifier))
	want := base64.RawURLEncoding.EncodeToString(sum[:])
	if subtle.ConstantTimeCompare([]byte(want), []byte(challenge)) != 1 {
		return oidc.ErrInvalidGrant().WithDescription("invalid code_verifier")
	}
	return nil
}

// RefreshToken replaces zitadel's so that storage faults surface as
// server_error rather than invalid_grant, and reuse detection runs first.
func (s *server) RefreshToken(ctx context.Context, r *zop.ClientRequest[oidc.RefreshTokenRequest]) (*zop.Response, error) {
	ctx = withSigningAlg(ctx, r.Client)
	req, err := s.p.refreshRequest(ctx, r.Data.RefreshToken)
	if err != nil {
		return nil, err
	}
	if req.GetClientID() != r.Client.GetID() {
		return nil, oidc.ErrInvalidGrant().WithDescription("refresh token was issued to another client")
	}
	if err := zop.ValidateRefreshTokenScopes(r.Data.Scopes, req); err != nil {
		return nil, err
	}
	resp, err := s.p.tokenResponse(ctx, req, r.Client, "", r.Data.RefreshToken)
	if err != nil {
		return nil, err
	}
	return zop.NewResponse(resp), nil
}

// ClientCredentialsExchange is zitadel's for opaque-token clients; a JWT
// client's token is minted per RFC 9068 (jwtaccess.go), signed with the
// client's algorithm.
func (s *server) ClientCredentialsExchange(ctx context.Context, r *zop.ClientRequest[oidc.ClientCredentialsRequest]) (*zop.Response, error) {
	ctx = withSigningAlg(ctx, r.Client)
	c, ok := jwtAccessTokens(r.Client)
	if !ok {
		return s.LegacyServer.ClientCredentialsExchange(ctx, r)
	}
	resp, err := s.p.clientCredentialsJWT(ctx, c, r.Data.Scope)
	if err != nil {
		return nil, err
	}
	return zop.NewResponse(resp), nil
}

// JWTProfile: the jwt-bearer grant is not offered (zitadel always enables
// it).
func (s *server) JWTProfile(context.Context, *zop.Request[oidc.JWTProfileGrantRequest]) (*zop.Response, error) {
	return nil, oidc.ErrUnsupportedGrantType().WithDescription("jwt-bearer is not supported")
}

// UserInfo replaces zitadel's 403-with-{} answers (G3) with RFC 6750's
// invalid_token (401) for a dead token and server_error for a fault.
func (s *server) UserInfo(ctx context.Context, r *zop.Request[oidc.UserInfoRequest]) (*zop.Response, error) {
	tokenID, subject, ok := s.tokenIDAndSubject(ctx, r.Data.AccessToken)
	if !ok {
		return nil, zop.NewStatusError(invalidToken("access token invalid"), http.StatusUnauthorized)
	}
	info := new(oidc.UserInfo)
	if err := s.p.SetUserinfoFromToken(ctx, info, tokenID, subject, ""); err != nil {
		if oe := new(oidc.Error); errors.As(err, &oe) && oe.ErrorType == oidc.ServerError {
			return nil, err
		}
		return nil, zop.NewStatusError(err, http.StatusUnauthorized)
	}
	return zop.NewResponse(info), nil
}

// tokenIDAndSubject decodes an access token as zitadel does: an opaque one
// is decrypted with the crypto key, a JWT is verified against the key set.
func (s *server) tokenIDAndSubject(ctx context.Context, token string) (string, string, bool) {
	if token == "" || len(token) > maxPresentedToken {
		return "", "", false
	}
	if plain, err := s.Provider().Crypto().Decrypt(token); err == nil {
		id, sub, found := strings.Cut(plain, ":")
		return id, sub, found && id != "" && sub != "" && !strings.Contains(sub, ":")
	}
	claims, err := zop.VerifyAccessToken[*oidc.AccessTokenClaims](ctx, token, s.Provider().AccessTokenVerifier(ctx))
	if err != nil {
		return "", "", false
	}
	return claims.JWTID, claims.Subject, true
}

// EndSession adds exact post_logout_redirect_uri matching (zitadel is
// port-agnostic on loopback for native clients) before handing over to
// TerminateSessionFromRequest.
func (s *server) EndSession(ctx context.Context, r *zop.Request[oidc.EndSessionRequest]) (*zop.Redirect, error) {
	req, err := zop.ValidateEndSessionRequest(ctx, r.Data, s.Provider())
	if err != nil {
		return nil, err
	}
	if r.Data.PostLogoutRedirectURI != "" && req.ClientID != "" {
		c, err := s.p.lookupClient(ctx, req.ClientID)
		if err != nil {
			return nil, err
		}
		if !slices.Contains(c.c.PostLogoutRedirectURIs, r.Data.PostLogoutRedirectURI) {
			return nil, oidc.ErrInvalidRequest().WithDescription("post_logout_redirect_uri is not registered for this client")
		}
	}
	redirect, err := s.p.TerminateSessionFromRequest(ctx, req)
	if err != nil {
		return nil, err
	}
	return zop.NewRedirect(redirect), nil
}

// Discovery trims zitadel's document to what gongpai really offers (G14)
// and makes it cacheable.
func (s *server) Discovery(ctx context.Context, r *zop.Request[struct{}]) (*zop.Response, error) {
	resp, err := s.LegacyServer.Discovery(ctx, r)
	if err != nil {
		return nil, err
	}
	d, ok := resp.Data.(*oidc.DiscoveryConfiguration)
	if !ok {
		return nil, oidc.ErrServerError().WithDescription("discovery document")
	}
	d.GrantTypesSupported = slices.DeleteFunc(d.GrantTypesSupported, func(g oidc.GrantType) bool {
		return !slices.Contains(knownGrants, string(g))
	})
	d.ResponseTypesSupported = []string{string(oidc.ResponseTypeCode)}
	d.ResponseModesSupported = []string{string(oidc.ResponseModeQuery)}
	d.ScopesSupported = SupportedScopes()
	d.ClaimsSupported = supportedClaims()
	d.CodeChallengeMethodsSupported = []oidc.CodeChallengeMethod{oidc.CodeChallengeMethodS256}
	d.DeviceAuthorizationEndpoint = ""
	d.RequestParameterSupported = false
	d.RequestObjectSigningAlgValuesSupported = nil
	d.TokenEndpointAuthMethodsSupported = []oidc.AuthMethod{oidc.AuthMethodBasic, oidc.AuthMethodPost, oidc.AuthMethodNone}
	d.TokenEndpointAuthSigningAlgValuesSupported = nil
	d.IntrospectionEndpointAuthMethodsSupported = []oidc.AuthMethod{oidc.AuthMethodBasic, oidc.AuthMethodPost}
	d.IntrospectionEndpointAuthSigningAlgValuesSupported = nil
	d.RevocationEndpointAuthMethodsSupported = []oidc.AuthMethod{oidc.AuthMethodBasic, oidc.AuthMethodPost, oidc.AuthMethodNone}
	d.RevocationEndpointAuthSigningAlgValuesSupported = nil
	resp.Header.Set("Cache-Control", discoveryMaxAge)
	return resp, nil
}

// Keys is zitadel's route for the JWKS; serveJWKS answers /keys before it
// is reached. It stays correct if it ever is.
func (s *server) Keys(context.Context, *zop.Request[struct{}]) (*zop.Response, error) {
	resp := zop.NewResponse(&jose.JSONWebKeySet{Keys: s.p.keys.Published()})
	resp.Header.Set("Cache-Control", s.p.jwksCacheControl())
	return resp, nil
}

// serveJWKS answers /keys from the key manager's snapshot: the body is
// encoded once per key-set change, carries a strong ETag (a hash of the
// body) and a max-age from the key policy, and a conditional GET whose
// If-None-Match still matches gets 304 Not Modified. zitadel's Server
// interface cannot answer 304, hence a middleware.
func (p *Provider) serveJWKS(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != pathKeys {
			next.ServeHTTP(w, r)
			return
		}
		body, etag := p.keys.JWKS()
		h := w.Header()
		h.Set("Cache-Control", p.jwksCacheControl())
		if etag != "" {
			h.Set("ETag", etag)
			if etagMatches(r.Header.Get("If-None-Match"), etag) {
				w.WriteHeader(http.StatusNotModified)
				return
			}
		}
		h.Set("Content-Type", "application/json")
		h.Set("Content-Length", strconv.Itoa(len(body)))
		w.WriteHeader(http.StatusOK)
		if r.Method != http.MethodHead {
			_, _ = w.Write(body)
		}
	})
}

func (p *Provider) jwksCacheControl() string {
	return "public, max-age=" + strconv.Itoa(int(p.keys.Policy().JWKSMaxAge/time.Second))
}

// etagMatches is If-None-Match's weak comparison (RFC 9110 §13.1.2).
func etagMatches(header, etag string) bool {
	for _, tag := range strings.Split(header, ",") {
		tag = strings.TrimSpace(tag)
		if tag == "*" || strings.TrimPrefix(tag, "W/") == etag {
			return true
		}
	}
	return false
}
