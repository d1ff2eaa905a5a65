package op

import (
	"context"
	"errors"

	"github.com/zitadel/oidc/v3/pkg/oidc"

	"github.com/gongpai/gongpai/storage"
)

// Code replay (RFC 6749 §4.1.2: "If an authorization code is used more
// than once, the authorization server MUST deny the request and SHOULD
// revoke (when possible) all tokens previously issued based on that
// authorization code"; RFC 9700 §4.5).
//
// Every code exchange is a grant with an ID of its own, drawn before any
// token is minted. The refresh family the exchange starts (if any) is that
// ID, and the access token it issues records it as its family even when no
// refresh token comes with it, so revokeFamily(grant) kills everything the
// code produced, including what later refreshes rotated out of it.
//
// Before the code is taken, a tombstone of it is written to the ephemeral
// store for the code's lifetime: a record in the access-token table whose
// ID is prefixCodeTombstone + SHA-256(code) and whose RefreshFamily is the
// grant. The store refuses a second record with that ID, which is how a
// second redemption, concurrent or later, is recognised: it revokes the
// grant it finds and deletes the tombstone, and is refused. Only the
// client that redeemed the code can replay it: another client presenting
// it is refused without touching anything (checkPresenter refuses it
// before the tombstone while the auth request is readable, codeReplayed
// after). The first
// redemption checks, once its tokens are recorded, that its own tombstone
// is still there; if a replay got in while it was minting, it revokes what
// it just issued and fails. Either way no token issued from a replayed code
// survives, and of concurrent redemptions at most one gets tokens (and
// those are revoked by the others). A code that turns out not to be
// takeable (unknown, expired, a backend fault) has its fresh tombstone
// removed again, so a retry after an outage is not mistaken for a replay.
//
// No presented token can name a tombstone (token IDs come out of our own
// encrypted or signed tokens and are at_/ct_; activeAccessToken refuses
// the prefix besides), and its subject is its own ID, so it shares no
// index with an employee's tokens. Revoking the grant (reuse of a spent
// refresh token, RFC 7009 revocation) deletes the tombstone with the
// family's access tokens; a later replay then has nothing left to revoke.
const prefixCodeTombstone = "cu_"

func codeTombstoneID(code string) string { return prefixCodeTombstone + hashToken(code) }

// grantKey carries the code exchange's grant ID from CodeExchange to the
// token records (CreateAccessToken, CreateAccessAndRefreshTokens).
type grantKey struct{}

func withGrant(ctx context.Context, grant string) context.Context {
	return context.WithValue(ctx, grantKey{}, grant)
}

func grantFrom(ctx context.Context) string {
	g, _ := ctx.Value(grantKey{}).(string)
	return g
}

// beginRedemption writes the code's tombstone with a fresh grant ID and
// returns ctx carrying the grant. When the code's redemption had begun
// before, this is a replay: every token issued from the code is revoked and
// the result is invalid_grant.
func (p *Provider) beginRedemption(ctx context.Context, code, clientID string) (context.Context, error) {
	if code == "" || len(code) > maxPresentedToken {
		return nil, errCodeUsed()
	}
	grant, err := randomID(familyIDBytes)
	if err != nil {
		return nil, p.serverErr(ctx, "grant id", err)
	}
	id, now := codeTombstoneID(code), p.now()
	err = p.store.CreateAccessToken(ctx, &storage.AccessToken{
		ID:            id,
		ClientID:      clientID,
		Subject:       id,
		RefreshFamily: grant,
		CreatedAt:     now,
		ExpiresAt:     now.Add(p.cfg.CodeTTL),
	})
	switch {
	case err == nil:
		return withGrant(ctx, grant), nil
	case errors.Is(err, storage.ErrConflict):
		p.codeReplayed(ctx, id, clientID)
		return nil, errCodeUsed()
	}
	return nil, p.serverErr(ctx, "record code redemption", err)
}

// abandonRedemption removes this redemption's tombstone after the code
// could not be taken: nothing was issued from it. (Should the tombstone be
// another redemption's by now, that one finds it gone in confirmGrant and
// revokes itself, which is right: the code was presented three times.)
func (p *Provider) abandonRedemption(ctx context.Context, code string) {
	if err := p.store.DeleteAccessToken(ctx, codeTombstoneID(code)); err != nil && !isNotFound(err) {
		p.log.ErrorContext(ctx, "delete code tombstone", "err", err)
	}
}

// confirmGrant runs after the tokens of a code exchange were recorded:
// when the tombstone is gone or another's, the code was replayed meanwhile
// (or the backend lost it), and what was just issued is revoked.
func (p *Provider) confirmGrant(ctx context.Context, code string) error {
	grant := grantFrom(ctx)
	t, err := p.store.AccessToken(ctx, codeTombstoneID(code))
	if err == nil && t.RefreshFamily == grant {
		return nil
	}
	if rerr := p.revokeFamily(ctx, grant); rerr != nil {
		return p.serverErr(ctx, "revoke replayed grant", rerr)
	}
	if err == nil || isNotFound(err) {
		p.log.WarnContext(ctx, "authorization code presented again while it was being redeemed; tokens issued from it revoked",
			"family", grant)
		return errCodeUsed()
	}
	return p.serverErr(ctx, "check code redemption", err)
}

// codeReplayed handles a second redemption: the grant recorded in the
// tombstone is revoked and the tombstone deleted (so a redemption still
// minting notices, in confirmGrant).
func (p *Provider) codeReplayed(ctx context.Context, id, presentedBy string) {
	t, err := p.store.AccessToken(ctx, id)
	if err != nil {
		if !isNotFound(err) {
			p.log.ErrorContext(ctx, "look up code redemption", "err", err)
		}
		return
	}
	if t.ClientID != presentedBy {
		// Another client than the one that redeemed it cannot have got
		// tokens from it, and must not be able to revoke the ones its
		// own client got: refused, nothing touched (the tombstone too,
		// or a redemption still minting would revoke itself).
		p.log.WarnContext(ctx, "authorization code presented by another client than it was redeemed by; refused, nothing revoked",
			"client_id", presentedBy, "redeemed_by", t.ClientID)
		return
	}
	p.log.WarnContext(ctx, "authorization code used twice; revoking every token issued from it",
		"client_id", presentedBy, "family", t.RefreshFamily)
	if t.RefreshFamily != "" {
		_ = p.revokeFamily(ctx, t.RefreshFamily) // logged there
	}
	if err := p.store.DeleteAccessToken(ctx, id); err != nil && !isNotFound(err) {
		p.log.ErrorContext(ctx, "delete code tombstone", "err", err)
	}
}

// checkPresenter refuses, before the code is tombstoned or taken, a code
// presented by another client than the one it was issued to or with
// another redirect_uri than the authorization request's. zitadel's codes
// are the auth request ID encrypted with the crypto key, so the request
// can be read without consuming anything. Such a presentation burns
// nothing, revokes nothing, and leaves the code good for its own client:
// otherwise any client (or a wrong redirect_uri) could spend someone
// else's code, and the legitimate redemption would then be taken for a
// replay. When the request cannot be read (an unknown or forged code, one
// already redeemed, a backend fault) this decides nothing; the
// redemption goes on and refuses or detects the replay as before, the
// client and redirect_uri being checked again once the code is taken.
func (p *Provider) checkPresenter(ctx context.Context, code, clientID, redirectURI string) error {
	if code == "" || len(code) > maxPresentedToken {
		return nil
	}
	id, err := p.oidc.Crypto().Decrypt(code)
	if err != nil || id == "" || len(id) > maxPresentedToken {
		return nil
	}
	ar, err := p.store.AuthRequest(ctx, id)
	if err != nil {
		return nil
	}
	switch {
	case ar.ClientID != clientID:
		p.log.WarnContext(ctx, "authorization code presented by another client than it was issued to; refused, nothing revoked",
			"client_id", clientID, "issued_to", ar.ClientID)
		return oidc.ErrInvalidGrant().WithDescription("code was issued to another client")
	case ar.RedirectURI != redirectURI:
		return oidc.ErrInvalidGrant().WithDescription("redirect_uri does not match the authorization request")
	}
	return nil
}

func errCodeUsed() *oidc.Error {
	return oidc.ErrInvalidGrant().WithDescription("invalid, expired or already used code")
}
