package op

import (
	"context"
	"log/slog"
	"slices"
	"time"

	"github.com/zitadel/oidc/v3/pkg/oidc"
	zop "github.com/zitadel/oidc/v3/pkg/op"

	"github.com/gongpai/gongpai/storage"
)

// authRequestIDBytes makes auth request IDs 256-bit random: the callback
// is unauthenticated, so possessing the ID must be unguessable.
const authRequestIDBytes = 32

// authRequest adapts storage.AuthRequest to zitadel's op.AuthRequest.
type authRequest struct{ r *storage.AuthRequest }

var (
	_ zop.AuthRequest    = authRequest{}
	_ zop.LogAuthRequest = authRequest{}
)

func (a authRequest) GetID() string         { return a.r.ID }
func (a authRequest) GetACR() string        { return a.r.ACR }
func (a authRequest) GetAudience() []string { return []string{a.r.ClientID} }
func (a authRequest) GetAuthTime() time.Time {
	return a.r.AuthTime
}
func (a authRequest) GetClientID() string    { return a.r.ClientID }
func (a authRequest) GetNonce() string       { return a.r.Nonce }
func (a authRequest) GetRedirectURI() string { return a.r.RedirectURI }
func (a authRequest) GetResponseType() oidc.ResponseType {
	return oidc.ResponseType(a.r.ResponseType)
}
func (a authRequest) GetResponseMode() oidc.ResponseMode {
	return oidc.ResponseMode(a.r.ResponseMode)
}
func (a authRequest) GetScopes() []string { return a.r.Scopes }
func (a authRequest) GetState() string    { return a.r.State }
func (a authRequest) GetSubject() string  { return a.r.Subject }
func (a authRequest) Done() bool          { return a.r.Done }

// GetAMR returns the methods login-ui recorded, and only once the employee
// is authenticated.
func (a authRequest) GetAMR() []string {
	if !a.r.Done {
		return nil
	}
	return a.r.AMR
}

func (a authRequest) GetCodeChallenge() *oidc.CodeChallenge {
	if a.r.CodeChallenge == "" {
		return nil
	}
	return &oidc.CodeChallenge{Challenge: a.r.CodeChallenge, Method: oidc.CodeChallengeMethod(a.r.CodeChallengeMethod)}
}

func (a authRequest) authContext() authContext {
	return authContext{SessionID: a.r.SessionID, AuthTime: a.r.AuthTime, AMR: a.r.AMR, ACR: a.r.ACR}
}

// LogValue keeps secrets (state, nonce, challenge) out of zitadel's logs.
func (a authRequest) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("id", a.r.ID),
		slog.String("client_id", a.r.ClientID),
		slog.String("redirect_uri", a.r.RedirectURI),
	)
}

// CreateAuthRequest implements op.Storage. It runs after zitadel checked
// the redirect URI, prompt and response type, and tightens the rest:
// only response_type=code, only S256 PKCE (G18), PKCE mandatory for public
// clients, scopes limited to the client's list, openid required. Every
// refusal is an *oidc.Error, which zitadel sends to the redirect URI.
func (p *Provider) CreateAuthRequest(ctx context.Context, req *oidc.AuthRequest, hintSubject string) (zop.AuthRequest, error) {
	c, err := p.lookupClient(ctx, req.ClientID)
	if err != nil {
		return nil, err
	}
	if e := checkAuthRequestSizes(req); e != nil {
		return nil, e
	}
	if req.ResponseType != oidc.ResponseTypeCode {
		return nil, unsupportedResponseType("only response_type=code is supported")
	}
	switch req.ResponseMode {
	case "", oidc.ResponseModeQuery:
	default:
		return nil, oidc.ErrInvalidRequest().WithDescription("only response_mode=query is supported")
	}
	switch {
	case req.CodeChallenge == "" && req.CodeChallengeMethod != "":
		return nil, oidc.ErrInvalidRequest().WithDescription("code_challenge_method without code_challenge")
	case req.CodeChallenge != "" && req.CodeChallengeMethod != oidc.CodeChallengeMethodS256:
		// plain, and an empty method (which RFC 7636 defaults to plain),
		// give no protection against a leaked authorization request.
		return nil, oidc.ErrInvalidRequest().WithDescription("code_challenge_method must be S256")
	case req.CodeChallenge != "" && !validPKCEValue(req.CodeChallenge):
		return nil, oidc.ErrInvalidRequest().WithDescription("code_challenge is malformed")
	case req.CodeChallenge == "" && c.c.Public:
		return nil, oidc.ErrInvalidRequest().WithDescription("PKCE (S256) is required for public clients")
	}
	var scopes []string
	for _, s := range req.Scopes {
		if !c.allows(s) || slices.Contains(scopes, s) {
			continue
		}
		if s == ScopeOfflineAccess && !slices.Contains(c.c.GrantTypes, GrantRefreshToken) {
			continue // no refresh token could be issued anyway
		}
		scopes = append(scopes, s)
	}
	if !slices.Contains(scopes, ScopeOpenID) {
		return nil, oidc.ErrInvalidScope().WithDescription("the openid scope is required and must be allowed for the client")
	}

	id, err := randomID(authRequestIDBytes)
	if err != nil {
		return nil, p.serverErr(ctx, "auth request id", err)
	}
	now := p.now()
	r := &storage.AuthRequest{
		ID:                  id,
		ClientID:            c.c.ID,
		RedirectURI:         req.RedirectURI,
		Scopes:              scopes,
		State:               req.State,
		Nonce:               req.Nonce,
		ResponseType:        string(req.ResponseType),
		ResponseMode:        string(req.ResponseMode),
		CodeChallenge:       req.CodeChallenge,
		CodeChallengeMethod: string(req.CodeChallengeMethod),
		Prompt:              slices.Clone([]string(req.Prompt)),
		LoginHint:           req.LoginHint,
		ACRValues:           slices.Clone([]string(req.ACRValues)),
		HintSubject:         hintSubject,
		CreatedAt:           now,
		ExpiresAt:           now.Add(p.cfg.AuthRequestTTL),
	}
	slot := bindingSlotFrom(ctx) // nil outside /authorize: bound to no browser
	if slot != nil {
		r.BrowserBinding = slot.hash
	}
	if req.MaxAge != nil {
		d := time.Duration(*req.MaxAge) * time.Second
		r.MaxAge = &d
	}
	for _, tag := range req.UILocales {
		r.UILocales = append(r.UILocales, tag.String())
	}
	if err := p.store.CreateAuthRequest(ctx, r); err != nil {
		return nil, p.serverErr(ctx, "create auth request", err)
	}
	if slot != nil {
		slot.id = id
	}
	return authRequest{r}, nil
}

// validPKCEValue checks RFC 7636 §4.1 syntax (43–128 unreserved
// characters); an S256 challenge is 43 base64url characters.
func validPKCEValue(s string) bool {
	if len(s) < 43 || len(s) > 128 {
		return false
	}
	for _, r := range s {
		switch {
		case r >= 'A' && r <= 'Z', r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '-', r == '.', r == '_', r == '~':
		default:
			return false
		}
	}
	return true
}

// AuthRequestByID implements op.Storage (the /authorize/callback lookup).
func (p *Provider) AuthRequestByID(ctx context.Context, id string) (zop.AuthRequest, error) {
	r, err := p.store.AuthRequest(ctx, id)
	if err != nil {
		return nil, p.protocolErr(ctx, "auth request", err, func() *oidc.Error {
			return oidc.ErrInvalidRequest().WithDescription("unknown or expired authorization request")
		})
	}
	return authRequest{r}, nil
}

// SaveAuthCode implements op.Storage. A request gets one code: reloading
// the callback does not mint a second one.
func (p *Provider) SaveAuthCode(ctx context.Context, id, code string) error {
	err := p.store.SaveAuthCode(ctx, id, code, p.cfg.CodeTTL)
	return p.protocolErr(ctx, "save auth code", err, func() *oidc.Error {
		return oidc.ErrInvalidRequest().WithDescription("a code was already issued for this authorization request")
	})
}

// AuthRequestByCode implements op.Storage with the atomic take: of two
// redemptions exactly one gets the request (G5).
func (p *Provider) AuthRequestByCode(ctx context.Context, code string) (zop.AuthRequest, error) {
	r, err := p.takeCode(ctx, code)
	if err != nil {
		return nil, err
	}
	return r, nil
}

func (p *Provider) takeCode(ctx context.Context, code string) (authRequest, error) {
	r, err := p.store.TakeAuthCode(ctx, code)
	if err != nil {
		return authRequest{}, p.protocolErr(ctx, "take auth code", err, func() *oidc.Error {
			return oidc.ErrInvalidGrant().WithDescription("invalid, expired or already used code")
		})
	}
	if !r.Done || r.Subject == "" {
		return authRequest{}, oidc.ErrInvalidGrant().WithDescription("authorization request is not complete")
	}
	return authRequest{r}, nil
}

// DeleteAuthRequest implements op.Storage; zitadel calls it after minting
// tokens. Already gone is fine.
func (p *Provider) DeleteAuthRequest(ctx context.Context, id string) error {
	err := p.store.DeleteAuthRequest(ctx, id)
	if err == nil || isNotFound(err) {
		return nil
	}
	return p.serverErr(ctx, "delete auth request", err)
}
