package op

import (
	"context"
	"crypto"

	jose "github.com/go-jose/go-jose/v4"
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
// keys.Manager.Load.
func (p *Provider) SigningKey(ctx context.Context) (zop.SigningKey, error) {
	kid, alg, key := p.keys.Active()
	if key == nil {
		return nil, p.serverErr(ctx, "signing key", keys.ErrNoSigningKey)
	}
	return signingKey{kid: kid, alg: alg, key: key}, nil
}

// SignatureAlgorithms implements op.Storage (discovery).
func (p *Provider) SignatureAlgorithms(context.Context) ([]jose.SignatureAlgorithm, error) {
	algs := p.keys.Algorithms()
	out := make([]jose.SignatureAlgorithm, len(algs))
	for i, a := range algs {
		out[i] = jose.SignatureAlgorithm(a)
	}
	return out, nil
}

// KeySet implements op.Storage: what zitadel verifies id_token_hints and
// JWT access tokens against, the same set /keys publishes.
func (p *Provider) KeySet(context.Context) ([]zop.Key, error) {
	pub := p.keys.Published()
	out := make([]zop.Key, len(pub))
	for i, k := range pub {
		out[i] = publicKey{k}
	}
	return out, nil
}
