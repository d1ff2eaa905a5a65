package op

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/zitadel/oidc/v3/pkg/oidc"
	zop "github.com/zitadel/oidc/v3/pkg/op"

	"github.com/gongpai/gongpai/storage"
)

// ErrInvalidToken is VerifyAccessToken's one answer for a token that is
// not ours, malformed, expired, revoked, or held by an employee who is no
// longer active.
var ErrInvalidToken = errors.New("op: invalid or expired access token")

// VerifyAccessToken resolves a bearer access token this provider issued,
// opaque or JWT, to its record, the way userinfo and introspection do:
// the opaque form is decrypted with the crypto key, the JWT form verified
// against the published keys, and either way the stored record must still
// exist (revocation, a freeze or a departure deletes it) and not be
// expired. An employee's token also needs the employee to be active. The
// record's Subject is the employee's sub, or the client ID for a
// client_credentials token (then Subject == ClientID and IsClientToken
// reports true). Other errors are backend faults.
func (p *Provider) VerifyAccessToken(ctx context.Context, raw string) (*storage.AccessToken, error) {
	if raw == "" || len(raw) > maxPresentedToken {
		return nil, ErrInvalidToken
	}
	ctx = p.issuerContext(ctx)
	tokenID, subject, ok := p.tokenIDAndSubject(ctx, raw)
	if !ok || strings.HasPrefix(tokenID, prefixCodeTombstone) {
		// A code's tombstone lives among the access-token records
		// (codereplay.go); no token may name it.
		return nil, ErrInvalidToken
	}
	t, err := p.store.AccessToken(ctx, tokenID)
	if err != nil {
		if isNotFound(err) {
			return nil, ErrInvalidToken
		}
		return nil, fmt.Errorf("op: access token: %w", err)
	}
	if t.Subject != subject || !p.now().Before(t.ExpiresAt) {
		return nil, ErrInvalidToken
	}
	c, err := p.clients.get(ctx, t.ClientID)
	if err != nil {
		if isNotFound(err) {
			return nil, ErrInvalidToken // a deleted client's tokens die with it
		}
		return nil, fmt.Errorf("op: client %s: %w", t.ClientID, err)
	}
	cl := &client{c: c}
	if issuedBeforeClient(cl, t.CreatedAt) {
		return nil, ErrInvalidToken // issued to an earlier, deleted client of that ID
	}
	if IsClientToken(t) {
		return t, nil
	}
	// Only the scopes the client is still allowed count: taking
	// gongpai:admin from a console takes it from the tokens it holds.
	t.Scopes = allowedNow(cl, t.Scopes)
	id, err := p.people.Identity(ctx, t.Subject)
	if err != nil {
		if isNotFound(err) {
			return nil, ErrInvalidToken
		}
		return nil, fmt.Errorf("op: identity: %w", err)
	}
	if id.Status != storage.StatusActive {
		return nil, ErrInvalidToken
	}
	return t, nil
}

// IsClientToken reports whether t was issued to a client for itself
// (client_credentials), not to an employee.
func IsClientToken(t *storage.AccessToken) bool { return strings.HasPrefix(t.ID, prefixClientAccess) }

// tokenIDAndSubject is zitadel's own resolution (op.getTokenIDAndSubject):
// the opaque token is "id:subject" encrypted; a JWT carries jti and sub.
func (p *Provider) tokenIDAndSubject(ctx context.Context, raw string) (string, string, bool) {
	if plain, err := p.oidc.Crypto().Decrypt(raw); err == nil {
		id, sub, ok := strings.Cut(plain, ":")
		return id, sub, ok && id != "" && !strings.Contains(sub, ":")
	}
	claims, err := zop.VerifyAccessToken[*oidc.AccessTokenClaims](ctx, raw, p.oidc.AccessTokenVerifier(ctx))
	if err != nil || claims.JWTID == "" {
		return "", "", false
	}
	return claims.JWTID, claims.Subject, true
}
