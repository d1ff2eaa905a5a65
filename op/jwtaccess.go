package op

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/zitadel/oidc/v3/pkg/oidc"
	zop "github.com/zitadel/oidc/v3/pkg/op"

	"github.com/gongpai/gongpai/keys"
	"github.com/gongpai/gongpai/storage"
)

// JWT access tokens per RFC 9068. zitadel's CreateJWT signs with typ
// "JWT" and leaves out scope, auth_time, acr and amr (research §0.4), so
// for clients registered with AccessTokenFormat jwt the token handlers
// mint the access token here and hand it to zitadel's CreateIDToken, which
// computes at_hash over it. The token is still recorded (its jti is the
// record ID), so userinfo, introspection and revocation work as for opaque
// tokens, and a revoked or frozen-out token is refused even though its
// signature still verifies.

// accessTokenClaims is RFC 9068 §2.2's claim set. No personal data
// beyond sub: resource servers that need employee claims ask userinfo or
// introspection, where the employee's current state is checked.
type accessTokenClaims struct {
	Issuer   string `json:"iss"`
	Subject  string `json:"sub"`
	Audience any    `json:"aud"` // a string for one audience, as RFC 9068's examples
	Expiry   int64  `json:"exp"`
	IssuedAt int64  `json:"iat"`
	JWTID    string `json:"jti"`
	ClientID string `json:"client_id"`
	// Scope is space-separated (§2.2.3); omitted when nothing was granted.
	Scope string `json:"scope,omitempty"`
	// How the employee authenticated (§2.2.1); absent for client tokens.
	AuthTime int64    `json:"auth_time,omitempty"`
	ACR      string   `json:"acr,omitempty"`
	AMR      []string `json:"amr,omitempty"`
}

// jwtAccessTokens reports whether c gets RFC 9068 access tokens.
func jwtAccessTokens(c zop.Client) (*client, bool) {
	cl, ok := c.(*client)
	return cl, ok && cl.c.AccessTokenFormat == storage.AccessTokenJWT
}

// tokenResponse is zop.CreateTokenResponse for the code and refresh
// grants. Opaque-token clients go through zitadel unchanged; for a JWT
// client the access token is minted here (RFC 9068) and the ID token built
// by zitadel over it, so its at_hash covers the token the client gets.
func (p *Provider) tokenResponse(ctx context.Context, req zop.IDTokenRequest, c zop.Client, code, currentRefresh string) (*oidc.AccessTokenResponse, error) {
	cl, ok := jwtAccessTokens(c)
	if !ok {
		return zop.CreateTokenResponse(ctx, req, c, p.oidc, true, code, currentRefresh)
	}
	at, refresh, exp, err := p.mintJWTAccessToken(ctx, req, cl, currentRefresh)
	if err != nil {
		return nil, err
	}
	idToken, err := zop.CreateIDToken(ctx, p.cfg.Issuer, req, c.IDTokenLifetime(), at, code, p, c)
	if err != nil {
		return nil, err
	}
	if ar, ok := req.(authRequest); ok {
		if err := p.DeleteAuthRequest(ctx, ar.GetID()); err != nil {
			return nil, err
		}
	}
	return &oidc.AccessTokenResponse{
		AccessToken:  at,
		IDToken:      idToken,
		RefreshToken: refresh,
		TokenType:    oidc.BearerToken,
		ExpiresIn:    p.expiresIn(exp),
		Scope:        req.GetScopes(),
	}, nil
}

// clientCredentialsJWT answers the client_credentials grant of a JWT
// client: sub and aud are the client itself (RFC 9068 §2.2).
func (p *Provider) clientCredentialsJWT(ctx context.Context, c *client, scopes []string) (*oidc.AccessTokenResponse, error) {
	req, err := p.ClientCredentialsTokenRequest(ctx, c.GetID(), scopes)
	if err != nil {
		return nil, err
	}
	at, _, exp, err := p.mintJWTAccessToken(ctx, req, c, "")
	if err != nil {
		return nil, err
	}
	return &oidc.AccessTokenResponse{
		AccessToken: at,
		TokenType:   oidc.BearerToken,
		ExpiresIn:   p.expiresIn(exp),
		Scope:       req.GetScopes(),
	}, nil
}

func (p *Provider) expiresIn(exp time.Time) uint64 {
	if d := exp.Sub(p.now()); d > 0 {
		return uint64(d / time.Second)
	}
	return 0
}

// mintJWTAccessToken records the access token (and the refresh token,
// when the grant gives one) exactly as the opaque path does, then signs
// the RFC 9068 JWT with jti = the record ID. The signing key is looked up
// first, so a missing key fails before a refresh token is rotated.
func (p *Provider) mintJWTAccessToken(ctx context.Context, req zop.TokenRequest, c *client, currentRefresh string) (token, refresh string, exp time.Time, err error) {
	kid, alg, key := p.keys.Signer(signingAlgFrom(ctx))
	if key == nil {
		return "", "", time.Time{}, p.serverErr(ctx, "signing key", keys.ErrNoSigningKey)
	}
	var id string
	if needsRefreshToken(req, c) {
		id, refresh, exp, err = p.CreateAccessAndRefreshTokens(ctx, req, currentRefresh)
	} else {
		id, exp, err = p.CreateAccessToken(ctx, req)
	}
	if err != nil {
		return "", "", time.Time{}, err
	}
	claims := accessTokenClaims{
		Issuer:   p.cfg.Issuer,
		Subject:  req.GetSubject(),
		Audience: audienceClaim(req.GetAudience(), c.GetID()),
		Expiry:   exp.Unix(),
		IssuedAt: p.now().Unix(),
		JWTID:    id,
		ClientID: c.GetID(),
		Scope:    strings.Join(req.GetScopes(), " "),
	}
	if ac, ok := authContextOf(req); ok {
		if !ac.AuthTime.IsZero() {
			claims.AuthTime = ac.AuthTime.Unix()
		}
		claims.ACR = ac.ACR
		claims.AMR = slices.Clone(ac.AMR)
	}
	token, err = signJWT(kid, alg, key, typAccessToken, claims)
	if err != nil {
		p.log.ErrorContext(ctx, "sign access token", "kid", kid, "err", err)
		return "", "", time.Time{}, oidc.ErrServerError().WithParent(err).WithDescription("internal error")
	}
	return token, refresh, exp, nil
}

// needsRefreshToken is zitadel's (unexported) rule for the grants
// gongpai offers: a code exchange with offline_access by a client allowed
// refresh tokens starts a family; a refresh always rotates.
func needsRefreshToken(req zop.TokenRequest, c *client) bool {
	switch r := req.(type) {
	case authRequest:
		return slices.Contains(r.GetScopes(), oidc.ScopeOfflineAccess) &&
			r.GetResponseType() == oidc.ResponseTypeCode &&
			slices.Contains(c.c.GrantTypes, GrantRefreshToken)
	case *refreshRequest:
		return true
	}
	return false
}

// authContextOf is how the employee behind req authenticated; false for
// a client's own token.
func authContextOf(req zop.TokenRequest) (authContext, bool) {
	switch r := req.(type) {
	case authRequest:
		return r.authContext(), true
	case *refreshRequest:
		return r.authContext(), true
	}
	return authContext{}, false
}

// audienceClaim: the resource the token is for. gongpai has no
// resource-indicator model (RFC 8707), so that is the client itself.
func audienceClaim(aud []string, clientID string) any {
	switch len(aud) {
	case 0:
		return clientID
	case 1:
		return aud[0]
	}
	return slices.Clone(aud)
}
