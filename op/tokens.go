package op

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"slices"
	"strings"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	zop "github.com/zitadel/oidc/v3/pkg/op"

	"github.com/gongpai/gongpai/storage"
)

// Token IDs carry their kind in a prefix, so revocation (which zitadel
// hands a bare ID) knows what it holds, and an access token minted for a
// client (client_credentials) is never mistaken for an employee's.
const (
	prefixUserAccess   = "at_" // access token of an employee
	prefixClientAccess = "ct_" // access token of a client (client_credentials)
	prefixRefresh      = "rt_" // refresh-token record ID, as handed to RevokeToken
)

const (
	accessTokenIDBytes  = 16
	refreshTokenBytes   = 32 // 256-bit, returned to the client; only its SHA-256 is stored
	familyIDBytes       = 16
	maxPresentedToken   = 4096
	maxRefreshTokenSize = 128
)

// hashToken is the stored ID of a refresh token: SHA-256 hex. The token is
// 256-bit random, so no salt or slow hash is needed.
func hashToken(raw string) string {
	h := sha256.Sum256([]byte(raw))
	return hex.EncodeToString(h[:])
}

// refreshRequest adapts a stored refresh token to zitadel's
// RefreshTokenRequest; it is also the IDTokenRequest of a refreshed ID
// token, so it carries the original login's auth_time, amr, acr and sid.
type refreshRequest struct {
	t      *storage.RefreshToken
	scopes []string // the scopes of this refresh (possibly narrowed)
}

var _ zop.RefreshTokenRequest = (*refreshRequest)(nil)

func (r *refreshRequest) GetAMR() []string                 { return r.t.AMR }
func (r *refreshRequest) GetAudience() []string            { return r.t.Audience }
func (r *refreshRequest) GetAuthTime() time.Time           { return r.t.AuthTime }
func (r *refreshRequest) GetClientID() string              { return r.t.ClientID }
func (r *refreshRequest) GetScopes() []string              { return r.scopes }
func (r *refreshRequest) GetSubject() string               { return r.t.Subject }
func (r *refreshRequest) SetCurrentScopes(scopes []string) { r.scopes = scopes }
func (r *refreshRequest) authContext() authContext {
	return authContext{SessionID: r.t.SessionID, AuthTime: r.t.AuthTime, AMR: r.t.AMR, ACR: r.t.ACR}
}

// clientCredentialsRequest is the token request of the client_credentials
// grant: the client is its own subject.
type clientCredentialsRequest struct {
	clientID string
	scopes   []string
}

func (r *clientCredentialsRequest) GetSubject() string    { return r.clientID }
func (r *clientCredentialsRequest) GetAudience() []string { return []string{r.clientID} }
func (r *clientCredentialsRequest) GetScopes() []string   { return r.scopes }

// ClientCredentialsTokenRequest implements op.ClientCredentialsStorage.
// zitadel does not filter the scopes; this does: only scopes the client is
// allowed, and only service scopes (none that describe an employee or an
// end-user session: servicescopes.go).
func (p *Provider) ClientCredentialsTokenRequest(ctx context.Context, clientID string, scopes []string) (zop.TokenRequest, error) {
	c, err := p.lookupClient(ctx, clientID)
	if err != nil {
		return nil, err
	}
	granted := []string{}
	for _, s := range scopes {
		if !isServiceScope(s) || !c.allows(s) || slices.Contains(granted, s) {
			continue
		}
		granted = append(granted, s)
	}
	return &clientCredentialsRequest{clientID: clientID, scopes: granted}, nil
}

// CreateAccessToken implements op.Storage: it records the token so later
// checks can find it, and returns its ID and expiry.
func (p *Provider) CreateAccessToken(ctx context.Context, req zop.TokenRequest) (string, time.Time, error) {
	switch r := req.(type) {
	case authRequest:
		// The code exchange's grant ID stands as the token's family, so a
		// replayed code can revoke it (codereplay.go).
		return p.recordAccessToken(ctx, prefixUserAccess, r.r.ClientID, r.r.Subject, r.r.Scopes, r.GetAudience(), grantFrom(ctx), r.r.SessionID)
	case *clientCredentialsRequest:
		return p.recordAccessToken(ctx, prefixClientAccess, r.clientID, r.clientID, r.scopes, r.GetAudience(), "", "")
	}
	// JWT-profile and token-exchange grants are refused before this point.
	return "", time.Time{}, oidc.ErrUnsupportedGrantType().WithDescription("grant not supported")
}

func (p *Provider) recordAccessToken(ctx context.Context, prefix, clientID, subject string, scopes, audience []string, family, sid string) (string, time.Time, error) {
	ttl := p.cfg.AccessTokenTTL
	if c, err := p.lookupClient(ctx, clientID); err != nil {
		return "", time.Time{}, err
	} else if c.c.AccessTokenTTL > 0 {
		ttl = c.c.AccessTokenTTL
	}
	rnd, err := randomID(accessTokenIDBytes)
	if err != nil {
		return "", time.Time{}, p.serverErr(ctx, "access token id", err)
	}
	now := p.now()
	t := &storage.AccessToken{
		ID:            prefix + rnd,
		ClientID:      clientID,
		Subject:       subject,
		Scopes:        slices.Clone(scopes),
		Audience:      slices.Clone(audience),
		RefreshFamily: family,
		SessionID:     sid,
		CreatedAt:     now,
		ExpiresAt:     now.Add(ttl),
	}
	if err := p.store.CreateAccessToken(ctx, t); err != nil {
		return "", time.Time{}, p.serverErr(ctx, "create access token", err)
	}
	return t.ID, t.ExpiresAt, nil
}

// CreateAccessAndRefreshTokens implements op.Storage. From a code
// exchange it starts a refresh family; from a refresh it rotates: the
// presented token is marked spent by compare-and-swap, and losing that race
// means the token was used twice, which revokes the family (G5).
func (p *Provider) CreateAccessAndRefreshTokens(ctx context.Context, req zop.TokenRequest, current string) (string, string, time.Time, error) {
	raw, err := randomID(refreshTokenBytes)
	if err != nil {
		return "", "", time.Time{}, p.serverErr(ctx, "refresh token", err)
	}
	now := p.now()
	var next storage.RefreshToken
	var rotating *storage.RefreshToken
	switch r := req.(type) {
	case authRequest:
		if current != "" {
			return "", "", time.Time{}, oidc.ErrInvalidGrant()
		}
		// The family is the code exchange's grant (codereplay.go).
		family := grantFrom(ctx)
		if family == "" {
			if family, err = randomID(familyIDBytes); err != nil {
				return "", "", time.Time{}, p.serverErr(ctx, "refresh family", err)
			}
		}
		next = storage.RefreshToken{
			FamilyID:  family,
			ClientID:  r.r.ClientID,
			Subject:   r.r.Subject,
			Scopes:    slices.Clone(r.r.Scopes),
			Audience:  r.GetAudience(),
			AuthTime:  r.r.AuthTime,
			AMR:       slices.Clone(r.r.AMR),
			ACR:       r.r.ACR,
			SessionID: r.r.SessionID,
		}
	case *refreshRequest:
		// The new token keeps the family's full scope (RFC 6749 §6); only
		// this access token gets the narrowed one.
		rotating = r.t
		next = *r.t
		next.Scopes = slices.Clone(r.t.Scopes)
		next.Spent, next.Revoked = false, false
	default:
		return "", "", time.Time{}, oidc.ErrUnsupportedGrantType().WithDescription("grant not supported")
	}
	ttl, err := p.refreshTTL(ctx, next.ClientID)
	if err != nil {
		return "", "", time.Time{}, err
	}
	next.ID, next.CreatedAt, next.ExpiresAt = hashToken(raw), now, now.Add(ttl)

	// The access token is recorded before the refresh token is written or
	// rotated: if the ephemeral store is down the client keeps its current
	// refresh token and simply retries. The other order would spend it and
	// hand back nothing. An access-token record whose refresh write then
	// fails was never given out and expires on its own.
	atID, exp, err := p.recordAccessToken(ctx, prefixUserAccess, next.ClientID, next.Subject, req.GetScopes(), next.Audience, next.FamilyID, next.SessionID)
	if err != nil {
		return "", "", time.Time{}, err
	}
	if rotating == nil {
		if err := p.store.CreateRefreshToken(ctx, &next); err != nil {
			return "", "", time.Time{}, p.serverErr(ctx, "create refresh token", err)
		}
		return atID, raw, exp, nil
	}
	if err := p.store.RotateRefreshToken(ctx, rotating.ID, &next); err != nil {
		if errors.Is(err, storage.ErrConflict) {
			p.log.WarnContext(ctx, "refresh token used twice concurrently; revoking its family",
				"client_id", rotating.ClientID, "sub", rotating.Subject, "family", rotating.FamilyID)
			p.revokeFamily(ctx, rotating.FamilyID)
			return "", "", time.Time{}, oidc.ErrInvalidGrant().WithDescription("refresh token already used")
		}
		return "", "", time.Time{}, p.protocolErr(ctx, "rotate refresh token", err, invalidRefreshToken)
	}
	return atID, raw, exp, nil
}

func (p *Provider) refreshTTL(ctx context.Context, clientID string) (time.Duration, error) {
	c, err := p.lookupClient(ctx, clientID)
	if err != nil {
		return 0, err
	}
	if c.c.RefreshTokenTTL > 0 {
		return c.c.RefreshTokenTTL, nil
	}
	return p.cfg.RefreshTokenTTL, nil
}

func invalidRefreshToken() *oidc.Error {
	return oidc.ErrInvalidGrant().WithDescription("invalid or expired refresh token")
}

// TokenRequestByRefreshToken implements op.Storage.
func (p *Provider) TokenRequestByRefreshToken(ctx context.Context, raw string) (zop.RefreshTokenRequest, error) {
	return p.refreshRequest(ctx, raw)
}

// refreshRequest looks a presented refresh token up. A spent token seen
// again is reuse: someone holds a copy, so the whole family is revoked.
func (p *Provider) refreshRequest(ctx context.Context, raw string) (*refreshRequest, error) {
	if raw == "" || len(raw) > maxRefreshTokenSize {
		return nil, invalidRefreshToken()
	}
	t, err := p.store.RefreshToken(ctx, hashToken(raw))
	if err != nil {
		return nil, p.protocolErr(ctx, "refresh token", err, invalidRefreshToken)
	}
	switch {
	case t.Revoked:
		return nil, oidc.ErrInvalidGrant().WithDescription("refresh token revoked")
	case t.Spent:
		p.log.WarnContext(ctx, "spent refresh token presented again; revoking its family",
			"client_id", t.ClientID, "sub", t.Subject, "family", t.FamilyID)
		p.revokeFamily(ctx, t.FamilyID)
		return nil, oidc.ErrInvalidGrant().WithDescription("refresh token already used")
	case !p.now().Before(t.ExpiresAt):
		return nil, invalidRefreshToken()
	}
	// The client's access policy is applied again (policy.go): a grant
	// lasts only as long as the employee may still use the app.
	if _, _, err := p.employeeFor(ctx, t.Subject, t.ClientID, amrOf(t.AMR), oidc.ErrInvalidGrant); err != nil {
		return nil, err
	}
	// So is its registration: a refresh grant lasts only as long as the
	// client may still hold one, and carries only the scopes the client
	// is still allowed (an administrator who takes gongpai:admin from a
	// console takes it from every family the console holds). The family
	// keeps the narrowed scope: allowing the scope again later does not
	// bring it back.
	c, err := p.currentClient(ctx, t.ClientID)
	if err != nil {
		return nil, err
	} else if c == nil {
		return nil, invalidRefreshToken()
	}
	switch {
	case issuedBeforeClient(c, t.CreatedAt):
		return nil, invalidRefreshToken()
	case !slices.Contains(c.c.GrantTypes, GrantRefreshToken) || !c.allows(ScopeOfflineAccess):
		return nil, oidc.ErrInvalidGrant().WithDescription("the client is no longer allowed refresh tokens")
	}
	t.Scopes = allowedNow(c, t.Scopes)
	return &refreshRequest{t: t, scopes: slices.Clone(t.Scopes)}, nil
}

// revokeFamily kills a refresh family and every access token minted from
// it (RevokeFamily, revoke.go). Failures are logged: the caller is
// already refusing the request.
func (p *Provider) revokeFamily(ctx context.Context, family string) error {
	if err := RevokeFamily(ctx, p.store, family); err != nil {
		p.log.ErrorContext(ctx, "revoke refresh family", "family", family, "err", err)
		return err
	}
	return nil
}

// GetRefreshTokenInfo implements op.Storage for revocation. Anything that is
// not one of our refresh tokens is ErrInvalidRefreshToken, so zitadel
// goes on to try it as an access token.
func (p *Provider) GetRefreshTokenInfo(ctx context.Context, clientID, token string) (string, string, error) {
	if token == "" || len(token) > maxRefreshTokenSize {
		return "", "", zop.ErrInvalidRefreshToken
	}
	t, err := p.store.RefreshToken(ctx, hashToken(token))
	if err != nil {
		if isNotFound(err) {
			return "", "", zop.ErrInvalidRefreshToken
		}
		return "", "", p.serverErr(ctx, "refresh token", err)
	}
	return t.Subject, prefixRefresh + t.ID, nil
}

// RevokeToken implements op.Storage (RFC 7009). Unknown tokens are not an
// error; a token of another client is refused; revoking a refresh token
// kills its family and the access tokens issued from it.
func (p *Provider) RevokeToken(ctx context.Context, tokenOrID, userID, clientID string) *oidc.Error {
	if userID == "" {
		// zitadel's last resort passes the raw string it could not
		// identify: by construction not a token of ours.
		return nil
	}
	notYours := func() *oidc.Error {
		return oidc.ErrUnauthorizedClient().WithDescription("token was not issued to this client")
	}
	switch {
	case strings.HasPrefix(tokenOrID, prefixRefresh):
		t, err := p.store.RefreshToken(ctx, strings.TrimPrefix(tokenOrID, prefixRefresh))
		if err != nil {
			if isNotFound(err) {
				return nil
			}
			return p.serverErr(ctx, "refresh token", err)
		}
		if t.ClientID != clientID {
			return notYours()
		}
		if err := p.revokeFamily(ctx, t.FamilyID); err != nil {
			return p.serverErr(ctx, "revoke refresh family", err)
		}
	case strings.HasPrefix(tokenOrID, prefixUserAccess), strings.HasPrefix(tokenOrID, prefixClientAccess):
		t, err := p.store.AccessToken(ctx, tokenOrID)
		if err != nil {
			if isNotFound(err) {
				return nil
			}
			return p.serverErr(ctx, "access token", err)
		}
		if t.ClientID != clientID {
			return notYours()
		}
		if err := p.store.DeleteAccessToken(ctx, tokenOrID); err != nil && !isNotFound(err) {
			return p.serverErr(ctx, "delete access token", err)
		}
	}
	return nil
}

// activeAccessToken checks what zitadel does not (§2.7, §2.9): the token
// record exists, has not expired and belongs to subject.
func (p *Provider) activeAccessToken(ctx context.Context, tokenID, subject string) (*storage.AccessToken, error) {
	if len(tokenID) > maxPresentedToken || strings.HasPrefix(tokenID, prefixCodeTombstone) {
		return nil, invalidToken("unknown access token")
	}
	t, err := p.store.AccessToken(ctx, tokenID)
	if err != nil {
		return nil, p.protocolErr(ctx, "access token", err, func() *oidc.Error { return invalidToken("unknown or expired access token") })
	}
	if t.Subject != subject || !p.now().Before(t.ExpiresAt) {
		return nil, invalidToken("unknown or expired access token")
	}
	c, err := p.currentClient(ctx, t.ClientID)
	if err != nil {
		return nil, err
	}
	if c == nil || issuedBeforeClient(c, t.CreatedAt) {
		return nil, invalidToken("the client of this token was deleted")
	}
	if !IsClientToken(t) {
		// Only the scopes the client is still allowed count.
		t.Scopes = allowedNow(c, t.Scopes)
	}
	return t, nil
}

// activeIdentity loads an employee and refuses one who is frozen or has
// left: their tokens stop working at once, whatever is still stored.
func (p *Provider) activeIdentity(ctx context.Context, subject string, refuse func() *oidc.Error) (*storage.Identity, error) {
	id, err := p.people.Identity(ctx, subject)
	if err != nil {
		return nil, p.protocolErr(ctx, "identity", err, func() *oidc.Error { return refuse().WithDescription("unknown employee") })
	}
	if id.Status != storage.StatusActive {
		return nil, refuse().WithDescription("employee is not active")
	}
	return id, nil
}

// SetUserinfoFromScopes is deprecated in zitadel and deliberately empty;
// SetUserinfoFromRequest does the work.
func (p *Provider) SetUserinfoFromScopes(context.Context, *oidc.UserInfo, string, string, []string) error {
	return nil
}

// SetUserinfoFromRequest implements op.CanSetUserinfoFromRequest: the ID
// token's claims. scopes arrive without profile/email when an access token
// is issued too (OIDC Core §5.4); employee and roles are never stripped.
func (p *Provider) SetUserinfoFromRequest(ctx context.Context, info *oidc.UserInfo, req zop.IDTokenRequest, scopes []string) error {
	var ac authContext
	switch r := req.(type) {
	case authRequest:
		ac = r.authContext()
	case *refreshRequest:
		ac = r.authContext()
	}
	id, c, err := p.employeeFor(ctx, req.GetSubject(), req.GetClientID(), amrOf(ac.AMR), oidc.ErrInvalidGrant)
	if err != nil {
		return err
	}
	setClaims(info, id, c, scopes, ac)
	return nil
}

// SetUserinfoFromToken implements op.Storage: the userinfo endpoint.
func (p *Provider) SetUserinfoFromToken(ctx context.Context, info *oidc.UserInfo, tokenID, subject, _ string) error {
	t, err := p.activeAccessToken(ctx, tokenID, subject)
	if err != nil {
		return err
	}
	if !strings.HasPrefix(t.ID, prefixUserAccess) {
		return invalidToken("the token does not belong to an employee")
	}
	id, c, err := p.employeeFor(ctx, subject, t.ClientID, authMethods{}, func() *oidc.Error { return invalidToken("") })
	if err != nil {
		return err
	}
	setClaims(info, id, c, t.Scopes, authContext{SessionID: t.SessionID})
	return nil
}

// SetIntrospectionFromToken implements op.Storage (RFC 7662). Any error
// makes zitadel answer {"active":false}. The caller must be the client the
// token was issued to or in its audience.
func (p *Provider) SetIntrospectionFromToken(ctx context.Context, resp *oidc.IntrospectionResponse, tokenID, subject, callerID string) error {
	t, err := p.activeAccessToken(ctx, tokenID, subject)
	if err != nil {
		return err
	}
	if t.ClientID != callerID && !slices.Contains(t.Audience, callerID) {
		return invalidToken("not introspectable by this client")
	}
	if strings.HasPrefix(t.ID, prefixUserAccess) {
		id, c, err := p.employeeFor(ctx, subject, t.ClientID, authMethods{}, func() *oidc.Error { return invalidToken("") })
		if err != nil {
			return err
		}
		info := new(oidc.UserInfo)
		setClaims(info, id, c, t.Scopes, authContext{SessionID: t.SessionID})
		resp.SetUserInfo(info)
	}
	resp.Subject = t.Subject
	resp.Scope = slices.Clone(t.Scopes)
	resp.ClientID = t.ClientID
	resp.TokenType = oidc.BearerToken
	resp.Expiration = oidc.FromTime(t.ExpiresAt)
	resp.IssuedAt = oidc.FromTime(t.CreatedAt)
	resp.Audience = slices.Clone(t.Audience)
	resp.Issuer = p.cfg.Issuer
	return nil
}

// GetPrivateClaimsFromScopes implements op.Storage; unused because
// GetPrivateClaimsFromRequest exists.
func (p *Provider) GetPrivateClaimsFromScopes(context.Context, string, string, []string) (map[string]any, error) {
	return nil, nil
}

// GetPrivateClaimsFromRequest implements op.CanGetPrivateClaimsFromRequest
// for JWT access tokens: zitadel leaves out the scope claim.
func (p *Provider) GetPrivateClaimsFromRequest(_ context.Context, req zop.TokenRequest, _ []string) (map[string]any, error) {
	return map[string]any{"scope": strings.Join(req.GetScopes(), " ")}, nil
}

// GetKeyByIDAndClientID implements op.Storage. private_key_jwt and the JWT
// profile grant are not offered.
func (p *Provider) GetKeyByIDAndClientID(context.Context, string, string) (*jose.JSONWebKey, error) {
	return nil, oidc.ErrInvalidClient().WithDescription("private_key_jwt is not supported")
}

// ValidateJWTProfileScopes implements op.Storage; the JWT profile grant is
// not offered.
func (p *Provider) ValidateJWTProfileScopes(context.Context, string, []string) ([]string, error) {
	return nil, oidc.ErrUnsupportedGrantType().WithDescription("jwt-bearer is not supported")
}

// Health implements op.Storage (/ready).
// Health backs /ready: a backend that does not answer makes the replica
// unready (503), without the backend's error text in the answer.
func (p *Provider) Health(ctx context.Context) error {
	if err := p.store.Ping(ctx); err != nil {
		return p.serverErr(ctx, "health check", err)
	}
	return nil
}
