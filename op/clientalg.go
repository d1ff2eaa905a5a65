package op

import (
	"fmt"
	"slices"

	"github.com/gongpai/gongpai/keys"
)

// CheckIDTokenAlg refuses an id_token_signed_response_alg the deployment
// does not keep keys for (configured is keys.algorithms; empty means the
// default, RS256). Without this check such a client would silently get
// tokens signed with the default algorithm, which a relying party that
// pinned its algorithm then rejects. "" (the default) is always fine. The
// error is a *FieldError for id_token_signed_response_alg (E-201).
func CheckIDTokenAlg(alg string, configured []string) error {
	if alg == "" {
		return nil
	}
	if len(configured) == 0 {
		configured = []string{keys.RS256}
	}
	if !slices.Contains(configured, alg) {
		return &FieldError{"id_token_signed_response_alg", fmt.Sprintf(
			"no %s keys are kept (keys.algorithms is %v): add %s to keys.algorithms first, or register the client without it",
			alg, configured, alg)}
	}
	return nil
}
