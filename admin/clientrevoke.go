package admin

import (
	"context"
	"fmt"
	"slices"

	"github.com/google/uuid"

	"github.com/gongpai/gongpai/op"
	"github.com/gongpai/gongpai/storage"
)

// forgetClient drops a changed or deleted client from the token
// verifier's cache on this replica (op caches clients for 30 s; other
// replicas within that time, see docs/operations.md).
func (a *api) forgetClient(id string) {
	if cc, ok := a.tokens.(ClientCache); ok {
		cc.ForgetClient(id)
	}
}

// revokeClientTokens ends what a deleted client still holds: every refresh
// family revoked, and the access tokens recorded for those families and,
// for a service account, its own client_credentials tokens deleted. Tokens
// of the client without a refresh family (a sign-in without
// offline_access) are refused at use, because their client is gone
// (op.Provider.VerifyAccessToken, userinfo, introspection). The client row
// is already deleted, so a retry after an error finds nothing to delete;
// the error is reported so the caller knows the revocation may be partial.
func (a *api) revokeClientTokens(ctx context.Context, c *storage.Client) error {
	families, err := a.st.RevokeRefreshTokensOfClient(ctx, c.ID)
	if err != nil {
		return fmt.Errorf("admin: revoking refresh tokens of client %s: %w", c.ID, err)
	}
	for _, f := range families {
		if err := a.st.DeleteAccessTokensOfFamily(ctx, f); err != nil {
			return fmt.Errorf("admin: deleting access tokens of client %s: %w", c.ID, err)
		}
	}
	// A client_credentials token's subject is the client ID. A client ID
	// shaped like a UUID could also be an employee's sub: leave those to
	// the at-use check rather than touch an employee's tokens.
	if slices.Contains(c.GrantTypes, op.GrantClientCredentials) {
		if _, perr := uuid.Parse(c.ID); perr != nil {
			if err := a.st.DeleteAccessTokensOfSubject(ctx, c.ID); err != nil {
				return fmt.Errorf("admin: deleting service tokens of client %s: %w", c.ID, err)
			}
		}
	}
	return nil
}
