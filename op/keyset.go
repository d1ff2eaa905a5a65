package op

import (
	"context"
	"crypto"
	"fmt"
	"slices"
	"strings"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	zop "github.com/zitadel/oidc/v3/pkg/op"

	"github.com/gongpai/gongpai/keys"
)

// signingKey adapts the key manager's active signer to zitadel.
type signingKey struct {
	kid, alg string
	key      crypto.Signer
}

func (k signingKey) SignatureAlgorithm() jose.SignatureAlgorithm {
	return jose.SignatureAlgorithm(k.alg)
}
func (k signingKey) Key() any   { return k.key }
func (k signingKey) ID() string { return k.kid }

// publicKey adapts a published JWK to zitadel's op.Key.
type publicKey struct{ jwk jose.JSONWebKey }

func (k publicKey) ID() string { return k.jwk.KeyID }
func (k publicKey) Algorithm() jose.SignatureAlgorithm {
	return jose.SignatureAlgorithm(k.jwk.Algorithm)
}
func (k publicKey) Use() string { return k.jwk.Use }
func (k publicKey) Key() any    { return k.jwk.Key }

// SigningKey implements op.Storage: a pointer load, the key was unsealed at
// keys.Manager.Load. zitadel does not tell it the client, so the token
// handlers put the client's id_token_signed_response_alg into ctx
// (withSigningAlg); the active key of that algorithm signs when there is
// one, the default signer otherwise.
func (p *Provider) SigningKey(ctx context.Context) (zop.SigningKey, error) {
	kid, alg, key := p.keys.Signer(signingAlgFrom(ctx))
	if key == nil {
		return nil, p.serverErr(ctx, "signing key", keys.ErrNoSigningKey)
	}
	return signingKey{kid: kid, alg: alg, key: key}, nil
}

// SignatureAlgorithms implements op.Storage: discovery's
// id_token_signing_alg_values_supported. It lists every algorithm of
// keys.algorithms that has a key in the JWKS (a next key included: a
// client may register for it, and its tokens are signed with it from the
// key's activation), in the configured order, so the default comes first;
// then any algorithm that still signs although it was dropped from the
// configuration. Listing only the algorithms that sign at this instant
// would hide a configured algorithm from relying parties for the minutes
// around a first key's publication.
func (p *Provider) SignatureAlgorithms(context.Context) ([]jose.SignatureAlgorithm, error) {
	var algs []string
	published := p.keys.Published()
	for _, a := range p.keys.Policy().Algorithms {
		if slices.ContainsFunc(published, func(k jose.JSONWebKey) bool { return k.Algorithm == a }) && !slices.Contains(algs, a) {
			algs = append(algs, a)
		}
	}
	for _, a := range p.keys.Algorithms() {
		if !slices.Contains(algs, a) {
			algs = append(algs, a)
		}
	}
	out := make([]jose.SignatureAlgorithm, len(algs))
	for i, a := range algs {
		out[i] = jose.SignatureAlgorithm(a)
	}
	return out, nil
}

// KeySet implements op.Storage: the published keys. zitadel's own
// verifiers do not use it (they get verificationKeySet, which reloads on
// an unknown kid); /keys is served by serveJWKS.
func (p *Provider) KeySet(context.Context) ([]zop.Key, error) {
	pub := p.keys.Published()
	out := make([]zop.Key, len(pub))
	for i, k := range pub {
		out[i] = publicKey{k}
	}
	return out, nil
}

// signingAlgKey carries a client's id_token_signed_response_alg from the
// token handler to SigningKey.
type signingAlgKey struct{}

// withSigningAlg records the algorithm client c asked for (if any) for the
// tokens minted under ctx. It applies to the ID token and to a JWT access
// token alike: zitadel asks SigningKey for both without saying which.
func withSigningAlg(ctx context.Context, c zop.Client) context.Context {
	if cl, ok := c.(*client); ok && cl.c.IDTokenSignedResponseAlg != "" {
		return context.WithValue(ctx, signingAlgKey{}, cl.c.IDTokenSignedResponseAlg)
	}
	return ctx
}

func signingAlgFrom(ctx context.Context) string {
	alg, _ := ctx.Value(signingAlgKey{}).(string)
	return alg
}

// verificationKeySet is the oidc.KeySet zitadel's verifiers (id_token_hint,
// JWT access tokens at userinfo, introspection and revocation) check
// signatures with. Unlike zitadel's OpenIDKeySet it sees the token's kid,
// so an unknown kid (a key another replica just activated) makes the key
// manager re-read the store once, rate-limited; and a revoked key is in no
// set, so tokens it signed are refused at once.
type verificationKeySet struct {
	keys  *keys.Manager
	hints bool // id_token_hints: removed (never revoked) keys still count
}

func (s verificationKeySet) VerifySignature(ctx context.Context, jws *jose.JSONWebSignature) ([]byte, error) {
	if !s.acceptsType(jwsType(jws)) {
		return nil, fmt.Errorf("invalid token type %q", jwsType(jws))
	}
	kid, alg := oidc.GetKeyIDAndAlg(jws)
	key, err := oidc.FindMatchingKey(kid, oidc.KeyUseSignature, alg, s.keys.VerificationKeys(ctx, kid, s.hints)...)
	if err != nil {
		return nil, fmt.Errorf("invalid signature: %w", err)
	}
	return jws.Verify(&key)
}

// acceptsType keeps one kind of JWT from passing for another (RFC 8725
// §3.11): a hint must be an ID token; an access token an at+jwt, or an
// untyped "JWT" minted before gongpai issued RFC 9068 tokens (until those
// expire). A logout token is neither.
func (s verificationKeySet) acceptsType(typ string) bool {
	switch strings.TrimPrefix(strings.ToLower(typ), "application/") {
	case "", "jwt":
		return true
	case typAccessToken:
		return !s.hints
	}
	return false
}
