package op_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/gongpai/gongpai/keys"
	"github.com/gongpai/gongpai/storage"
)

// Discovery lists every configured algorithm that has a key in the JWKS,
// default first, even while none of that algorithm's keys can sign (here:
// its key was retired by hand and the successor is not active yet).
func TestDiscoveryListsConfiguredAlgorithms(t *testing.T) {
	e := newEnvWith(t, envOptions{policy: &keys.Policy{Algorithms: []string{keys.ES256, keys.RS256}}})
	algs := func() []string {
		return strs(decode(t, e.get("/.well-known/openid-configuration", nil).Body)["id_token_signing_alg_values_supported"])
	}
	if got := algs(); !slices.Equal(got, []string{"ES256", "RS256"}) {
		t.Errorf("id_token_signing_alg_values_supported = %v, want [ES256 RS256] (configured order)", got)
	}

	ctx := context.Background()
	rows, err := e.store.ListSigningKeys(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range rows {
		if k.Algorithm == keys.RS256 && k.State == storage.KeyActive {
			k.State, k.RetiresAt = storage.KeyRetired, time.Now().UTC()
			if err := e.store.UpdateSigningKey(ctx, &k); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := e.keys.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	if signing := e.keys.Algorithms(); !slices.Equal(signing, []string{"ES256"}) {
		t.Fatalf("signing algorithms after the retirement: %v, want [ES256]", signing)
	}
	if got := algs(); !slices.Equal(got, []string{"ES256", "RS256"}) {
		t.Errorf("id_token_signing_alg_values_supported with RS256 published but not signing = %v, want [ES256 RS256]", got)
	}
}
