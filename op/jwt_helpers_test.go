package op_test

import (
	"encoding/json"
	"testing"

	jose "github.com/go-jose/go-jose/v4"
)

// verifiedJWT is a JWS checked against the published JWKS.
type verifiedJWT struct {
	Alg, Kid, Typ string
	Claims        map[string]any
}

// verifyJWT verifies raw's signature against the JWKS at /keys, as a
// relying party or resource server would, and returns its header and
// claims.
func (e *env) verifyJWT(raw string) verifiedJWT {
	e.t.Helper()
	return verifyAgainstJWKS(e.t, e.jwks(), raw)
}

func (e *env) jwks() jose.JSONWebKeySet {
	e.t.Helper()
	resp := e.get("/keys", nil)
	var set jose.JSONWebKeySet
	if err := json.NewDecoder(resp.Body).Decode(&set); err != nil {
		e.t.Fatalf("JWKS: %v", err)
	}
	return set
}

func verifyAgainstJWKS(t *testing.T, set jose.JSONWebKeySet, raw string) verifiedJWT {
	t.Helper()
	jws, err := jose.ParseSigned(raw, []jose.SignatureAlgorithm{jose.RS256, jose.ES256, jose.EdDSA})
	if err != nil {
		t.Fatalf("parse JWS: %v", err)
	}
	h := jws.Signatures[0].Protected
	keys := set.Key(h.KeyID)
	if len(keys) != 1 {
		t.Fatalf("kid %q: %d keys in the JWKS, want 1", h.KeyID, len(keys))
	}
	payload, err := jws.Verify(keys[0])
	if err != nil {
		t.Fatalf("signature does not verify against the JWKS: %v", err)
	}
	var claims map[string]any
	if err := json.Unmarshal(payload, &claims); err != nil {
		t.Fatalf("claims: %v", err)
	}
	typ, _ := h.ExtraHeaders[jose.HeaderType].(string)
	return verifiedJWT{Alg: h.Algorithm, Kid: h.KeyID, Typ: typ, Claims: claims}
}
