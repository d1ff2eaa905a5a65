package op

import (
	"crypto"
	"encoding/json"
	"fmt"

	jose "github.com/go-jose/go-jose/v4"
)

// Explicit JWT types (RFC 8725 §3.11). zitadel's signer hard-codes
// "JWT", which is what ID tokens keep; access and logout tokens are
// signed here so each kind carries its own type and a verifier of one
// kind cannot be handed another (RFC 9068 §2.1, Back-Channel Logout §4.1).
const (
	typAccessToken = "at+jwt"     // RFC 9068 §2.1
	typLogoutToken = "logout+jwt" // OIDC Back-Channel Logout 1.0 §2.4
)

// signJWT signs claims as a compact JWS with header kid, alg and typ.
// key is what keys.Manager.Signer returns: a type go-jose signs with.
func signJWT(kid, alg string, key crypto.Signer, typ string, claims any) (string, error) {
	if key == nil {
		return "", fmt.Errorf("op: no signing key")
	}
	signer, err := jose.NewSigner(jose.SigningKey{
		Algorithm: jose.SignatureAlgorithm(alg),
		Key:       jose.JSONWebKey{Key: key, KeyID: kid},
	}, (&jose.SignerOptions{}).WithType(jose.ContentType(typ)))
	if err != nil {
		return "", fmt.Errorf("op: signer: %w", err)
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		return "", fmt.Errorf("op: claims: %w", err)
	}
	jws, err := signer.Sign(payload)
	if err != nil {
		return "", fmt.Errorf("op: sign: %w", err)
	}
	return jws.CompactSerialize()
}

// jwsType is the typ header of a parsed JWS ("" when absent).
func jwsType(jws *jose.JSONWebSignature) string {
	if len(jws.Signatures) == 0 {
		return ""
	}
	typ, _ := jws.Signatures[0].Protected.ExtraHeaders[jose.HeaderType].(string)
	return typ
}
