package op

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/google/uuid"
	"github.com/zitadel/oidc/v3/pkg/oidc"

	"github.com/gongpai/gongpai/storage"
)

// FamilyRevoker is the slice of the stores that ending a refresh family
// needs: the refresh tokens are durable, the access-token records
// ephemeral. Every storage.Store satisfies it.
type FamilyRevoker interface {
	RevokeRefreshFamily(ctx context.Context, familyID string) error
	DeleteAccessTokensOfFamily(ctx context.Context, familyID string) error
}

// ClientTokenRevoker is what RevokeClientTokens needs besides.
type ClientTokenRevoker interface {
	FamilyRevoker
	RevokeRefreshTokensOfClient(ctx context.Context, clientID string) (families []string, err error)
	DeleteAccessTokensOfSubject(ctx context.Context, subject string) error
}

// RevokeFamily is the one way a refresh family ends, whoever ends it
// (reuse of a spent refresh token, a replayed code, RFC 7009 revocation,
// a client deleted or narrowed through the admin API): every refresh
// token of the family is revoked, then every access token recorded for it
// deleted. A family or token already gone is not an error. Revoking comes
// first, so a failure half-way leaves no refresh token able to mint new
// access tokens.
func RevokeFamily(ctx context.Context, s FamilyRevoker, family string) error {
	if family == "" {
		return nil // "" is the family of tokens that have none: never all of them
	}
	if err := s.RevokeRefreshFamily(ctx, family); err != nil && !isNotFound(err) {
		return fmt.Errorf("op: revoke refresh family: %w", err)
	}
	if err := s.DeleteAccessTokensOfFamily(ctx, family); err != nil && !isNotFound(err) {
		return fmt.Errorf("op: delete access tokens of family: %w", err)
	}
	return nil
}

// RevokeClientTokens ends what client c holds in the shared stores: every
// refresh family issued to it (RevokeFamily) and, for a service account,
// its own client_credentials tokens. The admin API calls it when a client
// is deleted, and when a change takes scopes or grant types away from it.
// Access tokens of a sign-in without offline_access have no refresh
// family and are not reached here; they are refused at use instead (their
// client is gone, or the scope they carry is no longer the client's:
// VerifyAccessToken, userinfo and introspection check the client's current
// registration, and a deleted-then-recreated client ID does not revive
// tokens older than the new registration).
func RevokeClientTokens(ctx context.Context, s ClientTokenRevoker, c *storage.Client) error {
	families, err := s.RevokeRefreshTokensOfClient(ctx, c.ID)
	if err != nil {
		return fmt.Errorf("op: revoking refresh tokens of client %s: %w", c.ID, err)
	}
	for _, f := range families {
		if err := RevokeFamily(ctx, s, f); err != nil {
			return fmt.Errorf("op: client %s: %w", c.ID, err)
		}
	}
	// A client_credentials token's subject is the client ID. A client ID
	// shaped like a UUID could also be an employee's sub: leave those to
	// the at-use check rather than touch an employee's tokens.
	if slices.Contains(c.GrantTypes, GrantClientCredentials) {
		if _, perr := uuid.Parse(c.ID); perr != nil {
			if err := s.DeleteAccessTokensOfSubject(ctx, c.ID); err != nil && !isNotFound(err) {
				return fmt.Errorf("op: deleting service tokens of client %s: %w", c.ID, err)
			}
		}
	}
	return nil
}

// Narrows reports whether changing a client from before to after takes
// something away from the tokens it holds: a scope or a grant type
// before had and after lacks. The admin API then revokes the client's
// tokens (RevokeClientTokens).
func Narrows(before, after *storage.Client) bool {
	lost := func(old, cur []string) bool {
		return slices.ContainsFunc(old, func(s string) bool { return !slices.Contains(cur, s) })
	}
	return lost(before.Scopes, after.Scopes) || lost(before.GrantTypes, after.GrantTypes)
}

// allowedNow keeps the scopes of a token that client c still allows: a
// scope taken from the client since the token was issued no longer
// counts, whatever the token's record says.
func allowedNow(c *client, scopes []string) []string {
	out := make([]string, 0, len(scopes))
	for _, s := range scopes {
		if c.allows(s) && !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}

// issuedBeforeClient reports whether a token created at created predates
// client c's registration: it was issued to an earlier client with the
// same ID, since deleted, and the new registration must not revive it.
func issuedBeforeClient(c *client, created time.Time) bool {
	return !c.c.CreatedAt.IsZero() && created.Before(c.c.CreatedAt)
}

// currentClient is the client a token was issued to as registered now;
// nil when it no longer exists. Any other error is a server_error.
func (p *Provider) currentClient(ctx context.Context, id string) (*client, error) {
	c, err := p.lookupClient(ctx, id)
	if err != nil {
		if oe := new(oidc.Error); errors.As(err, &oe) && oe.ErrorType == oidc.ServerError {
			return nil, err
		}
		return nil, nil
	}
	return c, nil
}
