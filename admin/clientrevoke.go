package admin

import (
	"context"
	"fmt"

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

// revokeClientTokens ends what a deleted or narrowed client still holds
// (op.RevokeClientTokens: every refresh family revoked, the access tokens
// recorded for those families and, for a service account, its own
// client_credentials tokens deleted). Tokens of the client without a
// refresh family (a sign-in without offline_access) are refused at use,
// because their client is gone or no longer allows their scope
// (op.Provider.VerifyAccessToken, userinfo, introspection, and
// principalOf's own check of gongpai:admin). After a deletion the client
// row is already gone, so a retry after an error finds nothing to delete;
// the error is reported so the caller knows the revocation may be partial.
func (a *api) revokeClientTokens(ctx context.Context, c *storage.Client) error {
	if err := op.RevokeClientTokens(ctx, a.st, c); err != nil {
		return fmt.Errorf("admin: %w", err)
	}
	return nil
}
