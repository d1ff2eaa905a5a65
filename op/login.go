package op

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	zop "github.com/zitadel/oidc/v3/pkg/op"

	"github.com/gongpai/gongpai/clientpolicy"
	"github.com/gongpai/gongpai/storage"
)

// Errors of the login-ui API.
var (
	// ErrMFARequired: Complete was called without "mfa" in the AMR for a
	// client that requires it.
	ErrMFARequired = errors.New("op: this client requires multi-factor authentication")
	// ErrBadLogoutRequest: the lr parameter is not one this issuer sealed,
	// or it has expired.
	ErrBadLogoutRequest = errors.New("op: invalid or expired logout request")
)

// errorRedirectCodes are the errors login-ui may send back to a client
// (RFC 6749 §4.1.2.1, OIDC Core §3.1.2.6).
var errorRedirectCodes = []string{
	"access_denied", "login_required", "interaction_required", "consent_required",
	"account_selection_required", "invalid_request", "server_error", "temporarily_unavailable",
}

// AuthRequest returns a pending auth request for login-ui: storage
// errors pass through (storage.ErrNotFound when unknown or expired).
func (p *Provider) AuthRequest(ctx context.Context, id string) (*storage.AuthRequest, error) {
	return p.store.AuthRequest(ctx, id)
}

// Client returns a client for login-ui (policy checks, display name).
// The value is a copy; storage errors pass through.
func (p *Provider) Client(ctx context.Context, id string) (*storage.Client, error) {
	c, err := p.clients.get(ctx, id)
	if err != nil {
		return nil, err
	}
	cp := *c
	return &cp, nil
}

// Complete records that the employee authenticated for auth request id and
// returns the absolute /authorize/callback URL to send the browser to,
// where the code is minted.
func (p *Provider) Complete(ctx context.Context, id string, res storage.AuthResult) (string, error) {
	if res.Subject == "" || res.AuthTime.IsZero() || len(res.AMR) == 0 {
		return "", errors.New("op: Complete needs a subject, an auth time and the authentication methods")
	}
	r, err := p.store.AuthRequest(ctx, id)
	if err != nil {
		return "", err
	}
	c, err := p.clients.get(ctx, r.ClientID)
	if err != nil {
		return "", err
	}
	if !clientpolicy.MFASatisfied(c, res.AMR) {
		return "", ErrMFARequired
	}
	res.AuthTime = res.AuthTime.UTC().Truncate(time.Second)
	res.AMR = slices.Clone(res.AMR)
	if err := p.store.CompleteAuthRequest(ctx, id, res); err != nil {
		return "", err
	}
	return zop.AuthCallbackURL(p.oidc)(p.issuerContext(ctx), id), nil
}

// ErrorRedirect ends auth request id with an OAuth error and returns the
// URL to send the browser to: the provider's own hop (pathErrorReturn),
// which deletes the request's browser-binding cookie and redirects to the
// client's redirect URI carrying error, error_description and state. The
// request is deleted: the client has to start over.
func (p *Provider) ErrorRedirect(ctx context.Context, id, oauthErr, description string) (string, error) {
	if !slices.Contains(errorRedirectCodes, oauthErr) {
		return "", fmt.Errorf("op: %q is not an error a client may be sent", oauthErr)
	}
	r, err := p.store.AuthRequest(ctx, id)
	if err != nil {
		return "", err
	}
	u, err := url.Parse(r.RedirectURI)
	if err != nil {
		return "", fmt.Errorf("op: stored redirect URI: %w", err)
	}
	q := u.Query()
	q.Set("error", oauthErr)
	if description != "" {
		q.Set("error_description", description)
	}
	if r.State != "" {
		q.Set("state", r.State)
	}
	u.RawQuery = q.Encode()
	hop, err := p.errorReturnURL(r, u.String())
	if err != nil {
		return "", fmt.Errorf("op: error redirect: %w", err)
	}
	if err := p.store.DeleteAuthRequest(ctx, id); err != nil && !isNotFound(err) {
		return "", err
	}
	return hop, nil
}

// LogoutRequest is what end_session hands login-ui's logout page.
type LogoutRequest struct {
	RedirectURI string // validated post_logout_redirect_uri with state, or ""
	Subject     string // from a verified id_token_hint, or ""
	ClientID    string
	ExpiresAt   time.Time
}

type logoutPayload struct {
	RedirectURI string `json:"redirect_uri,omitempty"`
	Subject     string `json:"sub,omitempty"`
	ClientID    string `json:"client_id,omitempty"`
	Expires     int64  `json:"exp"`
}

// logoutAAD binds sealed logout requests to their purpose, so no other
// sealed value (a TOTP seed, a flow cookie) can be passed off as one.
var logoutAAD = []byte("gongpai/op/logout-request")

// TerminateSessionFromRequest implements op.CanTerminateSessionFromRequest.
// Ending the SSO session needs the cookie, which only login-ui sees, so the
// browser is sent there with the validated request sealed into lr.
func (p *Provider) TerminateSessionFromRequest(ctx context.Context, req *zop.EndSessionRequest) (string, error) {
	redirect := req.RedirectURI
	if def := p.loggedOutURL(); redirect == def || strings.HasPrefix(redirect, def+"?") {
		redirect = "" // no valid post_logout_redirect_uri: login-ui shows its own page
	}
	pl := logoutPayload{
		RedirectURI: redirect,
		Subject:     req.UserID,
		ClientID:    req.ClientID,
		Expires:     p.now().Add(p.cfg.AuthRequestTTL).Unix(),
	}
	b, err := json.Marshal(pl)
	if err != nil {
		return "", p.serverErr(ctx, "logout request", err)
	}
	sealed, err := p.cfg.Sealer.Seal(b, logoutAAD)
	if err != nil {
		return "", p.serverErr(ctx, "seal logout request", err)
	}
	return p.cfg.LogoutPath + "?lr=" + url.QueryEscape(string(sealed)), nil
}

// TerminateSession implements op.Storage; unused, since
// TerminateSessionFromRequest takes precedence.
func (p *Provider) TerminateSession(context.Context, string, string) error { return nil }

// OpenLogoutRequest opens the lr parameter TerminateSessionFromRequest
// made. ErrBadLogoutRequest when it was not sealed here or has expired.
func (p *Provider) OpenLogoutRequest(lr string) (*LogoutRequest, error) {
	b, err := p.cfg.Sealer.Open([]byte(lr), logoutAAD)
	if err != nil {
		return nil, ErrBadLogoutRequest
	}
	var pl logoutPayload
	if err := json.Unmarshal(b, &pl); err != nil {
		return nil, ErrBadLogoutRequest
	}
	exp := time.Unix(pl.Expires, 0).UTC()
	if !p.now().Before(exp) {
		return nil, ErrBadLogoutRequest
	}
	return &LogoutRequest{RedirectURI: pl.RedirectURI, Subject: pl.Subject, ClientID: pl.ClientID, ExpiresAt: exp}, nil
}
